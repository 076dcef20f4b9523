#pragma once
// TokenCleaner<Device, Scorer, Threshold, Reference>: the token-cleaning method (README, "The method") as composable
// compile-time policies. The Scorer turns per-token losses into scores, the Threshold turns
// scores into a keep mask, and the Reference strategy decides which model is the reference
// for which part of the pool (and evolves it, for SelfEvolving).
//
// Contract of a Reference strategy R (see clean/reference.hpp):
//   using device_type = D;                        // the device its models live on
//   static constexpr bool provides_reference;     // scores get TokenStats::ref_loss
//   auto run(const TokenCleaner<...>& cleaner, CausalLm<D>& base, std::span<const Example> pool,
//            const ChunkSink& sink);              // calls cleaner.clean_set per chunk
#include <algorithm>
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

namespace detail {
// One requirement of each policy family at a time, so that a policy that misses one gets a
// message naming it (a failed concept only says "constraints not satisfied").
template <class S>
concept scorer_has_flags = requires {
    { S::needs_reference } -> std::convertible_to<bool>;
    { S::needs_entropy } -> std::convertible_to<bool>;
};
template <class S>
concept scorer_scores = requires(S& s, const TokenStats& t, std::span<float> out) { s.score(t, out); };
template <class S>
concept scorer_scores_const = requires(const S& s, const TokenStats& t, std::span<float> out) { s.score(t, out); };
template <class T>
concept threshold_selects = requires(T& t, const TokenScores& s, std::span<std::uint8_t> mask) { t.select(s, mask); };
template <class T>
concept threshold_selects_const =
    requires(const T& t, const TokenScores& s, std::span<std::uint8_t> mask) { t.select(s, mask); };
}  // namespace detail

