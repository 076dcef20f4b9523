#pragma once
// Causal self-attention on the CPU (the contract: backend/ops.hpp), multi-head (GPT-2) and
// grouped-query (Llama, Mistral, Qwen: several query heads share a key/value head) in one
// kernel. Query heads run in parallel, one (batch, query head) per task; inside a head,
// queries go in blocks of 32 rows and each block only meets the keys at or before its last
// row, so the work above the diagonal (half of T x T) is skipped except inside the diagonal
// blocks. The products run on the calling thread; a kv head's keys and values are prepared
// (packed) once for all the query blocks of the thread's consecutive heads that share it. The
// softmax and dS rows: detail/row_kernels.hpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tokclean/backend/cpu/detail/gemm_operand.hpp"
#include "tokclean/backend/cpu/detail/prepared_b.hpp"
#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/backend/cpu/matmul.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/backend/ops.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cpu_detail {
inline constexpr std::int64_t attention_query_block = 32;

// Where the heads of one batch row live in qkv (B, T, (NH + 2·KVH)·hd): per position
// [q heads (NH·hd) | k heads (KVH·hd) | v heads (KVH·hd)], query head h on kv head h / group.
struct AttentionLayout {
    std::int64_t NH, KVH, hd, group;
    std::int64_t ld;   // floats per position of qkv
    std::int64_t ldo;  // floats per position of out: NH·hd
    explicit AttentionLayout(AttentionHeads h)
        : NH(h.query), KVH(h.kv), hd(h.dim), group(h.query / h.kv), ld((h.query + 2 * h.kv) * h.dim),
          ldo(h.query * h.dim) {}
    std::int64_t q(std::int64_t h) const { return h * hd; }
    std::int64_t k(std::int64_t kvh) const { return (NH + kvh) * hd; }
    std::int64_t v(std::int64_t kvh) const { return (NH + KVH + kvh) * hd; }
};
}  // namespace cpu_detail

// qkv (B, T, (NH + 2·KVH)·hd) as AttentionLayout says, NH = heads.query, KVH = heads.kv,
// hd = heads.dim; query head h attends with kv head h / (NH / KVH), scale 1/sqrt(hd), causal.
// out (B, T, NH·hd): the query heads concatenated. att (B, NH, T, T): softmax probabilities,
// kept for backward, entries above the diagonal 0; null when no backward follows (scoring), in
// which case each thread works in its own (32, T) block.
inline void attention_forward(Cpu, float* out, float* att, const float* qkv, std::int64_t B, std::int64_t T,
                              AttentionHeads heads) {
    using namespace cpu_detail;
    const AttentionLayout L(heads);
    const std::int64_t NH = L.NH, hd = L.hd, ld = L.ld, ldo = L.ldo, QB = attention_query_block;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const auto softmax_row = row_kernels().causal_softmax;
#pragma omp parallel
    {
        std::vector<float> own(att ? 0 : static_cast<std::size_t>(QB * T));  // (QB, T)
        PreparedB keys, values;  // kᵀ (hd, T) and v (T, hd) of kv head `prepared`
        std::int64_t prepared = -1;  // b · KVH + kv head
#pragma omp for collapse(2) schedule(static)
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < NH; ++h) {
                const std::int64_t kvh = h / L.group;
                const float* x = qkv + b * T * ld;  // (T, ld)
                if (b * L.KVH + kvh != prepared) {
                    keys.prepare(x + L.k(kvh), ld, Transpose::yes, hd, T);
                    values.prepare(x + L.v(kvh), ld, Transpose::no, T, hd);
                    prepared = b * L.KVH + kvh;
                }
                const float* q = x + L.q(h);                // (T, hd), row stride ld
                float* o = out + b * T * ldo + h * hd;      // (T, hd), row stride NH·hd
                for (std::int64_t t0 = 0; t0 < T; t0 += QB) {
                    const std::int64_t t1 = std::min(T, t0 + QB), n = t1 - t0;
                    // p (n, T): rows t0..t1 of the head's probabilities; keys past t1 never met.
                    float* p = att ? att + ((b * NH + h) * T + t0) * T : own.data();
                    keys.multiply(p, T, q + t0 * ld, ld, Transpose::no, n, t1, hd, GradWrite::overwrite);
                    for (std::int64_t i = 0; i < n; ++i) softmax_row(p + i * T, t0 + i, T, scale);
                    values.multiply(o + t0 * ldo, ldo, p, T, Transpose::no, n, hd, t1, GradWrite::overwrite);
                }
            }
    }
}

