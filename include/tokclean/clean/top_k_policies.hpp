#pragma once
// The ranking threshold policies: GlobalTopK (the paper's default), SampleTopK (the paper's
// "RHO" baseline), BatchTopK (RHO-1's online rule) and PositiveTopK. All of them keep the
// first tokens of a stable descending sort of the scores of some group (ties: the earlier
// flat (example, position) index first), through the one routine detail::top_k_mask.
// A non-finite score is an Error from require_finite_scores, raised before the mask is
// written; GlobalTopK and PositiveTopK find such scores in their first ranking pass instead
// of a separate scan of all N.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "tokclean/clean/detail/check_scores.hpp"
#include "tokclean/clean/detail/omp.hpp"
#include "tokclean/clean/detail/top_k_groups.hpp"
#include "tokclean/clean/detail/top_k_select.hpp"
#include "tokclean/clean/threshold.hpp"
#include "tokclean/clean/token_scores.hpp"
#include "tokclean/core/error.hpp"

namespace tokclean {

// Keeps the first keep_count(N, keep) tokens of all N, ranked together. Linear time (radix
// select), memory O(1) beyond the mask for large N (two 65536-bin histograms per thread).
struct GlobalTopK {
    double keep = 0.6;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        const std::int64_t k = keep_count(static_cast<std::int64_t>(s.num_tokens()), keep);
        detail::check_layout(s, mask);
        if (!detail::top_k_mask(s.scores, k, mask)) detail::report_non_finite(s);
    }
};

// Keeps the first keep_count(n_e, keep) tokens of each example e, ranked inside e (so an
// example with one token keeps none at keep < 1, and an empty example keeps nothing).
struct SampleTopK {
    double keep = 0.6;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        keep_count(0, keep);  // validates keep even when there is no example
        detail::check_scores(s, mask);  // up front: a per-group report could come half-way
        const bool finite = detail::top_k_per_group(s.scores, static_cast<std::int64_t>(s.num_examples()),
                                [&s](std::int64_t e) {
                                    const auto i = static_cast<std::size_t>(e);
                                    return std::pair{s.begin(i), s.end(i)};
                                },
                                keep, mask);
        if (!finite) detail::report_non_finite(s);
    }
};

// RHO-1's rule: examples form batches of batch_examples consecutive examples (the last one
// may be shorter); each batch keeps the first keep_count(n_batch, keep) of its own tokens.
struct BatchTopK {
    double keep = 0.6;
    std::size_t batch_examples = 8;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        keep_count(0, keep);
        if (batch_examples == 0) fail("BatchTopK: batch_examples must be at least 1");
        detail::check_scores(s, mask);
        const std::size_t examples = s.num_examples(), per = batch_examples;
        const auto batches = static_cast<std::int64_t>((examples + per - 1) / per);
        const bool finite = detail::top_k_per_group(s.scores, batches,
                                [&s, examples, per](std::int64_t b) {
                                    const auto first = static_cast<std::size_t>(b) * per;
                                    const std::size_t last = std::min(first + per, examples);
                                    return std::pair{s.offsets[first], s.offsets[last]};
                                },
                                keep, mask);
        if (!finite) detail::report_non_finite(s);
    }
};

// The global top keep_count(N, keep), restricted to tokens with score > 0: a token is kept
// when GlobalTopK{keep} keeps it and its score is positive. Since every positive score ranks
// before every other one, that is the global top min(k, #positive).
struct PositiveTopK {
    double keep = 0.6;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        const auto n = static_cast<std::int64_t>(s.num_tokens());
        const std::int64_t k = keep_count(n, keep);
        detail::check_layout(s, mask);
        const float* x = s.scores.data();
        std::int64_t positive = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : positive) if (n >= detail::parallel_min_tokens)
        for (std::int64_t i = 0; i < n; ++i) positive += x[i] > 0.0f;
        if (!detail::top_k_mask(s.scores, std::min(k, positive), mask)) detail::report_non_finite(s);
    }
};

static_assert(Threshold<GlobalTopK> && Threshold<SampleTopK> && Threshold<BatchTopK> &&
              Threshold<PositiveTopK>);

}  // namespace tokclean
