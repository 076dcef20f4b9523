#pragma once
// LayerNorm over the last dimension on the GPU (the contract: backend/ops.hpp): one warp per
// row; the mean, then the mean of squared deviations, as on the CPU.
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/detail/column_sums.cuh"
#include "tokclean/backend/cuda/detail/reduce.cuh"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

inline constexpr int ln_warps = 8;  // rows per block

template <class T>
__global__ void layernorm_forward_kernel(T* out, T* mean, T* rstd, const T* inp, const T* weight,
                                         const T* bias, std::int64_t N, std::int64_t C, T eps) {
    const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * ln_warps + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= N) return;
    const T* x = inp + row * C;
    T m = 0;
    for (std::int64_t c = lane; c < C; c += 32) m += x[c];
    m = warp_sum(m) / static_cast<T>(C);
    T v = 0;
    for (std::int64_t c = lane; c < C; c += 32) v += (x[c] - m) * (x[c] - m);
    v = warp_sum(v) / static_cast<T>(C);
    const T s = T(1) / sqrtf(v + eps);
    T* o = out + row * C;
    for (std::int64_t c = lane; c < C; c += 32) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = s;
    }
}

// dinp (N, C) += (dnorm - mean(dnorm) - norm · mean(dnorm · norm)) · rstd, dnorm = weight · dout.
template <class T>
__global__ void layernorm_backward_kernel(T* dinp, const T* dout, const T* inp, const T* weight,
                                          const T* mean, const T* rstd, std::int64_t N, std::int64_t C) {
    const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * ln_warps + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= N) return;
    const T* x = inp + row * C;
    const T* d = dout + row * C;
    const T m = mean[row], s = rstd[row];
    T dnorm_mean = 0, dnorm_norm_mean = 0;
    for (std::int64_t c = lane; c < C; c += 32) {
        const T dnorm = weight[c] * d[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * ((x[c] - m) * s);
    }
    dnorm_mean = warp_sum(dnorm_mean) / static_cast<T>(C);
    dnorm_norm_mean = warp_sum(dnorm_norm_mean) / static_cast<T>(C);
    T* dx = dinp + row * C;
    for (std::int64_t c = lane; c < C; c += 32) {
        const T norm = (x[c] - m) * s;
        dx[c] += (weight[c] * d[c] - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
}

// (dout · norm, dout) at (r, c): the terms of dweight and dbias.
struct LayerNormParamGrad {
    const float *dout, *inp, *mean, *rstd;
    std::int64_t C;
    __device__ float2 operator()(std::int64_t r, std::int64_t c) const {
        const float d = dout[r * C + c];
        return make_float2(d * ((inp[r * C + c] - mean[r]) * rstd[r]), d);
    }
};

}  // namespace cuda_detail

// out (N, C) = (inp - mean) * rstd * weight + bias; saves mean (N) and rstd (N) for backward.
inline void layernorm_forward(Cuda, float* out, float* mean, float* rstd, const float* inp, const float* weight,
                              const float* bias, std::int64_t N, std::int64_t C, float eps) {
    using namespace cuda_detail;
    if (N <= 0) return;
    layernorm_forward_kernel<<<static_cast<unsigned>((N + ln_warps - 1) / ln_warps), 32 * ln_warps, 0, stream()>>>(
        out, mean, rstd, inp, weight, bias, N, C, eps);
    TOKCLEAN_CUDA_CHECK_LAUNCH("layernorm_forward_kernel");
}

// Accumulates dinp (N, C), dweight (C), dbias (C) from dout (N, C); dweight and dbias are
// written over instead with dparam_write = GradWrite::overwrite.
inline void layernorm_backward(Cuda, float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* weight, const float* mean, const float* rstd,
                               std::int64_t N, std::int64_t C, GradWrite dparam_write = GradWrite::accumulate) {
    using namespace cuda_detail;
    if (N > 0) {
        layernorm_backward_kernel<<<static_cast<unsigned>((N + ln_warps - 1) / ln_warps), 32 * ln_warps, 0,
                                    stream()>>>(dinp, dout, inp, weight, mean, rstd, N, C);
        TOKCLEAN_CUDA_CHECK_LAUNCH("layernorm_backward_kernel");
    }
    column_sums(dweight, dbias, dparam_write, N, C, LayerNormParamGrad{dout, inp, mean, rstd, C});
}

}  // namespace tokclean
