#pragma once
// Causal multi-head self-attention on the CPU (the contract: backend/ops.hpp). Heads run in
// parallel, one (batch, head) per task; inside a head, queries go in blocks of 32 rows and
// each block only meets the keys at or before its last row, so the work above the diagonal
// (half of T x T) is skipped except inside the diagonal blocks. The products run on the
// calling thread; a head's keys and values are prepared (packed) once for all its query
// blocks. The softmax and dS rows: detail/row_kernels.hpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tokclean/backend/cpu/detail/prepared_b.hpp"
#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/backend/cpu/matmul.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cpu_detail {
inline constexpr std::int64_t attention_query_block = 32;
}  // namespace cpu_detail

// qkv (B, T, 3C): per position [q | k | v], head h owns columns [h·hs, (h+1)·hs) of each.
// out (B, T, C): heads concatenated. att (B, NH, T, T): softmax probabilities, kept for
// backward, entries above the diagonal 0; null when no backward follows (scoring), in which
// case each thread works in its own (32, T) block.
inline void attention_forward(Cpu, float* out, float* att, const float* qkv, std::int64_t B,
                              std::int64_t T, std::int64_t C, std::int64_t NH) {
    using namespace cpu_detail;
    const std::int64_t hs = C / NH, ld = 3 * C, QB = attention_query_block;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    const auto softmax_row = row_kernels().causal_softmax;
#pragma omp parallel
    {
        std::vector<float> own(att ? 0 : static_cast<std::size_t>(QB * T));  // (QB, T)
        PreparedB keys, values;  // kᵀ (hs, T) and v (T, hs), once per head
#pragma omp for collapse(2) schedule(static)
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < NH; ++h) {
                const float* q = qkv + b * T * ld + h * hs;  // (T, hs), row stride 3C
                keys.prepare(q + C, ld, Transpose::yes, hs, T);
                values.prepare(q + 2 * C, ld, Transpose::no, T, hs);
                float* o = out + b * T * C + h * hs;  // (T, hs), row stride C
                for (std::int64_t t0 = 0; t0 < T; t0 += QB) {
                    const std::int64_t t1 = std::min(T, t0 + QB), n = t1 - t0;
                    // p (n, T): rows t0..t1 of the head's probabilities; keys past t1 never met.
                    float* p = att ? att + ((b * NH + h) * T + t0) * T : own.data();
                    keys.multiply(p, T, q + t0 * ld, ld, Transpose::no, n, t1, hs,
                                  GradWrite::overwrite);
                    for (std::int64_t i = 0; i < n; ++i) softmax_row(p + i * T, t0 + i, T, scale);
                    values.multiply(o + t0 * C, C, p, T, Transpose::no, n, hs, t1,
                                    GradWrite::overwrite);
                }
            }
    }
}

// Accumulates dqkv (B, T, 3C) from dout (B, T, C), given qkv and att of the forward.
inline void attention_backward(Cpu, float* dqkv, const float* dout, const float* qkv,
                               const float* att, std::int64_t B, std::int64_t T, std::int64_t C,
                               std::int64_t NH) {
    using namespace cpu_detail;
    const std::int64_t hs = C / NH, ld = 3 * C, QB = attention_query_block;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    const auto dscore_row = row_kernels().attention_dscore;
#pragma omp parallel
    {
        std::vector<float> ds(static_cast<std::size_t>(QB * T));  // (QB, T): dP, then dS
        PreparedB values_t, keys;  // vᵀ (hs, T) and k (T, hs), once per head
#pragma omp for collapse(2) schedule(static)
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < NH; ++h) {
                const float* q = qkv + b * T * ld + h * hs;  // (T, hs), row stride 3C
                values_t.prepare(q + 2 * C, ld, Transpose::yes, hs, T);
                keys.prepare(q + C, ld, Transpose::no, T, hs);
                float* dq = dqkv + b * T * ld + h * hs;
                float* dk = dq + C;
                float* dv = dq + 2 * C;
                const float* dO = dout + b * T * C + h * hs;  // (T, hs), row stride C
                for (std::int64_t t0 = 0; t0 < T; t0 += QB) {
                    const std::int64_t t1 = std::min(T, t0 + QB), n = t1 - t0;
                    const float* p = att + ((b * NH + h) * T + t0) * T;  // (n, T)
                    // dP (n, t1) = dO · vᵀ; dS = P ⊙ (dP - Σ_s P dP) · scale, 0 above the diagonal.
                    values_t.multiply(ds.data(), T, dO + t0 * C, C, Transpose::no, n, t1, hs,
                                      GradWrite::overwrite);
                    for (std::int64_t i = 0; i < n; ++i)
                        dscore_row(ds.data() + i * T, p + i * T, t0 + i + 1, t1, scale);
                    // dq[t0:t1] += dS · k[0:t1]; dk[0:t1] += dSᵀ · q[t0:t1]; dv[0:t1] += Pᵀ · dO[t0:t1].
                    keys.multiply(dq + t0 * ld, ld, ds.data(), T, Transpose::no, n, hs, t1,
                                  GradWrite::accumulate);
                    matmul_strided(Cpu{}, dk, ld, ds.data(), T, Transpose::yes, q + t0 * ld, ld,
                                   Transpose::no, t1, hs, n, GradWrite::accumulate);
                    matmul_strided(Cpu{}, dv, ld, p, T, Transpose::yes, dO + t0 * C, C,
                                   Transpose::no, t1, hs, n, GradWrite::accumulate);
                }
            }
    }
}

}  // namespace tokclean
