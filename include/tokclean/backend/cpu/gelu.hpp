#pragma once
// GELU, tanh approximation (Hugging Face "gelu_new"), on the CPU (the contract:
// backend/ops.hpp). Computed in its logistic form, 0.5 x (1 + tanh(u)) = x · σ(2u), with
// fast_exp in a SIMD loop: libm's tanhf is a call per element (it was a sixth of a training
// step), and the logistic form keeps full relative accuracy where 1 + tanh(u) would cancel
// (large negative x).
#include <cstdint>

#include "tokclean/backend/cpu/detail/fast_exp.hpp"
#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cpu_detail {
inline constexpr float gelu_scale = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float gelu_cubic = 0.044715f;
inline constexpr std::int64_t gelu_block = 4096;  // elements per task: 16 KB, fits L1

// σ(2u) with u = sqrt(2/pi) (x + 0.044715 x³): GELU(x) = x · σ(2u).
#pragma omp declare simd notinbranch
inline float gelu_gate(float x) {
    const float u = gelu_scale * (x + gelu_cubic * x * x * x);
    return 1.0f / (1.0f + fast_exp(-2.0f * u));
}
}  // namespace cpu_detail

// out (N) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))). out may be inp (in place).
inline void gelu_forward(Cpu, float* out, const float* inp, std::int64_t N) {
    using namespace cpu_detail;
    parallel_blocks(N, gelu_block, [&](std::int64_t i0, std::int64_t i1) {
#pragma omp simd
        for (std::int64_t i = i0; i < i1; ++i) out[i] = inp[i] * gelu_gate(inp[i]);
    });
}

// Accumulates dinp (N) += gelu'(inp) * dout, or writes dinp = ... (then dinp may be dout:
// the gradient is turned around in place). With s = σ(2u):
// gelu'(x) = s + 2 x s (1 - s) du/dx, du/dx = sqrt(2/pi) (1 + 3 · 0.044715 x²).
inline void gelu_backward(Cpu, float* dinp, const float* inp, const float* dout, std::int64_t N,
                          GradWrite write = GradWrite::accumulate) {
    using namespace cpu_detail;
    auto grad = [](float x, float dy) {
        const float s = gelu_gate(x);
        const float du = gelu_scale * (1.0f + 3.0f * gelu_cubic * x * x);
        return (s + 2.0f * x * s * (1.0f - s) * du) * dy;
    };
    // Two loops rather than a choice per element, which keeps the compiler from vectorising.
    parallel_blocks(N, gelu_block, [&](std::int64_t i0, std::int64_t i1) {
        if (write == GradWrite::overwrite) {
#pragma omp simd
            for (std::int64_t i = i0; i < i1; ++i) dinp[i] = grad(inp[i], dout[i]);
        } else {
#pragma omp simd
            for (std::int64_t i = i0; i < i1; ++i) dinp[i] += grad(inp[i], dout[i]);
        }
    });
}

}  // namespace tokclean
