#pragma once
// LayerNorm over the last dimension on the CPU (the contract: backend/ops.hpp). The sums over
// a row are SIMD reductions in a fixed order (the compiler's lanes, then a tree), the same for
// any thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// out (N, C) = (inp - mean) * rstd * weight + bias; saves mean (N) and rstd (N) for backward.
inline void layernorm_forward(Cpu, float* out, float* mean, float* rstd, const float* inp,
                              const float* weight, const float* bias, std::int64_t N,
                              std::int64_t C, float eps) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < N; ++i) {
        const float* x = inp + i * C;
        float m = 0.0f;
#pragma omp simd reduction(+ : m)
        for (std::int64_t c = 0; c < C; ++c) m += x[c];
        m /= static_cast<float>(C);
        float v = 0.0f;
#pragma omp simd reduction(+ : v)
        for (std::int64_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
        v /= static_cast<float>(C);
        const float s = 1.0f / std::sqrt(v + eps);
        float* o = out + i * C;
#pragma omp simd
        for (std::int64_t c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c] + bias[c];
        mean[i] = m;
        rstd[i] = s;
    }
}

// Accumulates dinp (N, C), dweight (C), dbias (C) from dout (N, C); dweight and dbias are
// written over instead with dparam_write = GradWrite::overwrite.
inline void layernorm_backward(Cpu, float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* weight, const float* mean,
                               const float* rstd, std::int64_t N, std::int64_t C,
                               GradWrite dparam_write = GradWrite::accumulate) {
    using namespace cpu_detail;
    const std::int64_t chunks = std::min<std::int64_t>(reduction_chunks, N > 0 ? N : 1);
    // (chunks, 2C): per-chunk partial sums of dweight then dbias.
    std::vector<float> partial(static_cast<std::size_t>(chunks * 2 * C), 0.0f);
#pragma omp parallel for schedule(static)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
        float* pw = partial.data() + ch * 2 * C;
        float* pb = pw + C;
        for (std::int64_t i = N * ch / chunks; i < N * (ch + 1) / chunks; ++i) {
            const float* x = inp + i * C;
            const float* d = dout + i * C;
            float* dx = dinp + i * C;
            const float m = mean[i], s = rstd[i];
            float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
            for (std::int64_t c = 0; c < C; ++c) {
                const float norm = (x[c] - m) * s;
                const float dnorm = weight[c] * d[c];
                dnorm_mean += dnorm;
                dnorm_norm_mean += dnorm * norm;
            }
            dnorm_mean /= static_cast<float>(C);
            dnorm_norm_mean /= static_cast<float>(C);
#pragma omp simd
            for (std::int64_t c = 0; c < C; ++c) {
                const float norm = (x[c] - m) * s;
                const float dnorm = weight[c] * d[c];
                pb[c] += d[c];
                pw[c] += norm * d[c];
                dx[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
            }
        }
    }
    if (dparam_write == GradWrite::overwrite) {
        std::fill_n(dweight, C, 0.0f);
        std::fill_n(dbias, C, 0.0f);
    }
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
        const float* pw = partial.data() + ch * 2 * C;
#pragma omp simd
        for (std::int64_t c = 0; c < C; ++c) {
            dweight[c] += pw[c];
            dbias[c] += pw[C + c];
        }
    }
}

}  // namespace tokclean
