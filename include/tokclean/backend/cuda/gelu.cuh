#pragma once
// GELU, tanh approximation, on the GPU (the contract: backend/ops.hpp), in its logistic form
// 0.5 x (1 + tanh(u)) = x · σ(2u), which keeps full relative accuracy for large negative x.
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

// σ(2u), u = sqrt(2/pi) (x + 0.044715 x³).
__device__ inline float gelu_gate(float x) {
    const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return 1.0f / (1.0f + expf(-2.0f * u));
}

template <class T>
__global__ void gelu_forward_kernel(T* out, const T* inp, std::int64_t N) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        const T x = inp[i];
        out[i] = x * gelu_gate(x);
    }
}

// gelu'(x) = s + 2 x s (1 - s) du/dx with s = σ(2u), du/dx = sqrt(2/pi) (1 + 3 · 0.044715 x²).
template <class T>
__global__ void gelu_backward_kernel(T* dinp, const T* inp, const T* dout, std::int64_t N, GradWrite write) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        const T x = inp[i], s = gelu_gate(x);
        const T du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * x * x);
        const T g = (s + 2.0f * x * s * (1.0f - s) * du) * dout[i];
        dinp[i] = write == GradWrite::accumulate ? dinp[i] + g : g;
    }
}

}  // namespace cuda_detail

// out (N) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))). out may be inp (in place).
inline void gelu_forward(Cuda, float* out, const float* inp, std::int64_t N) {
    using namespace cuda_detail;
    if (N <= 0) return;
    gelu_forward_kernel<<<blocks_for(N, 256, 8192), 256, 0, stream()>>>(out, inp, N);
    TOKCLEAN_CUDA_CHECK_LAUNCH("gelu_forward_kernel");
}

// Accumulates dinp (N) += gelu'(inp) * dout, or writes dinp = ... (then dinp may be dout).
inline void gelu_backward(Cuda, float* dinp, const float* inp, const float* dout, std::int64_t N,
                          GradWrite write = GradWrite::accumulate) {
    using namespace cuda_detail;
    if (N <= 0) return;
    gelu_backward_kernel<<<blocks_for(N, 256, 8192), 256, 0, stream()>>>(dinp, inp, dout, N, write);
    TOKCLEAN_CUDA_CHECK_LAUNCH("gelu_backward_kernel");
}

}  // namespace tokclean
