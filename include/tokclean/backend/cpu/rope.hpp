#pragma once
// Rotary position embeddings on the CPU in Hugging Face's rotate_half layout (Llama, Mistral,
// Qwen): within each head of hd floats, element i pairs with i + hd/2. In place, positions
// 0..T-1 in every sequence of the batch; the cos / sin tables come from nn/rope.hpp. The
// kernel on one position: detail/row_kernels.hpp.
#include <cstdint>

#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cpu_detail {
template <class Kernel>
void rope_apply(Kernel kernel, float* x, const float* cos, const float* sin, std::int64_t B, std::int64_t T,
                std::int64_t heads, std::int64_t hd, std::int64_t stride) {
    const std::int64_t half = hd / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < T; ++t) kernel(x + (b * T + t) * stride, cos + t * half, sin + t * half, heads, hd);
}
}  // namespace cpu_detail

// x (B, T, stride): at each position, heads [0, heads) of hd floats from offset h·hd (a q or
// k block of a qkv row: pass its start and the row's width). cos, sin (T, hd/2). For i < hd/2,
// a = x[i], b = x[i + hd/2]: x[i] = a·cos[t][i] - b·sin[t][i], x[i + hd/2] = b·cos[t][i] + a·sin[t][i].
inline void rope_forward(Cpu, float* x, const float* cos, const float* sin, std::int64_t B, std::int64_t T,
                         std::int64_t heads, std::int64_t hd, std::int64_t stride) {
    cpu_detail::rope_apply(cpu_detail::row_kernels().rope, x, cos, sin, B, T, heads, hd, stride);
}

// The adjoint of rope_forward (the rotation by the opposite angles), in place on the gradient
// dx (B, T, stride), laid out as x.
inline void rope_backward(Cpu, float* dx, const float* cos, const float* sin, std::int64_t B, std::int64_t T,
                          std::int64_t heads, std::int64_t hd, std::int64_t stride) {
    cpu_detail::rope_apply(cpu_detail::row_kernels().rope_adjoint, dx, cos, sin, B, T, heads, hd, stride);
}

}  // namespace tokclean
