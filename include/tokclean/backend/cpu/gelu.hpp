#pragma once
// GELU, tanh approximation (Hugging Face "gelu_new"), on the CPU.
#include <cmath>
#include <cstdint>

#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cpu_detail {
inline constexpr float gelu_scale = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float gelu_cubic = 0.044715f;
}  // namespace cpu_detail

// out (N) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).
inline void gelu_forward(Cpu, float* out, const float* inp, std::int64_t N) {
    using namespace cpu_detail;
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < N; ++i) {
        const float x = inp[i];
        out[i] = 0.5f * x * (1.0f + std::tanh(gelu_scale * (x + gelu_cubic * x * x * x)));
    }
}

// Accumulates dinp (N) += gelu'(inp) * dout.
inline void gelu_backward(Cpu, float* dinp, const float* inp, const float* dout, std::int64_t N) {
    using namespace cpu_detail;
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < N; ++i) {
        const float x = inp[i];
        const float u = gelu_scale * (x + gelu_cubic * x * x * x);
        const float th = std::tanh(u);
        const float sech2 = 1.0f - th * th;
        const float du = gelu_scale * (1.0f + 3.0f * gelu_cubic * x * x);
        dinp[i] += (0.5f * (1.0f + th) + 0.5f * x * sech2 * du) * dout[i];
    }
}

}  // namespace tokclean
