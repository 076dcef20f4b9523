#pragma once
// TokenCleaner<Device, Scorer, Threshold, Reference>: the method of METHOD.md as composable
// compile-time policies. The Scorer turns per-token losses into scores, the Threshold turns
// scores into a keep mask, and the Reference strategy decides which model is the reference
// for which part of the pool (and evolves it, for SelfEvolving).
//
// Contract of a Reference strategy R (see clean/reference.hpp):
//   using device_type = D;                        // the device its models live on
//   static constexpr bool provides_reference;     // scores get TokenStats::ref_loss
//   auto run(const TokenCleaner<...>& cleaner, Gpt<D>& base, std::span<const Example> pool,
//            const ChunkSink& sink);              // calls cleaner.clean_set per chunk
#include <concepts>
#include <cstdint>
#include <functional>
#include <span>
#include <type_traits>
#include <vector>

#include "tokclean/clean/cleaned_set.hpp"
#include "tokclean/clean/scorer.hpp"
#include "tokclean/clean/threshold.hpp"
#include "tokclean/clean/token_stats.hpp"

namespace tokclean {

// Receives each cleaned chunk in pool order: (chunk index, its examples cleaned).
using ChunkSink = std::function<void(std::size_t, const CleanedSet&)>;

template <class R, class D>
concept ReferenceStrategy = requires {
    typename R::device_type;
    { R::provides_reference } -> std::convertible_to<bool>;
} && std::same_as<typename R::device_type, D>;

template <Device D, Scorer S, Threshold T, class R>
class TokenCleaner {
    static_assert(std::same_as<typename R::device_type, D>,
                  "TokenCleaner: the Reference strategy's models live on another device than the "
                  "cleaner's Device parameter");
    static_assert(ReferenceStrategy<R, D>,
                  "TokenCleaner: the 4th parameter must be a Reference strategy (NoReference, "
                  "FixedReference<D>, SelfEvolving<D>, or a struct with device_type, "
                  "provides_reference and run())");
    static_assert(!S::needs_reference || R::provides_reference,
                  "TokenCleaner: this Scorer compares two models (it reads ref_loss) but the "
                  "Reference strategy provides no reference model: use FixedReference or "
                  "SelfEvolving, or a single-model Scorer (BaseLoss, BaseEntropy)");
    static_assert(S::needs_reference || !R::provides_reference,
                  "TokenCleaner: the Reference strategy provides a reference model that this "
                  "single-model Scorer would ignore: use NoReference, or a Scorer that reads "
                  "ref_loss (LossDelta)");

public:
    using device_type = D;

    TokenCleaner(S scorer, T threshold, R reference, std::int64_t batch_size = 8)
        : scorer_(std::move(scorer)), threshold_(std::move(threshold)),
          reference_(std::move(reference)), batch_size_(batch_size) {}

    const S& scorer() const { return scorer_; }
    const T& threshold() const { return threshold_; }
    R& reference() { return reference_; }
    std::int64_t batch_size() const { return batch_size_; }

    // Scores `set` with (base, ref), selects within it, and relabels the dropped targets.
    CleanedSet clean_set(Gpt<D>& base, Gpt<D>* ref, std::span<const Example> set) const {
        StatsRequest req;
        req.reference = S::needs_reference;
        req.entropy = S::needs_entropy;
        req.batch_size = batch_size_;
        const TokenStats stats = collect_token_stats(base, ref, set, req);
        std::vector<float> scores(stats.num_tokens());      // (N)
        scorer_.score(stats, scores);
        std::vector<std::uint8_t> keep(stats.num_tokens());  // (N)
        threshold_.select(stats.view(scores), keep);
        return apply_keep_mask(set, stats, scores, keep);
    }

    // Cleans the whole pool as the Reference strategy organises it.
    auto run(Gpt<D>& base, std::span<const Example> pool, const ChunkSink& sink) {
        return reference_.run(*this, base, pool, sink);
    }

private:
    S scorer_;
    T threshold_;
    R reference_;
    std::int64_t batch_size_;
};

}  // namespace tokclean
