#pragma once
// One AdamW step on the CPU with PyTorch's semantics (torch.optim.AdamW): decoupled weight
// decay, bias-corrected moments, eps added after the square root.
#include <cmath>
#include <cstdint>

#include "tokclean/core/device.hpp"

namespace tokclean {

struct AdamWHyper {
    float lr = 1e-4f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 0.0f;
};

// Updates params (N), m (N), v (N) in place from grads (N); step counts from 1.
inline void adamw_update(Cpu, float* params, float* m, float* v, const float* grads,
                         std::int64_t N, const AdamWHyper& h, std::int64_t step) {
    const double bc1 = 1.0 - std::pow(static_cast<double>(h.beta1), static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(h.beta2), static_cast<double>(step));
    const float step_size = static_cast<float>(h.lr / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float decay = 1.0f - h.lr * h.weight_decay;
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < N; ++i) {
        const float g = grads[i];
        const float mi = h.beta1 * m[i] + (1.0f - h.beta1) * g;
        const float vi = h.beta2 * v[i] + (1.0f - h.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] * decay - step_size * mi / (std::sqrt(vi) / bc2_sqrt + h.eps);
    }
}

}  // namespace tokclean
