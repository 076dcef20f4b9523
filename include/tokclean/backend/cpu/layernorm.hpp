#pragma once
// LayerNorm over the last dimension on the CPU (the contract: backend/ops.hpp), a row at a
// time (the row kernels: detail/row_kernels.hpp). The sums over a row are SIMD reductions in
// a fixed order (the lanes, then a tree), the same for any thread count.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// out (N, C) = (inp - mean) * rstd * weight + bias; saves mean (N) and rstd (N) for backward.
inline void layernorm_forward(Cpu, float* out, float* mean, float* rstd, const float* inp,
                              const float* weight, const float* bias, std::int64_t N,
                              std::int64_t C, float eps) {
    const auto row = cpu_detail::row_kernels().layernorm_forward;
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < N; ++i)
        row(out + i * C, mean + i, rstd + i, inp + i * C, weight, bias, C, eps);
}

// Accumulates dinp (N, C), dweight (C), dbias (C) from dout (N, C); dweight and dbias are
// written over instead with dparam_write = GradWrite::overwrite.
inline void layernorm_backward(Cpu, float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* weight, const float* mean,
                               const float* rstd, std::int64_t N, std::int64_t C,
                               GradWrite dparam_write = GradWrite::accumulate) {
    using namespace cpu_detail;
    const auto row = row_kernels().layernorm_backward;
    const std::int64_t chunks = std::min<std::int64_t>(reduction_chunks, N > 0 ? N : 1);
    // (chunks, 2C): per-chunk partial sums of dweight then dbias.
    std::vector<float> partial(static_cast<std::size_t>(chunks * 2 * C), 0.0f);
#pragma omp parallel for schedule(static)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
        float* pw = partial.data() + ch * 2 * C;
        for (std::int64_t i = N * ch / chunks; i < N * (ch + 1) / chunks; ++i)
            row(dinp + i * C, pw, pw + C, inp + i * C, dout + i * C, weight, mean[i], rstd[i], C);
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