template <Device D, class S, class T, class R>
class TokenCleaner {
    static_assert(detail::scorer_has_flags<S>,
                  "TokenCleaner: the Scorer (2nd parameter) needs `static constexpr bool needs_reference` and "
                  "`static constexpr bool needs_entropy` (which statistics it reads)");
    static_assert(detail::scorer_scores<S>,
                  "TokenCleaner: the Scorer (2nd parameter) needs a member "
                  "`void score(const TokenStats& t, std::span<float> out) const`");
    static_assert(!detail::scorer_scores<S> || detail::scorer_scores_const<S>,
                  "TokenCleaner: the Scorer's score() must be const: "
                  "`void score(const TokenStats& t, std::span<float> out) const`");
    static_assert(Scorer<S>, "TokenCleaner: the 2nd parameter must be a Scorer (clean/scorer.hpp)");
    static_assert(detail::threshold_selects<T>,
                  "TokenCleaner: the Threshold (3rd parameter) needs a member "
                  "`void select(const TokenScores& s, std::span<std::uint8_t> mask) const`");
    static_assert(!detail::threshold_selects<T> || detail::threshold_selects_const<T>,
                  "TokenCleaner: the Threshold's select() must be const (a policy is called as const): "
                  "`void select(const TokenScores& s, std::span<std::uint8_t> mask) const`");
    static_assert(Threshold<T>, "TokenCleaner: the 3rd parameter must be a Threshold (clean/threshold.hpp): select() "
                                "must return void");
    static_assert(std::same_as<typename R::device_type, D>,
                  "TokenCleaner: the Reference strategy's models live on another device than the "
                  "cleaner's Device parameter");
    static_assert(ReferenceStrategy<R, D>,
                  "TokenCleaner: the 4th parameter must be a Reference strategy (NoReference<D>, "
                  "FixedReference<D>, SelfEvolving<D>, or a struct with device_type, "
                  "provides_reference and run())");
    static_assert(!S::needs_reference || R::provides_reference,
                  "TokenCleaner: this Scorer compares two models (it reads ref_loss) but the "
                  "Reference strategy provides no reference model: use FixedReference or "
                  "SelfEvolving, or a single-model Scorer (BaseLoss, BaseEntropy)");
    static_assert(S::needs_reference || !R::provides_reference,
                  "TokenCleaner: the Reference strategy provides a reference model that this "
                  "single-model Scorer would ignore: use NoReference<D>, or a Scorer that reads "
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

    // Called while a set is scored: (examples scored, examples in the set, tokens run through
    // the models so far). Scoring then goes in slices of whole batches (about 100 of them),
    // which gives the same scores as one pass: each batch holds the same examples.
    using ProgressHook = std::function<void(std::size_t done, std::size_t total, std::int64_t tokens)>;
    void set_progress(ProgressHook hook) { progress_ = std::move(hook); }

    // Scores `set` with (base, ref), selects within it, and relabels the dropped targets.
    CleanedSet clean_set(CausalLm<D>& base, CausalLm<D>* ref, std::span<const Example> set) const {
        StatsRequest req;
        req.reference = S::needs_reference;
        req.entropy = S::needs_entropy;
        req.batch_size = batch_size_;
        const TokenStats stats = progress_ ? collect_in_slices(base, ref, set, req) : collect_token_stats(base, ref, set, req);
        std::vector<float> scores(stats.num_tokens());      // (N)
        scorer_.score(stats, scores);
        std::vector<std::uint8_t> mask(stats.num_tokens());  // (N)
        threshold_.select(stats.view(scores), mask);
        return apply_keep_mask(set, stats, scores, mask);
    }

    // Cleans the whole pool as the Reference strategy organises it, passing each cleaned chunk
    // to `sink` in pool order (one chunk for a fixed reference). Returns what the strategy
    // returns: nothing for NoReference and FixedReference, the final model's parameters
    // θ_{T+1} for SelfEvolving.
    auto run(CausalLm<D>& base, std::span<const Example> pool, const ChunkSink& sink) {
        return reference_.run(*this, base, pool, sink);
    }

    // The same, the chunks joined into one CleanedSet in pool order (for any strategy; a
    // self-evolving run's final parameters are dropped: use run() to keep them).
    CleanedSet clean(CausalLm<D>& base, std::span<const Example> pool) {
        CleanedSet all;
        run(base, pool, [&](std::size_t, const CleanedSet& c) { append(all, c); });
        return all;
    }

private:
    TokenStats collect_in_slices(CausalLm<D>& base, CausalLm<D>* ref, std::span<const Example> set, const StatsRequest& req) const {
        if (req.batch_size <= 0) fail("batch_size: expected a positive integer, got ", req.batch_size);
        const auto bs = static_cast<std::size_t>(req.batch_size);
        const std::size_t batches = (set.size() + bs - 1) / bs;
        const std::size_t per = bs * std::max<std::size_t>(1, (batches + 99) / 100);  // whole batches
        const std::int64_t passes = req.reference ? 2 : 1;
        TokenStats all;
        all.offsets.push_back(0);
        std::int64_t tokens = 0;
        progress_(0, set.size(), 0);
        for (std::size_t first = 0; first < set.size(); first += per) {
            const auto part = set.subspan(first, std::min(per, set.size() - first));
            TokenStats s = collect_token_stats(base, ref, part, req);
            const std::int64_t shift = all.offsets.back();
            for (std::size_t e = 1; e < s.offsets.size(); ++e) all.offsets.push_back(shift + s.offsets[e]);
            const auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
            append(all.positions, s.positions);
            append(all.turns, s.turns);
            append(all.is_eos, s.is_eos);
            append(all.base_loss, s.base_loss);
            append(all.ref_loss, s.ref_loss);
            append(all.base_entropy, s.base_entropy);
            for (const auto& ex : part) tokens += passes * static_cast<std::int64_t>(ex.size());
            progress_(first + part.size(), set.size(), tokens);
        }
        return all;
    }

    S scorer_;
    T threshold_;
    R reference_;
    std::int64_t batch_size_;
    ProgressHook progress_;
};

}  // namespace tokclean
