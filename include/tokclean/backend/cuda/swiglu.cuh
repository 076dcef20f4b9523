#pragma once
// SwiGLU on the fused gate | up projection, on the GPU (the contract: backend/ops.hpp):
// silu(g) = g · σ(g), σ(g) = 1 / (1 + e^−g), full relative accuracy where silu is tiny.
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

__device__ inline float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

// Element e of N·I: row e / I, channel e % I; gate at row·2I + channel, up I further.
template <class T>
__global__ void swiglu_forward_kernel(T* out, const T* gate_up, std::int64_t NI, std::int64_t I) {
    for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < NI;
         e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        const T* g = gate_up + e / I * 2 * I + e % I;
        out[e] = g[0] * sigmoid(g[0]) * g[I];
    }
}

// dup = silu(g) · dout, dgate = up · dout · silu'(g), silu'(g) = σ(g) (1 + g (1 − σ(g))).
template <class T>
__global__ void swiglu_backward_kernel(T* dgate_up, const T* gate_up, const T* dout, std::int64_t NI, std::int64_t I,
                                       GradWrite write) {
    for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < NI;
         e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        const std::int64_t at = e / I * 2 * I + e % I;
        const T g = gate_up[at], up = gate_up[at + I], s = sigmoid(g), d = dout[e];
        const T dgate = up * d * (s * (T(1) + g * (T(1) - s))), dup = g * s * d;
        const bool add = write == GradWrite::accumulate;
        dgate_up[at] = add ? dgate_up[at] + dgate : dgate;
        dgate_up[at + I] = add ? dgate_up[at + I] + dup : dup;
    }
}

}  // namespace cuda_detail

// out (N, I) = silu(gate) · up; gate_up (N, 2I), row n [gate (I) | up (I)].
inline void swiglu_forward(Cuda, float* out, const float* gate_up, std::int64_t N, std::int64_t I) {
    using namespace cuda_detail;
    if (N * I <= 0) return;
    swiglu_forward_kernel<<<blocks_for(N * I, 256, 8192), 256, 0, stream()>>>(out, gate_up, N * I, I);
    TOKCLEAN_CUDA_CHECK_LAUNCH("swiglu_forward_kernel");
}

// dgate_up (N, 2I) = (or += with accumulate) the gradient from dout (N, I).
inline void swiglu_backward(Cuda, float* dgate_up, const float* gate_up, const float* dout, std::int64_t N,
                            std::int64_t I, GradWrite write = GradWrite::overwrite) {
    using namespace cuda_detail;
    if (N * I <= 0) return;
    swiglu_backward_kernel<<<blocks_for(N * I, 256, 8192), 256, 0, stream()>>>(dgate_up, gate_up, dout, N * I, I,
                                                                               write);
    TOKCLEAN_CUDA_CHECK_LAUNCH("swiglu_backward_kernel");
}

}  // namespace tokclean
