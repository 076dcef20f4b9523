#pragma once
// RMSNorm on the CPU (Llama, Mistral, Qwen): x · rstd · weight, rstd = 1 / sqrt(mean(x²) + eps),
// as Hugging Face's LlamaRMSNorm computes it in float32 (the weight multiplies the normalised
// value). Over "heads" of rows, so that one call covers both the per-position norm (heads = 1)
// and Qwen3's per-head q / k norm (a block of heads inside each qkv row: stride > heads·C).
// The row kernels: detail/row_kernels.hpp. dweight sums over rows in fixed chunks, the same
// bits for any thread count.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// For n < N, h < heads: x = inp[n·stride + h·C, +C), rstd[n·heads + h] = 1/sqrt(mean(x²) + eps),
// out[n·stride + h·C + i] = x[i] · rstd · weight[i]. inp, out (N, stride) with stride -1 meaning
// heads·C; weight (C); rstd (N, heads). Only those heads' floats of out are written. out != inp
// (backward reads inp).
inline void rmsnorm_forward(Cpu, float* out, float* rstd, const float* inp, const float* weight, std::int64_t N,
                            std::int64_t C, float eps, std::int64_t heads = 1, std::int64_t stride = -1) {
    const auto row = cpu_detail::row_kernels().rmsnorm_forward;
    if (stride < 0) stride = heads * C;
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t h = 0; h < heads; ++h) {
            const std::int64_t at = n * stride + h * C;
            row(out + at, rstd + n * heads + h, inp + at, weight, C, eps);
        }
}

// Gradients from dout (laid out as out): dinp (as inp) = or += (write) the input gradient;
// dweight (C) += Σ over rows and heads of (x · rstd) · dout, always accumulating.
inline void rmsnorm_backward(Cpu, float* dinp, float* dweight, const float* dout, const float* inp,
                             const float* weight, const float* rstd, std::int64_t N, std::int64_t C,
                             std::int64_t heads = 1, std::int64_t stride = -1,
                             GradWrite write = GradWrite::accumulate) {
    using namespace cpu_detail;
    const auto row = row_kernels().rmsnorm_backward;
    if (stride < 0) stride = heads * C;
    const std::int64_t rows = N * heads;  // row r: position r / heads, head r % heads
    const std::int64_t chunks = std::min<std::int64_t>(reduction_chunks, rows > 0 ? rows : 1);
    std::vector<float> partial(static_cast<std::size_t>(chunks * C), 0.0f);  // (chunks, C) of dweight
#pragma omp parallel for schedule(static)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
        float* pw = partial.data() + ch * C;
        for (std::int64_t r = rows * ch / chunks; r < rows * (ch + 1) / chunks; ++r) {
            const std::int64_t at = r / heads * stride + r % heads * C;
            row(dinp + at, pw, inp + at, dout + at, weight, rstd[r], C, write);
        }
    }
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
        const float* pw = partial.data() + ch * C;
#pragma omp simd
        for (std::int64_t c = 0; c < C; ++c) dweight[c] += pw[c];
    }
}

}  // namespace tokclean
