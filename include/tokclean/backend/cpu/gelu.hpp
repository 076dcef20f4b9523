#pragma once
// GELU, tanh approximation (Hugging Face "gelu_new"), on the CPU (the contract:
// backend/ops.hpp). Computed in its logistic form, 0.5 x (1 + tanh(u)) = x · σ(2u), with
// fast_exp in SIMD loops (detail/row_kernels.hpp): libm's tanhf is a call per element (it
// was a sixth of a training step), and the logistic form keeps full relative accuracy where
// 1 + tanh(u) would cancel (large negative x).
#include <cstdint>

#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cpu_detail {
inline constexpr std::int64_t gelu_block = 4096;  // elements per task: 16 KB, fits L1
}  // namespace cpu_detail

// out (N) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))). out may be inp (in place).
inline void gelu_forward(Cpu, float* out, const float* inp, std::int64_t N) {
    using namespace cpu_detail;
    const auto block = row_kernels().gelu_forward;
    parallel_blocks(N, gelu_block,
                    [&](std::int64_t i0, std::int64_t i1) { block(out + i0, inp + i0, i1 - i0); });
}

// Accumulates dinp (N) += gelu'(inp) * dout, or writes dinp = ... (then dinp may be dout:
// the gradient is turned around in place).
inline void gelu_backward(Cpu, float* dinp, const float* inp, const float* dout, std::int64_t N,
                          GradWrite write = GradWrite::accumulate) {
    using namespace cpu_detail;
    const auto block = row_kernels().gelu_backward;
    parallel_blocks(N, gelu_block, [&](std::int64_t i0, std::int64_t i1) {
        block(dinp + i0, inp + i0, dout + i0, i1 - i0, write);
    });
}

}  // namespace tokclean
