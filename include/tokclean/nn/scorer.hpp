#pragma once
// Per-token losses of every example under one model, in batches: entry j of an example's
// losses is the loss of predicting its token j (NaN where it is not a target).
#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "tokclean/data/batch.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/nn/gpt.hpp"

namespace tokclean {

// Calls sink(example index, losses of that example) in file order.
template <class D>
void score_examples(Gpt<D>& model, std::span<const Example> data, std::int64_t batch_size,
                    const std::function<void(std::size_t, std::span<const float>)>& sink) {
    if (batch_size <= 0) fail("--batch-size: expected a positive integer, got ", batch_size);
    std::vector<std::size_t> indices;
    for (std::size_t first = 0; first < data.size(); first += static_cast<std::size_t>(batch_size)) {
        const std::size_t last = std::min(data.size(), first + static_cast<std::size_t>(batch_size));
        indices.clear();
        for (std::size_t i = first; i < last; ++i) indices.push_back(i);
        const Batch batch = make_batch(data, indices);
        const std::int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
        model.forward(batch.input_ids.data(), batch.labels.data(), B, T, ForwardFor::scoring);
        const auto losses = model.token_losses();  // (B, T)
        for (std::int64_t b = 0; b < B; ++b) {
            const std::size_t n = data[first + static_cast<std::size_t>(b)].input_ids.size();
            sink(first + static_cast<std::size_t>(b), losses.subspan(static_cast<std::size_t>(b * T), n));
        }
    }
}

}  // namespace tokclean
