#pragma once
// Supervised training of a Gpt with PyTorch's meaning of every knob: AdamW (β 0.9/0.999,
// ε 1e-8, decoupled weight decay on every parameter, as torch.optim.AdamW over
// model.parameters()), loss = mean cross-entropy over the target tokens of each batch,
// one optimizer step per batch, Hugging Face's warm-up schedules, optional global-norm
// clipping. Batches come from a BatchSchedule (file order or seeded shuffle per epoch).
#include <chrono>
#include <cstdint>
#include <functional>
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
    double seconds;           // since training started
};

struct TrainReport {
    std::int64_t steps = 0;
    float first_loss = 0.0f, last_loss = 0.0f;
    double seconds = 0.0;
    std::int64_t tokens = 0;
};

template <class D>
TrainReport train(Gpt<D>& model, std::span<const Example> data, const TrainOptions& opt,
                  const std::function<void(const TrainStep&)>& on_step = {}) {
    if (data.empty()) fail("training data is empty");
    if (opt.batch_size <= 0) fail("--batch-size: expected a positive integer, got ", opt.batch_size);
    if (!(opt.lr >= 0.0)) fail("--lr: expected a non-negative number, got ", opt.lr);
    BatchSchedule schedule(data.size(), static_cast<std::size_t>(opt.batch_size), opt.shuffle, opt.seed);
    const std::int64_t total = opt.steps > 0 ? opt.steps
                                             : opt.epochs * static_cast<std::int64_t>(schedule.steps_per_epoch());
    if (total <= 0) fail("--epochs: expected a positive number of steps, got ", total);
    const LrSchedule lr(opt.schedule, opt.lr, total, opt.warmup_ratio);
    AdamWHyper hyper;
    hyper.weight_decay = static_cast<float>(opt.weight_decay);
    AdamW<D> optimizer(model.params().numel(), hyper);

    TrainReport report;
    std::vector<float> weights;  // (B, T) with a weighter
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t k = 0; k < total; ++k) {
        const Batch batch = make_batch(data, schedule.next());
        const std::int64_t B = batch.input_ids.size(0), T = batch.input_ids.size(1);
        float loss = model.forward(batch.input_ids.data(), batch.labels.data(), B, T);
        model.zero_grad();
        if (opt.weighter) {
            loss = opt.weighter(batch, model.token_losses(), weights);
            model.backward(weights);
        } else {
            model.backward();
        }
        const double norm = clip_grad_norm(model.grads().flat(), opt.grad_clip);
        const double rate = lr.lr_at(k);
        optimizer.step(model.params().flat(), model.grads().flat(), static_cast<float>(rate));
        report.tokens += B * T;
        if (k == 0) report.first_loss = loss;
        report.last_loss = loss;
        report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (on_step) on_step({k + 1, total, loss, rate, norm, report.tokens, report.seconds});
    }
    report.steps = total;
    return report;
}

}  // namespace tokclean
