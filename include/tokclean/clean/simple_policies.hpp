#pragma once
// The threshold policies that do not rank: AbsoluteThreshold (score > tau) and RandomSelect
// (the paper's random baseline: a uniformly chosen subset of fixed size).
#include <cmath>
#include <cstdint>
#include <span>

#include "tokclean/clean/detail/check_scores.hpp"
#include "tokclean/clean/detail/omp.hpp"
#include "tokclean/clean/threshold.hpp"
#include "tokclean/clean/token_scores.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/rng.hpp"

namespace tokclean {

// Keeps every token whose score is > tau (e.g. tau = 0: the update helped the token at all).
// The number kept is whatever the data gives; tau may be ±inf, not NaN.
struct AbsoluteThreshold {
    double tau = 0.0;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        if (std::isnan(tau)) fail("threshold: expected a number, got NaN");
        detail::check_scores(s, mask);
        const auto n = static_cast<std::int64_t>(s.num_tokens());
        const float* x = s.scores.data();
        std::uint8_t* out = mask.data();
        const double t = tau;  // compared in double: a float tau would round 0.1 etc.
#pragma omp parallel for simd schedule(static) if (n >= detail::parallel_min_tokens)
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(x[i]) > t;
    }
};

// Keeps exactly keep_count(N, keep) tokens chosen uniformly without replacement, the same
// ones for the same seed (and N) on every platform. Scores are ignored, but must be finite
// like every policy's, so a broken scoring run fails here too.
// Knuth's Algorithm S (selection sampling): token i is kept with probability
// (still needed) / (still left); one pass, O(1) memory, exactly k kept. Sequential by nature.
struct RandomSelect {
    double keep = 0.6;
    std::uint64_t seed = 0;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        const auto n = static_cast<std::int64_t>(s.num_tokens());
        std::int64_t needed = keep_count(n, keep);
        detail::check_scores(s, mask);
        Rng rng(seed);
        for (std::int64_t i = 0; i < n; ++i) {
            // uniform() < 1, so when needed == left the token is always taken, and never
            // when needed == 0: exactly k in all.
            const bool take = rng.uniform() * static_cast<double>(n - i) < static_cast<double>(needed);
            mask[static_cast<std::size_t>(i)] = take;
            needed -= take;
        }
    }
};

static_assert(Threshold<AbsoluteThreshold> && Threshold<RandomSelect>);

}  // namespace tokclean
