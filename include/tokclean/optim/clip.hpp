#pragma once
// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_: when the L2 norm of all
// gradients exceeds max_norm, scale them by max_norm / (norm + 1e-6).
#include <cmath>
#include <cstdint>

#include "tokclean/core/tensor.hpp"

namespace tokclean {

// Returns the norm before clipping. max_norm <= 0 only measures.
inline double clip_grad_norm(Tensor<float, Cpu>& grads, double max_norm) {
    const float* g = grads.data();
    const std::int64_t N = grads.numel();
    // Fixed chunks summed in order: the same norm for any thread count.
    constexpr std::int64_t chunks = 64;
    double partial[chunks] = {};
#pragma omp parallel for schedule(static)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
        double s = 0.0;
        for (std::int64_t i = N * ch / chunks; i < N * (ch + 1) / chunks; ++i)
            s += static_cast<double>(g[i]) * g[i];
        partial[ch] = s;
    }
    double total = 0.0;
    for (double s : partial) total += s;
    const double norm = std::sqrt(total);
    if (max_norm > 0.0) {
        const double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            const float f = static_cast<float>(coef);
            float* gm = grads.data();
#pragma omp parallel for simd schedule(static)
            for (std::int64_t i = 0; i < N; ++i) gm[i] *= f;
        }
    }
    return norm;
}

}  // namespace tokclean
