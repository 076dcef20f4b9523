#pragma once
// Inverted dropout and scaling on the GPU (the contract: backend/ops.hpp); the mask is the
// CPU's (backend/detail/dropout_mask.hpp), bit for bit.
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/detail/dropout_mask.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

template <class T>
__global__ void dropout_kernel(T* out, const T* in, std::int64_t N, std::uint32_t threshold, T scale,
                                      std::uint64_t seed) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        out[i] = dropout_detail::kept(seed, static_cast<std::uint64_t>(i), threshold) ? in[i] * scale : T(0);
}

template <class T>
__global__ void scale_kernel(T* x, T s, std::int64_t N) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        x[i] *= s;
}

}  // namespace cuda_detail

// out (N) = in (N) · keep(seed, i) / (1 - p); out may be in.
inline void dropout_forward(Cuda, float* out, const float* in, std::int64_t N, float p, std::uint64_t seed) {
    using namespace cuda_detail;
    if (N <= 0) return;
    dropout_kernel<<<blocks_for(N, 256), 256, 0, stream()>>>(out, in, N, dropout_detail::drop_threshold(p),
                                                             1.0f / (1.0f - p), seed);
    TOKCLEAN_CUDA_CHECK_LAUNCH("dropout_kernel");
}

// x (N) *= s.
inline void scale_values(Cuda, float* x, float s, std::int64_t N) {
    using namespace cuda_detail;
    if (N <= 0) return;
    scale_kernel<<<blocks_for(N, 256), 256, 0, stream()>>>(x, s, N);
    TOKCLEAN_CUDA_CHECK_LAUNCH("scale_kernel");
}

}  // namespace tokclean
