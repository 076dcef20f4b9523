#pragma once
// The scored target tokens of a set of examples (the whole pool, or one chunk of it), laid
// out flat for the threshold policies: token i of the flat order is the i-th target of the
// set in (example, position) order, which is also the tie-break order of every policy.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tokclean/core/error.hpp"

namespace tokclean {

// A read-only view; the owner keeps the memory.
//
// positions and turns say where each target sits in its example. A turn is a maximal run of
// consecutive target positions of the example's original labels (the targets: labels[j] !=
// -100, j >= 1), numbered 0, 1, ... within each example: target i starts a new turn exactly
// when it is not its example's first target and positions[i] != positions[i-1] + 1. So a
// {"prompt", "completion"} or {"text"} example is one turn, and in a {"messages"} example
// every assistant turn (content + EOS) is one, since the non-target end_of_turn and header
// lie between two of them (a ChatTemplate with both empty would join them into one run).
// Like is_eos, both may be empty (a view built by hand, e.g. RHO-1's batch ranking): a policy
// that reads them checks their size first. TokenStats::view fills all three; every member
// defaults to empty, so a view names only what it has: TokenScores{.scores = s, .offsets = o}.
struct TokenScores {
    std::span<const float> scores{};            // (N) one score per target token
    std::span<const std::int64_t> offsets{};    // (E + 1) example e owns [offsets[e], offsets[e+1])
    std::span<const std::int32_t> positions{};  // (N) position j of each target in its example; may be empty
    std::span<const std::int32_t> turns{};      // (N) 0-based turn of each target in its example; may be empty
    std::span<const std::uint8_t> is_eos{};     // (N) 1 where the target token is EOS; may be empty

    std::size_t num_tokens() const { return scores.size(); }
    std::size_t num_examples() const { return offsets.empty() ? 0 : offsets.size() - 1; }
    std::int64_t begin(std::size_t e) const { return offsets[e]; }
    std::int64_t end(std::size_t e) const { return offsets[e + 1]; }
};

// ⌊n · keep⌋ as the method defines it (README, "The method"), exact for keep given in decimal (0.6 · 5 = 3, not 2).
inline std::int64_t keep_count(std::int64_t n, double keep) {
    if (!(keep >= 0.0 && keep <= 1.0)) fail("keep: expected a fraction in [0, 1], got ", keep);
    const long double exact = static_cast<long double>(n) * static_cast<long double>(keep);
    // keep = 0.6 is stored as 0.59999999999999997780: nudge by a relative 1e-12 before flooring.
    return static_cast<std::int64_t>(std::floor(exact + exact * 1e-12L));
}

// Error on the first non-finite score, naming the example and the token's rank inside it.
inline void require_finite_scores(const TokenScores& s) {
    for (std::size_t e = 0; e < s.num_examples(); ++e)
        for (std::int64_t i = s.begin(e); i < s.end(e); ++i)
            if (!std::isfinite(s.scores[static_cast<std::size_t>(i)]))
                fail("example ", e, ", target token ", i - s.begin(e), ": score is ",
                     s.scores[static_cast<std::size_t>(i)], " (non-finite scores are never ranked)");
}

}  // namespace tokclean
