#pragma once
// Rotary position embeddings on the GPU in Hugging Face's rotate_half layout (the contract:
// backend/ops.hpp): one thread per pair (i, i + hd/2) of a head at a position, in place. The
// products are kept unfused (__fmul_rn), as on the CPU, so both backends round alike.
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

// Pair p of P = B·T·heads·half: i = p % half, head (p / half) % heads, position p / (half·heads)
// (t = position % T). (a, b) becomes (a cos − b sin, b cos + a sin), or the adjoint (a cos + b sin,
// b cos − a sin).
template <bool adjoint, class T>
__global__ void rope_kernel(T* x, const T* cos, const T* sin, std::int64_t P, std::int64_t Tlen,
                            std::int64_t heads, std::int64_t half, std::int64_t stride) {
    for (std::int64_t p = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; p < P;
         p += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        const std::int64_t i = p % half, h = p / half % heads, pos = p / (half * heads), t = pos % Tlen;
        T* a = x + pos * stride + h * 2 * half + i;
        T* b = a + half;
        const T c = cos[t * half + i], s = sin[t * half + i], u = *a, v = *b;
        const T uc = __fmul_rn(u, c), vs = __fmul_rn(v, s), vc = __fmul_rn(v, c), us = __fmul_rn(u, s);
        *a = adjoint ? uc + vs : uc - vs;
        *b = adjoint ? vc - us : vc + us;
    }
}

template <bool adjoint>
void rope_launch(float* x, const float* cos, const float* sin, std::int64_t B, std::int64_t T, std::int64_t heads,
                 std::int64_t hd, std::int64_t stride) {
    const std::int64_t half = hd / 2, P = B * T * heads * half;
    if (P <= 0) return;
    rope_kernel<adjoint><<<blocks_for(P, 256, 8192), 256, 0, stream()>>>(x, cos, sin, P, T, heads, half, stride);
    TOKCLEAN_CUDA_CHECK_LAUNCH("rope_kernel");
}

}  // namespace cuda_detail

// x (B, T, stride): heads [0, heads) of hd floats from offset h·hd of each position, rotated by
// position t's angles; cos, sin (T, hd/2) on the device.
inline void rope_forward(Cuda, float* x, const float* cos, const float* sin, std::int64_t B, std::int64_t T,
                         std::int64_t heads, std::int64_t hd, std::int64_t stride) {
    cuda_detail::rope_launch<false>(x, cos, sin, B, T, heads, hd, stride);
}

// The adjoint (the rotation by the opposite angles), in place on dx laid out as x.
inline void rope_backward(Cuda, float* dx, const float* cos, const float* sin, std::int64_t B, std::int64_t T,
                          std::int64_t heads, std::int64_t hd, std::int64_t stride) {
    cuda_detail::rope_launch<true>(dx, cos, sin, B, T, heads, hd, stride);
}

}  // namespace tokclean
