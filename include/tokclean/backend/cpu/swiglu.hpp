#pragma once
// SwiGLU on the CPU (the MLP of Llama, Mistral, Qwen: down(silu(gate(x)) · up(x))) on the
// fused gate|up projection's rows, silu(g) = g · σ(g) with σ by fast_exp (full relative
// accuracy where silu is tiny: no 1 - something cancellation). The kernels: detail/row_kernels.hpp.
#include <cstdint>

#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// gate_up (N, 2I): row n is [gate (I) | up (I)]. out (N, I) = silu(gate) · up.
inline void swiglu_forward(Cpu, float* out, const float* gate_up, std::int64_t N, std::int64_t I) {
    const auto block = cpu_detail::row_kernels().swiglu_forward;
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < N; ++n) block(out + n * I, gate_up + n * 2 * I, gate_up + n * 2 * I + I, I);
}

// dgate_up (N, 2I), laid out as gate_up, = (or += with accumulate) the gradient from dout (N, I).
inline void swiglu_backward(Cpu, float* dgate_up, const float* gate_up, const float* dout, std::int64_t N,
                            std::int64_t I, GradWrite write = GradWrite::overwrite) {
    const auto block = cpu_detail::row_kernels().swiglu_backward;
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < N; ++n) {
        const float* g = gate_up + n * 2 * I;
        float* dg = dgate_up + n * 2 * I;
        block(dg, dg + I, g, g + I, dout + n * I, I, write);
    }
}

}  // namespace tokclean
