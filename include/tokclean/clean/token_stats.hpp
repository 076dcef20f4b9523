#pragma once
// Per-target-token statistics of a set of examples under the base (and reference) model,
// flat in (example, position) order: the input of a Scorer and the layout of TokenScores.
#include <cstdint>
#include <span>
#include <vector>

#include "tokclean/clean/token_scores.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/nn/token_losses.hpp"

namespace tokclean {

struct TokenStats {
    std::vector<std::int64_t> offsets;    // (E + 1) example e owns [offsets[e], offsets[e+1])
    std::vector<std::int32_t> positions;  // (N) position j of each target in its example
    std::vector<std::uint8_t> is_eos;     // (N) 1 where the target token is EOS
    std::vector<float> base_loss;         // (N) loss under the base model
    std::vector<float> ref_loss;          // (N) under the reference; empty without one
    std::vector<float> base_entropy;      // (N) predictive entropy of the base; empty unless asked

    std::size_t num_tokens() const { return positions.size(); }
    TokenScores view(std::span<const float> scores) const { return {scores, offsets, is_eos}; }
};

struct StatsRequest {
    bool reference = false;  // fill ref_loss (needs a reference model)
    bool entropy = false;    // fill base_entropy
    std::int64_t batch_size = 8;
};

namespace detail {
// Appends the targets of one model's per-example losses; `first` fills the layout too.
template <class D>
void append_losses(Gpt<D>& model, std::span<const Example> data, std::int64_t batch_size,
                   std::vector<float>& losses, std::vector<float>* entropy, TokenStats* layout,
                   std::int32_t eos_id) {
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
                if (layout) {
                    layout->positions.push_back(static_cast<std::int32_t>(j));
                    layout->is_eos.push_back(ex.labels[j] == eos_id ? 1 : 0);
                }
            }
            if (layout) layout->offsets.push_back(static_cast<std::int64_t>(layout->positions.size()));
        }
    });
}
}  // namespace detail

// Scores every target of `data` with base (and ref when asked). Position 0 is never a target.
template <class D>
TokenStats collect_token_stats(Gpt<D>& base, Gpt<D>* ref, std::span<const Example> data,
                               const StatsRequest& req) {
    TokenStats s;
    s.offsets.push_back(0);
    const std::int32_t eos = base.config().eos_token_id;
    detail::append_losses(base, data, req.batch_size, s.base_loss, req.entropy ? &s.base_entropy : nullptr, &s, eos);
    if (req.reference) {
        TOKCLEAN_CHECK(ref != nullptr, "reference losses asked without a reference model");
        detail::append_losses(*ref, data, req.batch_size, s.ref_loss, nullptr, nullptr, eos);
    }
    return s;
}

}  // namespace tokclean
