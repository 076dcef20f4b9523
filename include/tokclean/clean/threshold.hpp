#pragma once
// The Threshold policy family: turns scores into a keep mask.
//
// Contract of a Threshold T:
//   void T::select(const TokenScores& s, std::span<std::uint8_t> mask) const;
//   - mask has s.num_tokens() entries; select writes every one of them (1 = keep, 0 = drop);
//   - ties between equal scores keep the earlier token of the flat (example, position) order,
//     so every ranking policy equals a stable descending sort;
//   - a non-finite score is an Error (require_finite_scores), never ranked;
//   - linear time in N and no memory beyond O(N) bytes for ranking policies.
// Besides the scores and the examples' offsets, a policy may read where each target sits:
// s.positions[i] (its position j in the example), s.turns[i] (the 0-based response turn of
// the example it belongs to: a maximal run of consecutive targets, token_scores.hpp) and
// s.is_eos[i]. TokenCleaner and reselect fill all three; a view built by hand may leave any
// of them empty, so a policy that needs one checks `size() == s.num_tokens()` (an Error
// otherwise) or falls back. examples/turn_policy.cpp writes a per-turn rule with them.
// Policies are small structs that carry their settings (keep fraction, τ, seed, ...).
#include <concepts>
#include <cstdint>
#include <span>

#include "tokclean/clean/token_scores.hpp"

namespace tokclean {

template <class T>
concept Threshold = requires(const T& t, const TokenScores& s, std::span<std::uint8_t> mask) {
    { t.select(s, mask) } -> std::same_as<void>;
};

}  // namespace tokclean
