#pragma once
// The Scorer policy family: turns per-token statistics into one score per target token.
// Higher scores are more informative; the Threshold policies keep the highest.
//
// Contract of a Scorer S:
//   static constexpr bool needs_reference;  // reads TokenStats::ref_loss
//   static constexpr bool needs_entropy;    // reads TokenStats::base_entropy
//   void S::score(const TokenStats& t, std::span<float> out) const;  // out: (N), O(N)
#include <concepts>
#include <span>

#include "tokclean/clean/token_stats.hpp"

namespace tokclean {

template <class S>
concept Scorer = requires(const S& s, const TokenStats& t, std::span<float> out) {
    { S::needs_reference } -> std::convertible_to<bool>;
    { S::needs_entropy } -> std::convertible_to<bool>;
    { s.score(t, out) } -> std::same_as<void>;
};

// The paper's influence score: L_base − L_ref. High = the update base → ref helped this
// token a lot = informative.
struct LossDelta {
    static constexpr bool needs_reference = true;
    static constexpr bool needs_entropy = false;
    void score(const TokenStats& t, std::span<float> out) const {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.base_loss[i] - t.ref_loss[i];
    }
};

// L_ref − L_base: keeps the tokens the reference learned least (an ablation).
struct ReverseLossDelta {
    static constexpr bool needs_reference = true;
    static constexpr bool needs_entropy = false;
    void score(const TokenStats& t, std::span<float> out) const {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.ref_loss[i] - t.base_loss[i];
    }
};

// Single-model baseline: the base model's loss (keeps the tokens it finds hardest).
struct BaseLoss {
    static constexpr bool needs_reference = false;
    static constexpr bool needs_entropy = false;
    void score(const TokenStats& t, std::span<float> out) const {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.base_loss[i];
    }
};

// Single-model baseline: the base model's predictive entropy (keeps the least certain).
struct BaseEntropy {
    static constexpr bool needs_reference = false;
    static constexpr bool needs_entropy = true;
    void score(const TokenStats& t, std::span<float> out) const {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.base_entropy[i];
    }
};

}  // namespace tokclean
