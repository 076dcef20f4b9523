#pragma once
// Top-k inside each of many groups of consecutive tokens (examples for SampleTopK, batches of
// examples for BatchTopK): keep the first keep_count(n_g, keep) of each group's stable
// descending sort. Small groups run one per thread; a large group runs alone with the
// threaded radix path. Each group's result depends only on its own scores, so the schedule
// never changes the mask.
#include <atomic>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "tokclean/clean/detail/omp.hpp"
#include "tokclean/clean/detail/top_k_select.hpp"
#include "tokclean/clean/token_scores.hpp"

namespace tokclean::detail {

// bounds(g) -> std::pair<int64, int64>: group g owns flat tokens [first, second).
// Returns false if some score is not finite (the mask is then partly written).
template <class Bounds>
[[nodiscard]] bool top_k_per_group(std::span<const float> scores, std::int64_t groups, Bounds&& bounds,
                                   double keep, std::span<std::uint8_t> mask) {
    std::atomic<bool> finite{true};
    const auto run = [&](std::int64_t b, std::int64_t e, std::vector<std::uint64_t>& scratch) {
        const auto first = static_cast<std::size_t>(b), count = static_cast<std::size_t>(e - b);
        if (!top_k_mask(scores.subspan(first, count), keep_count(e - b, keep), mask.subspan(first, count), scratch))
            finite.store(false, std::memory_order_relaxed);
    };
    for_each_group<std::vector<std::uint64_t>>(groups, static_cast<std::int64_t>(scores.size()),
                   [&](std::int64_t g, std::vector<std::uint64_t>& scratch) {
                       const auto [b, e] = bounds(g);
                       if (e - b < radix_min_tokens) run(b, e, scratch);
                   });
    std::vector<std::uint64_t> unused;  // the radix path needs no scratch
    for (std::int64_t g = 0; g < groups; ++g) {
        const auto [b, e] = bounds(g);
        if (e - b >= radix_min_tokens) run(b, e, unused);
    }
    return finite.load();
}

}  // namespace tokclean::detail
