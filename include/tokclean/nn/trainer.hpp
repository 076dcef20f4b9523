#pragma once
// Supervised training of a Gpt with PyTorch's meaning of every knob: AdamW (β 0.9/0.999,
// ε 1e-8, decoupled weight decay on every parameter, as torch.optim.AdamW over
// model.parameters()), loss = mean cross-entropy over the target tokens of each batch,
// one optimizer step per batch, Hugging Face's warm-up schedules, optional global-norm
// clipping. Batches come from a BatchSchedule (file order or seeded shuffle per epoch).
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "tokclean/data/batch.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/optim/adamw.hpp"
#include "tokclean/optim/clip.hpp"
#include "tokclean/optim/schedule.hpp"

namespace tokclean {

// Optional per-step hook that chooses which target tokens a step trains on: given the batch
// and the model's per-token losses (B, T) of its forward, it fills weights (B, T) and returns
// the loss to report. Without one, every target weighs 1/M (the mean loss). RHO-1's online
// rule is one (clean/rho1.hpp).
using TokenWeighter =
    std::function<float(const Batch&, std::span<const float> token_losses, std::vector<float>& weights)>;

struct TrainOptions {
    std::int64_t epochs = 1;
    std::int64_t steps = 0;  // > 0: exactly this many steps (wrapping over epochs)
    std::int64_t batch_size = 8;
    double lr = 1e-4;
    ScheduleKind schedule = ScheduleKind::linear;
    double warmup_ratio = 0.0;
    double weight_decay = 0.0;
    double grad_clip = 0.0;  // <= 0: no clipping
    bool shuffle = true;
    std::uint64_t seed = 0;
    TokenWeighter weighter = {};
};

struct TrainStep {
    std::int64_t step;        // 1-based
    std::int64_t total_steps;
    float loss;               // mean loss of this step's batch, before the update
    double lr;
    double grad_norm;
    std::int64_t tokens;      // tokens (B·T, padding included) seen so far
    double seconds;           // spent in steps so far (a resumed run counts its earlier part)
};

struct TrainReport {
    std::int64_t steps = 0;
    float first_loss = 0.0f, last_loss = 0.0f;
    double seconds = 0.0;
    std::int64_t tokens = 0;
};

// Everything besides the weights and the AdamW moments that a run needs to continue where
// it stopped: a training checkpoint (nn/train_checkpoint.hpp) saves it with them.
struct TrainState {
    std::int64_t step = 0;              // optimizer steps done
    std::int64_t adam_step = 0;         // AdamW's step count (bias correction)
    BatchSchedule::State schedule{};    // the data position and the shuffling RNG
    TrainReport report{};               // so far
};

// A training run one step at a time, so that callers can checkpoint between steps. The
// same (model, data, options) give the same steps, whether run at once or stopped after any
// step and continued with restore() from a saved state, weights and moments: the learning
// rate depends only on the step, the batches only on the schedule's state.
template <class D>
class Trainer {
public:
    Trainer(Gpt<D>& model, std::span<const Example> data, TrainOptions opt)
        : model_(model), data_(data), opt_(std::move(opt)), schedule_(checked_size(data), batch_size(opt_),
                                                                        opt_.shuffle, opt_.seed) {
        if (!(opt_.lr >= 0.0)) fail("--lr: expected a non-negative number, got ", opt_.lr);
        total_ = opt_.steps > 0 ? opt_.steps : opt_.epochs * static_cast<std::int64_t>(schedule_.steps_per_epoch());
        if (total_ <= 0) fail("--epochs: expected a positive number of steps, got ", total_);
        lr_.emplace(opt_.schedule, opt_.lr, total_, opt_.warmup_ratio);
        AdamWHyper hyper;
        hyper.weight_decay = static_cast<float>(opt_.weight_decay);
        optimizer_ = AdamW<D>(model.params().numel(), hyper);
    }

    std::int64_t total_steps() const { return total_; }
    std::int64_t steps_done() const { return step_; }
    bool done() const { return step_ >= total_; }
    const TrainOptions& options() const { return opt_; }
    const TrainReport& report() const { return report_; }
    Gpt<D>& model() { return model_; }
    AdamW<D>& optimizer() { return optimizer_; }
    const AdamW<D>& optimizer() const { return optimizer_; }

    // One optimizer step on the next batch.
    TrainStep step() {
        TOKCLEAN_CHECK(!done(), "all ", total_, " steps are done");
        const auto t0 = std::chrono::steady_clock::now();
        const Batch batch = make_batch(data_, schedule_.next());
        const std::int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
        float loss = model_.forward(batch.input_ids.data(), batch.labels.data(), B, T);
        model_.zero_grad();
        if (opt_.weighter) {
            loss = opt_.weighter(batch, model_.token_losses(), weights_);
            model_.backward(weights_);
        } else {
            model_.backward();
        }
        const double norm = clip_grad_norm(model_.grads().flat(), opt_.grad_clip);
        const double rate = lr_->lr_at(step_);
        optimizer_.step(model_.params().flat(), model_.grads().flat(), static_cast<float>(rate));
        report_.tokens += B * T;
        if (step_ == 0) report_.first_loss = loss;
        report_.last_loss = loss;
        report_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++step_;
        report_.steps = step_;
        return {step_, total_, loss, rate, norm, report_.tokens, report_.seconds};
    }

    TrainState state() const { return {step_, optimizer_.steps_taken(), schedule_.state(), report_}; }
    // Continues from a saved state; the caller restores the model's weights and the
    // optimizer's moments (of the same step).
    void restore(const TrainState& s) {
        if (s.step < 0 || s.step > total_) fail("checkpoint step ", s.step, " is outside [0, ", total_, "]");
        step_ = s.step;
        optimizer_.set_steps_taken(s.adam_step);
        schedule_.restore(s.schedule);
        report_ = s.report;
    }

private:
    static std::size_t checked_size(std::span<const Example> data) {
        if (data.empty()) fail("training data is empty");
        return data.size();
    }
    static std::size_t batch_size(const TrainOptions& o) {
        if (o.batch_size <= 0) fail("--batch-size: expected a positive integer, got ", o.batch_size);
        return static_cast<std::size_t>(o.batch_size);
    }

    Gpt<D>& model_;
    std::span<const Example> data_;
    TrainOptions opt_;
    BatchSchedule schedule_;
    std::int64_t total_ = 0;
    std::optional<LrSchedule> lr_;
    AdamW<D> optimizer_;
    std::int64_t step_ = 0;
    TrainReport report_;
    std::vector<float> weights_;  // (B, T) with a weighter
};

// Trains `model` for the whole run (see Trainer), calling on_step after every step.
template <class D>
TrainReport train(Gpt<D>& model, std::span<const Example> data, const TrainOptions& opt,
                  const std::function<void(const TrainStep&)>& on_step = {}) {
    Trainer<D> trainer(model, data, opt);
    while (!trainer.done()) {
        const TrainStep s = trainer.step();
        if (on_step) on_step(s);
    }
    return trainer.report();
}

}  // namespace tokclean
