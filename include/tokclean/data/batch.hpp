#pragma once
// Batches of examples for a training or scoring step, and the schedule that picks which
// examples form each step's batch (file order or shuffled per epoch, PyTorch DataLoader
// semantics with drop_last=False).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/core/rng.hpp"
#include "tokclean/core/tensor.hpp"
#include "tokclean/data/example.hpp"

namespace tokclean {

inline constexpr std::int32_t pad_token_id = 0;  // any valid id works: its labels are ignored

struct Batch {
    Tensor<std::int32_t, Cpu> input_ids;  // (B, T) right-padded with pad_token_id
    Tensor<std::int32_t, Cpu> labels;     // (B, T) right-padded with ignore_label
    std::int64_t num_targets = 0;         // labels != ignore_label at positions j >= 1

    std::int64_t batch_size() const { return input_ids.size(0); }
    std::int64_t seq_len() const { return input_ids.size(1); }
};

namespace detail {
template <class Get>
Batch make_batch_impl(std::size_t count, Get get, std::int64_t pad_to) {
    TOKCLEAN_CHECK(count > 0, "empty batch");
    std::int64_t T = std::max<std::int64_t>(pad_to, 0);
    for (std::size_t b = 0; b < count; ++b)
        T = std::max(T, static_cast<std::int64_t>(get(b).size()));
    const auto B = static_cast<std::int64_t>(count);
    Batch batch{Tensor<std::int32_t, Cpu>(Shape{B, T}), Tensor<std::int32_t, Cpu>(Shape{B, T}), 0};
    batch.input_ids.fill(pad_token_id);
    batch.labels.fill(ignore_label);
    for (std::int64_t b = 0; b < B; ++b) {
        const Example& ex = get(static_cast<std::size_t>(b));
        TOKCLEAN_CHECK(ex.labels.size() == ex.input_ids.size(), "example of line ", ex.line,
                       ": labels and input_ids differ in length");
        std::copy(ex.input_ids.begin(), ex.input_ids.end(), &batch.input_ids(b, 0));
        std::copy(ex.labels.begin(), ex.labels.end(), &batch.labels(b, 0));
        batch.num_targets += ex.num_targets();
    }
    return batch;
}
}  // namespace detail

// A batch of `examples`, padded to the longest of them (or to pad_to if longer, for callers
// that want a fixed T).
inline Batch make_batch(std::span<const Example> examples, std::int64_t pad_to = 0) {
    return detail::make_batch_impl(
        examples.size(), [&](std::size_t i) -> const Example& { return examples[i]; }, pad_to);
}
// A batch of all[indices[0]], all[indices[1]], ...
inline Batch make_batch(std::span<const Example> all, std::span<const std::size_t> indices,
                        std::int64_t pad_to = 0) {
    for (auto i : indices) TOKCLEAN_CHECK(i < all.size(), "example index ", i, " of ", all.size());
    return detail::make_batch_impl(
        indices.size(), [&](std::size_t i) -> const Example& { return all[indices[i]]; }, pad_to);
}

// Calls fn(first, batch) for each run of `batch_size` consecutive examples of `data`, in
// order: `batch` holds examples [first, first + batch.batch_size()), padded to the longest.
// The one batching loop of scoring, statistics and evaluation.
template <class F>
void for_each_batch(std::span<const Example> data, std::int64_t batch_size, F&& fn) {
    if (batch_size <= 0) fail("batch_size: expected a positive integer, got ", batch_size);
    const auto step = static_cast<std::size_t>(batch_size);
    for (std::size_t first = 0; first < data.size(); first += step)
        fn(first, make_batch(data.subspan(first, std::min(step, data.size() - first))));
}

// The example indices of each training step. An epoch visits every example once, in file
// order or (shuffle) in a Fisher-Yates permutation drawn from Rng(seed); consecutive
// batch_size slices of that order are the steps, and the last slice of an epoch may be
// smaller (it is kept, not filled from the next epoch). After the last step of an epoch the
// next epoch begins, so any number of steps can be drawn. The same (n, batch_size, shuffle,
// seed) always gives the same steps.
class BatchSchedule {
public:
    BatchSchedule(std::size_t num_examples, std::size_t batch_size, bool shuffle = false,
                  std::uint64_t seed = 0)
        : n_(num_examples), batch_size_(batch_size), shuffle_(shuffle), rng_(seed) {
        TOKCLEAN_CHECK(num_examples > 0 && batch_size > 0, "schedule of ", num_examples,
                       " examples in batches of ", batch_size);
        order_.resize(n_);
        start_epoch();
    }

    // The indices of the next step's batch.
    std::vector<std::size_t> next() {
        if (pos_ == n_) {
            ++epoch_;
            start_epoch();
        }
        const std::size_t end = std::min(n_, pos_ + batch_size_);
        std::vector<std::size_t> out(order_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                     order_.begin() + static_cast<std::ptrdiff_t>(end));
        pos_ = end;
        ++step_;
        return out;
    }

    // Where the schedule stands, to continue it exactly after a restart (a training
    // checkpoint): the steps handed out, the epoch and the position in its order, and the
    // random state from which that epoch's order was drawn.
    struct State {
        std::size_t step = 0;
        std::size_t epoch = 0;
        std::size_t pos = 0;
        std::array<std::uint64_t, 4> epoch_rng{};
    };
    State state() const { return {step_, epoch_, pos_, epoch_rng_}; }
    // Continues from `s`, taken from a schedule of the same (n, batch_size, shuffle, seed).
    void restore(const State& s) {
        if (s.pos > n_) fail("schedule position ", s.pos, " is beyond the ", n_, " examples");
        rng_ = Rng::from_state(s.epoch_rng);
        start_epoch();  // redraws that epoch's order; rng_ ends where it was
        pos_ = s.pos;
        epoch_ = s.epoch;
        step_ = s.step;
    }

    std::size_t steps_per_epoch() const { return (n_ + batch_size_ - 1) / batch_size_; }
    std::size_t step() const { return step_; }    // steps handed out so far
    std::size_t epoch() const { return epoch_; }  // epoch of the last step handed out (0-based)
    std::size_t num_examples() const { return n_; }
    std::size_t batch_size() const { return batch_size_; }

private:
    void start_epoch() {
        epoch_rng_ = rng_.state();
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        if (shuffle_)
            for (std::size_t i = n_ - 1; i > 0; --i) std::swap(order_[i], order_[rng_.below(i + 1)]);
        pos_ = 0;
    }

    std::size_t n_;
    std::size_t batch_size_;
    bool shuffle_;
    Rng rng_;
    std::array<std::uint64_t, 4> epoch_rng_{};  // rng_ before this epoch's shuffle
    std::vector<std::size_t> order_;
    std::size_t pos_ = 0;
    std::size_t epoch_ = 0;
    std::size_t step_ = 0;
};

}  // namespace tokclean
