#pragma once
// Per-target-token statistics of a set of examples under the base (and reference) model,
// flat in (example, position) order: the input of a Scorer and the layout of TokenScores.
#include <cstdint>
#include <span>
#include <vector>

#include "tokclean/clean/token_scores.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/token_losses.hpp"

namespace tokclean {

struct TokenStats {
    std::vector<std::int64_t> offsets;    // (E + 1) example e owns [offsets[e], offsets[e+1])
    std::vector<std::int32_t> positions;  // (N) position j of each target in its example
    std::vector<std::int32_t> turns;      // (N) its turn in the example (TokenScores says what a turn is)
    std::vector<std::uint8_t> is_eos;     // (N) 1 where the target token is EOS
    std::vector<float> base_loss;         // (N) loss under the base model
    std::vector<float> ref_loss;          // (N) under the reference; empty without one
    std::vector<float> base_entropy;      // (N) predictive entropy of the base; empty unless asked

    std::size_t num_tokens() const { return positions.size(); }
    TokenScores view(std::span<const float> scores) const {
        return {.scores = scores, .offsets = offsets, .positions = positions, .turns = turns, .is_eos = is_eos};
    }

    // Lays out the next target, at position j of the example being filled (the one after
    // offsets.back(); offsets starts as {0}). Targets come in increasing j. The one place
    // turns are computed: a target continues its example's current turn when it directly
    // follows the previous target, and starts the next one otherwise.
    void add_target(std::int32_t j, bool eos) {
        std::int32_t turn = 0;
        if (positions.size() > static_cast<std::size_t>(offsets.back()))  // not the example's first target
            turn = turns.back() + (positions.back() + 1 == j ? 0 : 1);
        positions.push_back(j);
        turns.push_back(turn);
        is_eos.push_back(eos ? 1 : 0);
    }
    // Closes the example being filled.
    void end_example() { offsets.push_back(static_cast<std::int64_t>(positions.size())); }
    // Lays out the targets of `ex`: positions j >= 1 with a label (position 0 is never a target).
    void add_example(const Example& ex, std::int32_t eos_id) {
        for (std::size_t j = 1; j < ex.labels.size(); ++j)
            if (ex.labels[j] != ignore_label) add_target(static_cast<std::int32_t>(j), ex.labels[j] == eos_id);
        end_example();
    }
};

// The layout of the targets of `data` (offsets, positions, turns, is_eos) without a model:
// what collect_token_stats lays out, with no losses.
inline TokenStats target_layout(std::span<const Example> data, std::int32_t eos_id) {
    TokenStats s;
    s.offsets.push_back(0);
    for (const Example& ex : data) s.add_example(ex, eos_id);
    return s;
}

struct StatsRequest {
    bool reference = false;  // fill ref_loss (needs a reference model)
    bool entropy = false;    // fill base_entropy
    std::int64_t batch_size = 8;
};

namespace detail {
// Appends the targets' per-example losses of one model, in the order of target_layout.
template <class D>
void append_losses(CausalLm<D>& model, std::span<const Example> data, std::int64_t batch_size,
                   std::vector<float>& losses, std::vector<float>* entropy) {
    for_each_batch(data, batch_size, [&](std::size_t first, const Batch& batch) {
        const std::int64_t B = batch.batch_size(), T = batch.seq_len();
        model.forward(batch.input_ids.data(), batch.labels.data(), B, T, ForwardFor::scoring);
        const auto l = model.token_losses();  // (B, T)
        std::vector<float> ent;
        if (entropy) ent = model.target_entropy();
        for (std::int64_t b = 0; b < B; ++b) {
            const Example& ex = data[first + static_cast<std::size_t>(b)];
            for (std::size_t j = 1; j < ex.labels.size(); ++j) {
                if (ex.labels[j] == ignore_label) continue;
                const auto slot = static_cast<std::size_t>(b * T) + j;
                losses.push_back(l[slot]);
                if (entropy) entropy->push_back(ent[slot]);
            }
        }
    });
}
}  // namespace detail

// Scores every target of `data` with base (and ref when asked). Position 0 is never a target.
template <class D>
TokenStats collect_token_stats(CausalLm<D>& base, CausalLm<D>* ref, std::span<const Example> data,
                               const StatsRequest& req) {
    TokenStats s = target_layout(data, base.info().eos_token_id);
    detail::append_losses(base, data, req.batch_size, s.base_loss, req.entropy ? &s.base_entropy : nullptr);
    if (req.reference) {
        TOKCLEAN_CHECK(ref != nullptr, "reference losses asked without a reference model");
        detail::append_losses(*ref, data, req.batch_size, s.ref_loss, nullptr);
    }
    return s;
}

}  // namespace tokclean
