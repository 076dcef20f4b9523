#pragma once
// Fills, copies, row gather / scatter (the token-sparse LM head) and the residual connection
// on the GPU (the contract: backend/ops.hpp).
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

// out (M, C) = in[rows[m]]: one block row per m, threads across the channels.
template <class T>
__global__ void gather_rows_kernel(T* out, const T* in, const std::int64_t* rows, std::int64_t M,
                                   std::int64_t C) {
    for (std::int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T* src = in + rows[m] * C;
        T* dst = out + m * C;
        for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) dst[c] = src[c];
    }
}

// out[rows[m]] += in (M, C); rows distinct, so no two blocks write one element.
template <class T>
__global__ void scatter_add_rows_kernel(T* out, const T* in, const std::int64_t* rows, std::int64_t M,
                                        std::int64_t C) {
    for (std::int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        T* dst = out + rows[m] * C;
        const T* src = in + m * C;
        for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) dst[c] += src[c];
    }
}

template <class T>
__global__ void add_kernel(T* out, const T* a, const T* b, std::int64_t N) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        out[i] = a[i] + b[i];
}

template <class T>
__global__ void residual_backward_kernel(T* da, T* db, const T* dout, std::int64_t N) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

inline unsigned row_blocks(std::int64_t M) { return static_cast<unsigned>(std::clamp<std::int64_t>(M, 1, 65535)); }

}  // namespace cuda_detail

// out (N) = 0.
inline void fill_zero(Cuda, float* out, std::int64_t N) {
    if (N > 0)
        TOKCLEAN_CUDA_CHECK(cudaMemsetAsync(out, 0, static_cast<std::size_t>(N) * sizeof(float), cuda_detail::stream()));
}

// out (N) = in (N).
inline void copy_values(Cuda, float* out, const float* in, std::int64_t N) {
    if (N > 0)
        TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(out, in, static_cast<std::size_t>(N) * sizeof(float),
                                            cudaMemcpyDeviceToDevice, cuda_detail::stream()));
}

// out (M, C) = in[rows[m]] with in (N, C); rows (M, on the device) in [0, N).
inline void gather_rows(Cuda, float* out, const float* in, const std::int64_t* rows, std::int64_t M,
                        std::int64_t C) {
    using namespace cuda_detail;
    if (M <= 0) return;
    gather_rows_kernel<<<row_blocks(M), 256, 0, stream()>>>(out, in, rows, M, C);
    TOKCLEAN_CUDA_CHECK_LAUNCH("gather_rows_kernel");
}

// out[rows[m]] (N, C) += in (M, C). Rows (on the device) must be distinct.
inline void scatter_add_rows(Cuda, float* out, const float* in, const std::int64_t* rows, std::int64_t M,
                             std::int64_t C) {
    using namespace cuda_detail;
    if (M <= 0) return;
    scatter_add_rows_kernel<<<row_blocks(M), 256, 0, stream()>>>(out, in, rows, M, C);
    TOKCLEAN_CUDA_CHECK_LAUNCH("scatter_add_rows_kernel");
}

// out (N) = a (N) + b (N).
inline void residual_forward(Cuda, float* out, const float* a, const float* b, std::int64_t N) {
    using namespace cuda_detail;
    if (N <= 0) return;
    add_kernel<<<blocks_for(N, 256, 4096), 256, 0, stream()>>>(out, a, b, N);
    TOKCLEAN_CUDA_CHECK_LAUNCH("add_kernel");
}

// Accumulates da (N) += dout and db (N) += dout.
inline void residual_backward(Cuda, float* da, float* db, const float* dout, std::int64_t N) {
    using namespace cuda_detail;
    if (N <= 0) return;
    residual_backward_kernel<<<blocks_for(N, 256, 4096), 256, 0, stream()>>>(da, db, dout, N);
    TOKCLEAN_CUDA_CHECK_LAUNCH("residual_backward_kernel");
}

}  // namespace tokclean