// Accumulates dqkv (B, T, (NH + 2·KVH)·hd) from dout (B, T, NH·hd), given qkv and att of the
// forward. A kv head's dK and dV sum over its query heads in a fixed order whatever the
// thread count: the first query head of each group adds into dqkv as it goes, the others
// into spare buffers added afterwards in head order.
inline void attention_backward(Cpu, float* dqkv, const float* dout, const float* qkv, const float* att,
                               std::int64_t B, std::int64_t T, AttentionHeads heads) {
    using namespace cpu_detail;
    const AttentionLayout L(heads);
    const std::int64_t NH = L.NH, KVH = L.KVH, hd = L.hd, ld = L.ld, ldo = L.ldo, QB = attention_query_block;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const auto dscore_row = row_kernels().attention_dscore;
    // (B, KVH, group - 1, T, 2·hd): [dK | dV] rows of query head g >= 1 of each group.
    const std::int64_t spares = B * KVH * (L.group - 1), spare_size = T * 2 * hd;
    static thread_local Scratch spare_scratch;
    float* const spare = spares ? spare_scratch.get(spares * spare_size) : nullptr;
#pragma omp parallel
    {
        std::vector<float> ds(static_cast<std::size_t>(QB * T));  // (QB, T): dP, then dS
        PreparedB values_t, keys;  // vᵀ (hd, T) and k (T, hd) of kv head `prepared`
        std::int64_t prepared = -1;  // b · KVH + kv head
#pragma omp for collapse(2) schedule(static)
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t h = 0; h < NH; ++h) {
                const std::int64_t kvh = h / L.group, g = h % L.group;
                const float* x = qkv + b * T * ld;  // (T, ld)
                if (b * KVH + kvh != prepared) {
                    values_t.prepare(x + L.v(kvh), ld, Transpose::yes, hd, T);
                    keys.prepare(x + L.k(kvh), ld, Transpose::no, T, hd);
                    prepared = b * KVH + kvh;
                }
                const float* q = x + L.q(h);  // (T, hd), row stride ld
                float* dq = dqkv + b * T * ld + L.q(h);
                // dk, dv (T, hd), row stride lkv: in dqkv, or this head's spare.
                float *dk, *dv;
                std::int64_t lkv;
                if (g == 0) {
                    dk = dqkv + b * T * ld + L.k(kvh);
                    dv = dqkv + b * T * ld + L.v(kvh);
                    lkv = ld;
                } else {
                    dk = spare + ((b * KVH + kvh) * (L.group - 1) + g - 1) * spare_size;
                    dv = dk + hd;
                    lkv = 2 * hd;
                    std::fill_n(dk, spare_size, 0.0f);
                }
                const float* dO = dout + b * T * ldo + h * hd;  // (T, hd), row stride NH·hd
                for (std::int64_t t0 = 0; t0 < T; t0 += QB) {
                    const std::int64_t t1 = std::min(T, t0 + QB), n = t1 - t0;
                    const float* p = att + ((b * NH + h) * T + t0) * T;  // (n, T)
                    // dP (n, t1) = dO · vᵀ; dS = P ⊙ (dP - Σ_s P dP) · scale, 0 above the diagonal.
                    values_t.multiply(ds.data(), T, dO + t0 * ldo, ldo, Transpose::no, n, t1, hd,
                                      GradWrite::overwrite);
                    for (std::int64_t i = 0; i < n; ++i) dscore_row(ds.data() + i * T, p + i * T, t0 + i + 1, t1, scale);
                    // dq[t0:t1] += dS · k[0:t1]; dk[0:t1] += dSᵀ · q[t0:t1]; dv[0:t1] += Pᵀ · dO[t0:t1].
                    keys.multiply(dq + t0 * ld, ld, ds.data(), T, Transpose::no, n, hd, t1, GradWrite::accumulate);
                    matmul_strided(Cpu{}, dk, lkv, ds.data(), T, Transpose::yes, q + t0 * ld, ld, Transpose::no, t1,
                                   hd, n, GradWrite::accumulate);
                    matmul_strided(Cpu{}, dv, lkv, p, T, Transpose::yes, dO + t0 * ldo, ldo, Transpose::no, t1, hd,
                                   n, GradWrite::accumulate);
                }
            }
        if (spares) {
            // The spares into dK, dV, query heads in order; element-wise over positions.
#pragma omp for collapse(2) schedule(static)
            for (std::int64_t b = 0; b < B; ++b)
                for (std::int64_t t = 0; t < T; ++t)
                    for (std::int64_t kvh = 0; kvh < KVH; ++kvh) {
                        float* dk = dqkv + (b * T + t) * ld + L.k(kvh);
                        float* dv = dqkv + (b * T + t) * ld + L.v(kvh);
                        for (std::int64_t g = 1; g < L.group; ++g) {
                            const float* s = spare + ((b * KVH + kvh) * (L.group - 1) + g - 1) * spare_size + t * 2 * hd;
#pragma omp simd
                            for (std::int64_t d = 0; d < hd; ++d) {
                                dk[d] += s[d];
                                dv[d] += s[hd + d];
                            }
                        }
                    }
        }
    }
}

// GPT-2's multi-head form: qkv (B, T, 3C), out (B, T, C), NH heads of C / NH.
inline void attention_forward(Cpu, float* out, float* att, const float* qkv, std::int64_t B, std::int64_t T,
                              std::int64_t C, std::int64_t NH) {
    attention_forward(Cpu{}, out, att, qkv, B, T, AttentionHeads{NH, NH, C / NH});
}

inline void attention_backward(Cpu, float* dqkv, const float* dout, const float* qkv, const float* att,
                               std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH) {
    attention_backward(Cpu{}, dqkv, dout, qkv, att, B, T, AttentionHeads{NH, NH, C / NH});
}

}  // namespace tokclean
