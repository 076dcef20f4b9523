#pragma once
// Supervised training of a CausalLm (any architecture) with PyTorch's meaning of every knob:
// AdamW (β 0.9/0.999, ε 1e-8, decoupled weight decay on every parameter, as
// torch.optim.AdamW over model.parameters()), loss = mean cross-entropy over the target tokens of each batch,
// one optimizer step per batch, Hugging Face's warm-up schedules, optional global-norm
// clipping. Batches come from a BatchSchedule (file order or seeded shuffle per epoch).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <functional>
#include <optional>
#include <type_traits>
#include <span>
#include <vector>

#include "tokclean/data/batch.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/backend/detail/dropout_mask.hpp"
#include "tokclean/nn/causal_lm.hpp"
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
    Trainer(CausalLm<D>& model, std::span<const Example> data, TrainOptions opt)
        : model_(model), data_(data), opt_(std::move(opt)), schedule_(checked_size(data), batch_size(opt_),
                                                                        opt_.shuffle, opt_.seed) {
        check_options(opt_);
        const auto per_epoch = static_cast<std::int64_t>(schedule_.steps_per_epoch());
        if (opt_.steps == 0 && opt_.epochs > std::numeric_limits<std::int64_t>::max() / per_epoch)
            fail("epochs: ", opt_.epochs, " epochs of ", per_epoch, " steps overflow the step count");
        total_ = opt_.steps > 0 ? opt_.steps : opt_.epochs * per_epoch;
        lr_.emplace(opt_.schedule, opt_.lr, total_, opt_.warmup_ratio);
        AdamWHyper hyper;
        hyper.weight_decay = static_cast<float>(opt_.weight_decay);
        optimizer_ = AdamW<D>(model.flat_params().numel(), hyper);
    }

    std::int64_t total_steps() const { return total_; }
    std::int64_t steps_done() const { return step_; }
    bool done() const { return step_ >= total_; }
    const TrainOptions& options() const { return opt_; }
    const TrainReport& report() const { return report_; }
    CausalLm<D>& model() { return model_; }
    AdamW<D>& optimizer() { return optimizer_; }
    const AdamW<D>& optimizer() const { return optimizer_; }

    // One optimizer step on the next batch. A non-finite loss, gradient or updated weight
    // stops the run with an Error naming the step (a learning rate far too high, overflowing
    // weights): the model is left as it was before the failing step's update where the loss
    // or gradient is to blame, and a checkpoint saved earlier stays the last good state.
    TrainStep step() {
        TOKCLEAN_CHECK(!done(), "all ", total_, " steps are done");
        const auto t0 = std::chrono::steady_clock::now();
        const Batch batch = make_batch(data_, schedule_.next());
        const std::int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
        // Dropout's masks (LoRA) from the seed and the step alone: a resumed run draws the same.
        model_.set_noise_seed(dropout_detail::mix(opt_.seed ^ 0x6c6f7261ULL, static_cast<std::uint64_t>(step_)));
        float loss = model_.forward(batch.input_ids.data(), batch.labels.data(), B, T);
        model_.zero_grad();
        if (opt_.weighter) {
            loss = opt_.weighter(batch, model_.token_losses(), weights_);
            model_.backward(weights_);
        } else {
            model_.backward();
        }
        const double norm = clip_grad_norm(model_.flat_grads(), opt_.grad_clip);
        if (!std::isfinite(loss) || !std::isfinite(norm))
            fail("training step ", step_ + 1, " of ", total_, ": the ", std::isfinite(loss) ? "gradient norm" : "loss",
                 " is ", std::isnan(loss) || std::isnan(norm) ? "nan" : "inf",
                 " (the model's numbers overflow: lower the learning rate, or check the model's weights); "
                 "stopped before the update");
        const double rate = lr_->lr_at(step_);
        optimizer_.step(model_.flat_params(), model_.flat_grads(), static_cast<float>(rate));
        // On the CPU every step (a read of the weights, cheap beside the step); on a device
        // after the last step only, so that a written model is never non-finite.
        const bool check_weights = std::is_same_v<D, Cpu> || step_ + 1 == total_;
        if (const auto bad = check_weights ? first_non_finite(model_.flat_params()) : -1; bad >= 0)
            fail("training step ", step_ + 1, " of ", total_, ": the update made weight ", bad,
                 " non-finite (learning rate ", rate, " is far too high)");
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

    // Options that make no run: Error naming the option. (The program checks its flags
    // first, with their names; this guards library callers.)
    static void check_options(const TrainOptions& o) {
        const auto finite_at_least = [](const char* name, double x, double lo) {
            if (!(std::isfinite(x) && x >= lo)) fail(name, ": expected a finite number >= ", lo, ", got ", x);
        };
        finite_at_least("lr", o.lr, 0.0);
        finite_at_least("weight_decay", o.weight_decay, 0.0);
        finite_at_least("grad_clip", o.grad_clip, 0.0);
        if (!(o.warmup_ratio >= 0.0 && o.warmup_ratio <= 1.0))
            fail("warmup_ratio: expected a fraction in [0, 1], got ", o.warmup_ratio);
        if (o.steps < 0) fail("steps: expected a positive number (or 0 to use epochs), got ", o.steps);
        if (o.steps == 0 && o.epochs <= 0) fail("epochs: expected a positive number, got ", o.epochs);
    }

private:
    // The index of the first non-finite element, or -1 (a read of the weights: cheap beside a step).
    static std::int64_t first_non_finite(const Tensor<float, Cpu>& t) {
        const float* p = t.data();
        const std::int64_t n = t.numel();
        std::int64_t bad = n;
#pragma omp parallel for reduction(min : bad) schedule(static)
        for (std::int64_t i = 0; i < n; ++i)
            if (!std::isfinite(p[i])) bad = std::min(bad, i);
        return bad < n ? bad : -1;
    }
    template <class T>
    static std::int64_t first_non_finite(const T& device_tensor) {
        return first_non_finite(copy_to(Cpu{}, device_tensor));
    }

    static std::size_t checked_size(std::span<const Example> data) {
        if (data.empty()) fail("training data is empty");
        return data.size();
    }
    static std::size_t batch_size(const TrainOptions& o) {
        if (o.batch_size <= 0) fail("batch_size: expected a positive integer, got ", o.batch_size);
        return static_cast<std::size_t>(o.batch_size);
    }

    CausalLm<D>& model_;
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
TrainReport train(CausalLm<D>& model, std::span<const Example> data, const TrainOptions& opt,
                  const std::function<void(const TrainStep&)>& on_step = {}) {
    Trainer<D> trainer(model, data, opt);
    while (!trainer.done()) {
        const TrainStep s = trainer.step();
        if (on_step) on_step(s);
    }
    return trainer.report();
}

}  // namespace tokclean
