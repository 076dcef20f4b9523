#pragma once
// Guards: wrappers that run any Threshold policy and then add tokens back to its mask.
// They are Threshold policies themselves, so they nest: KeepEos<MinPerExample<GlobalTopK>>.
// A guard only ever adds tokens; the inner policy checks the scores.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tokclean/clean/detail/omp.hpp"
#include "tokclean/clean/detail/top_k_select.hpp"
#include "tokclean/clean/threshold.hpp"
#include "tokclean/clean/token_scores.hpp"
#include "tokclean/core/error.hpp"

namespace tokclean {

// After the inner policy, keeps every token whose is_eos is non-zero (the token that ends a
// response carries "stop here", which no score should drop). Empty is_eos: nothing to add.
template <class P>
    requires Threshold<P>
struct KeepEos {
    P inner;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        inner.select(s, mask);
        if (s.is_eos.empty()) return;
        TOKCLEAN_CHECK(s.is_eos.size() == mask.size(), "is_eos has ", s.is_eos.size(),
                       " entries for ", mask.size(), " scores");
        const auto n = static_cast<std::int64_t>(mask.size());
        const std::uint8_t* eos = s.is_eos.data();
        std::uint8_t* out = mask.data();
#pragma omp parallel for simd schedule(static) if (n >= detail::parallel_min_tokens)
        for (std::int64_t i = 0; i < n; ++i) out[i] = out[i] | (eos[i] != 0);
    }
};
template <class P>
KeepEos(P) -> KeepEos<P>;

// After the inner policy, every example e keeps at least min(min_kept, n_e) tokens: one that
// kept fewer gets its highest-scored dropped tokens added (ties: earlier position first),
// just enough to reach that count. Examples that kept enough are left as they are.
template <class P>
    requires Threshold<P>
struct MinPerExample {
    P inner;
    std::int64_t min_kept = 1;

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        if (min_kept < 0) fail("MinPerExample: min_kept must be >= 0, got ", min_kept);
        inner.select(s, mask);
        if (min_kept == 0) return;
        detail::for_each_group<std::vector<std::int64_t>>(static_cast<std::int64_t>(s.num_examples()),
                               static_cast<std::int64_t>(s.num_tokens()), [&](std::int64_t e, std::vector<std::int64_t>& dropped) {
            const auto b = static_cast<std::size_t>(s.begin(static_cast<std::size_t>(e)));
            const auto n = static_cast<std::size_t>(s.end(static_cast<std::size_t>(e))) - b;
            const std::span<std::uint8_t> m = mask.subspan(b, n);
            const auto kept = static_cast<std::int64_t>(std::count_if(m.begin(), m.end(), [](std::uint8_t v) { return v != 0; }));
            const std::int64_t missing = std::min(min_kept, static_cast<std::int64_t>(n)) - kept;
            if (missing <= 0) return;
            dropped.clear();
            for (std::size_t j = 0; j < n; ++j)
                if (!m[j]) dropped.push_back(static_cast<std::int64_t>(j));
            detail::top_k_indices(s.scores.subspan(b, n), dropped, missing);
            for (std::int64_t j = 0; j < missing; ++j) m[static_cast<std::size_t>(dropped[static_cast<std::size_t>(j)])] = 1;
        });
    }
};
template <class P>
MinPerExample(P) -> MinPerExample<P>;
template <class P>
MinPerExample(P, std::int64_t) -> MinPerExample<P>;

}  // namespace tokclean
