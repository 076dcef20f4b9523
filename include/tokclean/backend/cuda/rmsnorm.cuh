#pragma once
// RMSNorm over heads of rows on the GPU (the contract: backend/ops.hpp): one warp per
// (position, head) row, x · rstd · weight with rstd = 1 / sqrt(mean(x²) + eps), as on the CPU.
// dweight sums over rows in fixed chunks (detail/column_sums.cuh): the same bits every run.
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/detail/column_sums.cuh"
#include "tokclean/backend/cuda/detail/reduce.cuh"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

inline constexpr int rms_warps = 8;  // rows per block

// Row r of rows = N · heads: position r / heads, head r % heads, at r / heads · stride + r % heads · C.
__host__ __device__ inline std::int64_t head_row_start(std::int64_t r, std::int64_t heads, std::int64_t stride,
                                                       std::int64_t C) {
    return r / heads * stride + r % heads * C;
}

template <class T>
__global__ void rmsnorm_forward_kernel(T* out, T* rstd, const T* inp, const T* weight, std::int64_t rows,
                                       std::int64_t C, T eps, std::int64_t heads, std::int64_t stride) {
    const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * rms_warps + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const std::int64_t at = head_row_start(r, heads, stride, C);
    const T* x = inp + at;
    T ss = 0;
    for (std::int64_t c = lane; c < C; c += 32) ss += x[c] * x[c];
    const T s = T(1) / sqrtf(warp_sum(ss) / static_cast<T>(C) + eps);
    T* o = out + at;
    for (std::int64_t c = lane; c < C; c += 32) o[c] = (x[c] * s) * weight[c];
    if (lane == 0) rstd[r] = s;
}

// With n = x · s and dn = weight · d: dx = (or +=) s (dn − n · mean(dn · n)).
template <class T>
__global__ void rmsnorm_backward_kernel(T* dinp, const T* dout, const T* inp, const T* weight, const T* rstd,
                                        std::int64_t rows, std::int64_t C, std::int64_t heads, std::int64_t stride,
                                        GradWrite write) {
    const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * rms_warps + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const std::int64_t at = head_row_start(r, heads, stride, C);
    const T *x = inp + at, *d = dout + at;
    const T s = rstd[r];
    T dot = 0;
    for (std::int64_t c = lane; c < C; c += 32) dot += weight[c] * d[c] * (x[c] * s);
    dot = warp_sum(dot) / static_cast<T>(C);
    T* dx = dinp + at;
    for (std::int64_t c = lane; c < C; c += 32) {
        const T g = (weight[c] * d[c] - (x[c] * s) * dot) * s;
        dx[c] = write == GradWrite::accumulate ? dx[c] + g : g;
    }
}

// (dout · x · rstd, 0) at (row, c): the terms of dweight.
struct RmsNormWeightGrad {
    const float *dout, *inp, *rstd;
    std::int64_t C, heads, stride;
    __device__ float2 operator()(std::int64_t r, std::int64_t c) const {
        const std::int64_t at = head_row_start(r, heads, stride, C) + c;
        return make_float2(dout[at] * (inp[at] * rstd[r]), 0.0f);
    }
};

inline unsigned rms_blocks(std::int64_t rows) { return static_cast<unsigned>((rows + rms_warps - 1) / rms_warps); }

}  // namespace cuda_detail

// For n < N, h < heads: x = inp[n·stride + h·C, +C); out at the same place = x · rstd · weight (C),
// rstd (N, heads) saved. stride −1 means heads·C. out != inp.
inline void rmsnorm_forward(Cuda, float* out, float* rstd, const float* inp, const float* weight, std::int64_t N,
                            std::int64_t C, float eps, std::int64_t heads = 1, std::int64_t stride = -1) {
    using namespace cuda_detail;
    if (stride < 0) stride = heads * C;
    const std::int64_t rows = N * heads;
    if (rows <= 0) return;
    rmsnorm_forward_kernel<<<rms_blocks(rows), 32 * rms_warps, 0, stream()>>>(out, rstd, inp, weight, rows, C, eps,
                                                                              heads, stride);
    TOKCLEAN_CUDA_CHECK_LAUNCH("rmsnorm_forward_kernel");
}

// dinp (laid out as inp) = or += (write) the gradient from dout (laid out as out); dweight (C)
// always accumulates.
inline void rmsnorm_backward(Cuda, float* dinp, float* dweight, const float* dout, const float* inp,
                             const float* weight, const float* rstd, std::int64_t N, std::int64_t C,
                             std::int64_t heads = 1, std::int64_t stride = -1,
                             GradWrite write = GradWrite::accumulate) {
    using namespace cuda_detail;
    if (stride < 0) stride = heads * C;
    const std::int64_t rows = N * heads;
    if (rows > 0) {
        rmsnorm_backward_kernel<<<rms_blocks(rows), 32 * rms_warps, 0, stream()>>>(dinp, dout, inp, weight, rstd,
                                                                                   rows, C, heads, stride, write);
        TOKCLEAN_CUDA_CHECK_LAUNCH("rmsnorm_backward_kernel");
    }
    column_sums(dweight, nullptr, GradWrite::accumulate, rows, C, RmsNormWeightGrad{dout, inp, rstd, C, heads, stride});
}

}  // namespace tokclean
