#pragma once
// The checks of a threshold policy's input: the TokenScores view is consistent with the keep
// mask (a caller's bug otherwise), and every score is finite (bad input: an Error that names
// the example and token, from require_finite_scores).
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tokclean/clean/detail/omp.hpp"
#include "tokclean/clean/token_scores.hpp"
#include "tokclean/core/error.hpp"

namespace tokclean::detail {

// offsets must tile [0, N) in order, so that every score belongs to exactly one example (the
// finiteness report and the per-example policies walk the offsets, never the raw span).
inline void check_layout(const TokenScores& s, std::span<const std::uint8_t> mask) {
    const auto n = static_cast<std::int64_t>(s.num_tokens());
    TOKCLEAN_CHECK(mask.size() == s.num_tokens(), "the mask has ", mask.size(), " entries for ", n, " scores");
    TOKCLEAN_CHECK(s.is_eos.empty() || s.is_eos.size() == s.num_tokens(), "is_eos has ", s.is_eos.size(),
                   " entries for ", n, " scores");
    if (s.offsets.empty()) {
        TOKCLEAN_CHECK(n == 0, "no offsets for ", n, " scores");
        return;
    }
    TOKCLEAN_CHECK(s.offsets.front() == 0 && s.offsets.back() == n, "offsets span [", s.offsets.front(), ", ",
                   s.offsets.back(), ") for ", n, " scores");
    for (std::size_t e = 0; e < s.num_examples(); ++e)
        TOKCLEAN_CHECK(s.begin(e) <= s.end(e), "offsets decrease at example ", e);
}

// True when no score is ±inf or NaN: a branch-free, vectorised test of the exponent bits,
// threaded for large spans. (require_finite_scores' per-token loop with an early exit costs
// as much as a whole top-k of 10^8 scores, so it runs only to name the culprit.) Small spans
// skip OpenMP altogether: they are checked one per example, often inside a parallel region.
inline bool all_finite(std::span<const float> x) {
    const auto n = static_cast<std::int64_t>(x.size());
    const float* xs = x.data();
    std::int64_t bad = 0;
    if (n < parallel_min_tokens) {
#pragma omp simd reduction(+ : bad)
        for (std::int64_t i = 0; i < n; ++i) bad += (std::bit_cast<std::uint32_t>(xs[i]) & 0x7F800000u) == 0x7F800000u;
    } else {
#pragma omp parallel for simd schedule(static) reduction(+ : bad)
        for (std::int64_t i = 0; i < n; ++i) bad += (std::bit_cast<std::uint32_t>(xs[i]) & 0x7F800000u) == 0x7F800000u;
    }
    return bad == 0;
}

// Throws the Error of require_finite_scores for a view found to hold a non-finite score.
[[noreturn]] inline void report_non_finite(const TokenScores& s) {
    require_finite_scores(s);
    fail("a non-finite score lies outside every example");  // check_layout rules this out
}

// The common prologue of the policies that do not rank: layout, then finiteness.
inline void check_scores(const TokenScores& s, std::span<const std::uint8_t> mask) {
    check_layout(s, mask);
    if (!all_finite(s.scores)) report_non_finite(s);
}

}  // namespace tokclean::detail
