#pragma once
// AdamW optimizer state (first and second moments) over one flat parameter buffer.
#include <cstdint>

#include "tokclean/backend/cpu/adamw.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/tensor.hpp"

namespace tokclean {

template <class D = Cpu>
class AdamW {
public:
    AdamW() = default;
    AdamW(std::int64_t numel, AdamWHyper hyper)
        : hyper_(hyper), m_(Shape{numel}), v_(Shape{numel}) {}

    const AdamWHyper& hyper() const { return hyper_; }
    std::int64_t steps_taken() const { return step_; }
    // For a resumed run: the step count the restored moments belong to.
    void set_steps_taken(std::int64_t steps) {
        TOKCLEAN_CHECK(steps >= 0, "negative step count ", steps);
        step_ = steps;
    }

    // One update of params (N) from grads (N) at learning rate lr (the schedule's value).
    void step(Tensor<float, D>& params, const Tensor<float, D>& grads, float lr) {
        TOKCLEAN_CHECK(params.numel() == m_.numel() && grads.numel() == m_.numel(),
                       "AdamW over ", m_.numel(), " values got ", params.numel(), " / ",
                       grads.numel());
        AdamWHyper h = hyper_;
        h.lr = lr;
        ++step_;
        adamw_update(D{}, params.data(), m_.data(), v_.data(), grads.data(), params.numel(), h,
                     step_);
    }

    Tensor<float, D>& first_moment() { return m_; }
    Tensor<float, D>& second_moment() { return v_; }

private:
    AdamWHyper hyper_;
    Tensor<float, D> m_;  // (N)
    Tensor<float, D> v_;  // (N)
    std::int64_t step_ = 0;
};

}  // namespace tokclean
