#pragma once
// Per-token losses of every example under one model, in batches: entry j of an example's
// losses is the loss of predicting its token j (NaN where it is not a target).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokclean/data/batch.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/nn/causal_lm.hpp"

namespace tokclean {

// Error unless every target's loss (positions j >= 1 with a label) is finite: a model whose
// numbers overflow must not pass for one that scored nothing (NaN marks "not a target").
// `source` names the data in the message ("data.jsonl").
inline void require_finite_target_losses(const Example& ex, std::span<const float> losses, std::string_view source) {
    for (std::size_t j = 1; j < ex.labels.size(); ++j)
        if (ex.labels[j] != ignore_label && !std::isfinite(losses[j]))
            fail(source.empty() ? std::string("data") : std::string(source), ":", ex.line, ": token ", j,
                 ": the model's loss is ", std::isnan(losses[j]) ? "nan" : losses[j] > 0 ? "inf" : "-inf",
                 " (its weights or activations overflow; a target's loss is never written as null)");
}

// Calls sink(example index, losses of that example) in file order. A non-finite loss at a
// target is an Error (require_finite_target_losses; `source` names the data).
template <class D>
void score_examples(CausalLm<D>& model, std::span<const Example> data, std::int64_t batch_size,
                    const std::function<void(std::size_t, std::span<const float>)>& sink,
                    std::string_view source = {}) {
    for_each_batch(data, batch_size, [&](std::size_t first, const Batch& batch) {
        const std::int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
        model.forward(batch.input_ids.data(), batch.labels.data(), B, T, ForwardFor::scoring);
        const auto losses = model.token_losses();  // (B, T)
        for (std::int64_t b = 0; b < B; ++b) {
            const Example& ex = data[first + static_cast<std::size_t>(b)];
            const auto example_losses = losses.subspan(static_cast<std::size_t>(b * T), ex.size());
            require_finite_target_losses(ex, example_losses, source);
            sink(first + static_cast<std::size_t>(b), example_losses);
        }
    });
}

}  // namespace tokclean
