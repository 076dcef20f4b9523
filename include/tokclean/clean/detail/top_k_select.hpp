#pragma once
// "Top k of a span with stable ties": the one selection routine behind GlobalTopK,
// SampleTopK, BatchTopK and PositiveTopK (top_k_indices also serves the MinPerExample guard).
//
// top_k_mask(x, k, mask) writes mask[i] = 1 for the first k tokens of a stable descending
// sort of x (ties: lower index first; -0.0 == +0.0) and 0 for the rest, in linear time:
//   - small spans: introselect (std::nth_element) of the spans' rank codes;
//   - large spans: the radix select of radix_top_k.hpp, threaded, no copy of the scores.
// It also checks that every score is finite, where the radix path gets that for free; on a
// non-finite score it returns false and leaves mask untouched, and the caller reports it
// (require_finite_scores names the example and token).
#include <algorithm>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "tokclean/clean/detail/check_scores.hpp"
#include "tokclean/clean/detail/radix_top_k.hpp"
#include "tokclean/clean/detail/rank_key.hpp"

namespace tokclean::detail {

// Below this many tokens the index select wins: the radix path touches 2 x 65536 bins per
// thread whatever n is.
inline constexpr std::int64_t radix_min_tokens = std::int64_t{1} << 15;

// Reorders idx (distinct indices into x) so that its first k entries are the top k under
// ranks_before; k >= idx.size() leaves idx as it is. Linear on average.
inline void top_k_indices(std::span<const float> x, std::span<std::int64_t> idx, std::int64_t k) {
    if (k <= 0 || k >= static_cast<std::int64_t>(idx.size())) return;
    std::nth_element(idx.begin(), idx.begin() + k, idx.end(), [x](std::int64_t a, std::int64_t b) {
        return ranks_before(rank_key(x[static_cast<std::size_t>(a)]), a,
                            rank_key(x[static_cast<std::size_t>(b)]), b);
    });
}

// The small-span path (x.size() < 2^32, 0 < k < x.size()): introselect on rank codes, which
// puts the order in one integer compare instead of an indirect two-key comparison.
inline void top_k_mask_small(std::span<const float> x, std::int64_t k, std::span<std::uint8_t> mask,
                             std::vector<std::uint64_t>& codes) {
    const std::size_t n = x.size();
    codes.resize(n);
    for (std::size_t i = 0; i < n; ++i) codes[i] = rank_code(rank_key(x[i]), static_cast<std::uint32_t>(i));
    const auto kth = codes.begin() + (k - 1);
    std::nth_element(codes.begin(), kth, codes.end(), std::greater<>());
    const std::uint64_t cut = *kth;
    for (std::size_t i = 0; i < n; ++i) mask[i] = rank_code(rank_key(x[i]), static_cast<std::uint32_t>(i)) >= cut;
}

// mask[i] = 1 for the first k tokens of a stable descending sort of x, 0 for the others
// (k is clamped to [0, x.size()]). Returns false, mask untouched, if a score is not finite.
// scratch is reused by callers that select many small spans.
[[nodiscard]] inline bool top_k_mask(std::span<const float> x, std::int64_t k, std::span<std::uint8_t> mask,
                                     std::vector<std::uint64_t>& scratch) {
    const auto n = static_cast<std::int64_t>(x.size());
    k = std::clamp<std::int64_t>(k, 0, n);
    if (n >= radix_min_tokens && k > 0 && k < n) {
        if (n <= std::numeric_limits<std::uint32_t>::max()) return top_k_mask_radix<std::uint32_t>(x, k, mask);
        return top_k_mask_radix<std::uint64_t>(x, k, mask);
    }
    if (!all_finite(x)) return false;
    if (k == 0 || k == n) std::fill(mask.begin(), mask.end(), static_cast<std::uint8_t>(k == n));
    else top_k_mask_small(x, k, mask, scratch);
    return true;
}

[[nodiscard]] inline bool top_k_mask(std::span<const float> x, std::int64_t k, std::span<std::uint8_t> mask) {
    std::vector<std::uint64_t> scratch;
    return top_k_mask(x, k, mask, scratch);
}

}  // namespace tokclean::detail
