#pragma once
// Causal multi-head self-attention on the GPU (the contract: backend/ops.hpp).
// Two ways, chosen per call by fused_attention_applies() (sdpa.cuh), the same for a forward
// and its backward:
//   - bf16 mode where cuDNN's fused kernel takes the shape: cuDNN's SDPA (flash attention).
//     The `att` buffer then keeps the softmax statistics and the bfloat16 output instead of
//     the probabilities (attention_state_size says how much).
//   - otherwise: per sequence, cuBLAS batched products over the heads (S = Q Kᵀ, O = P V),
//     with our causal softmax between them; `att` keeps P (B, NH, T, T) as on the CPU.
// The grouped-query form (AttentionHeads, the Llama family) is the multi-head one when every
// query head has its own kv head; with fewer kv heads it runs the cuBLAS way, one batched
// product per position j of a query head in its group (query heads kv·g + j, g = NH / KVH,
// are evenly strided, as their kv heads are), so no K or V is copied per query head.
#include <cmath>
#include <cstdint>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/detail/gemm.cuh"
#include "tokclean/backend/cuda/detail/reduce.cuh"
#include "tokclean/backend/cuda/sdpa.cuh"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/backend/ops.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

inline constexpr int softmax_warps = 8;  // rows per block, one warp each

// Row r = (h, t) of rows (R, T) holds the scores q_t · k_s; it becomes softmax(scale · s)
// over s <= t, and 0 for s > t.
template <class T>
__global__ void causal_softmax_kernel(T* rows, std::int64_t R, std::int64_t Tlen, T scale) {
    const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * softmax_warps + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= R) return;
    T* row = rows + r * Tlen;
    const std::int64_t len = r % Tlen + 1;
    T mx = -INFINITY;
    for (std::int64_t s = lane; s < len; s += 32) mx = fmaxf(mx, row[s]);
    mx = warp_max(mx);
    T sum = 0;
    for (std::int64_t s = lane; s < len; s += 32) {
        const T e = expf((row[s] - mx) * scale);  // scale > 0: the max of scale · s too
        row[s] = e;
        sum += e;
    }
    const T inv = T(1) / warp_sum(sum);
    for (std::int64_t s = lane; s < Tlen; s += 32) row[s] = s < len ? row[s] * inv : T(0);
}

// dS = scale · P ⊙ (dP − Σ_s P dP) over s <= t, 0 above the diagonal; dP (R, T) in place.
template <class T>
__global__ void causal_softmax_backward_kernel(T* dp, const T* p, std::int64_t R, std::int64_t Tlen, T scale) {
    const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * softmax_warps + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= R) return;
    T* drow = dp + r * Tlen;
    const T* prow = p + r * Tlen;
    const std::int64_t len = r % Tlen + 1;
    T dot = 0;
    for (std::int64_t s = lane; s < len; s += 32) dot += prow[s] * drow[s];
    dot = warp_sum(dot);
    for (std::int64_t s = lane; s < Tlen; s += 32) drow[s] = s < len ? scale * prow[s] * (drow[s] - dot) : T(0);
}

inline unsigned softmax_blocks(std::int64_t rows) {
    return static_cast<unsigned>((rows + softmax_warps - 1) / softmax_warps);
}

}  // namespace cuda_detail

// Floats of `att` one layer's attention keeps for backward: (B, NH, T, T) probabilities, or
// with cuDNN's fused attention its statistics and output (nn/gpt_activations.hpp asks).
inline std::int64_t attention_state_size(Cuda, std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH) {
    if (cuda_detail::fused_attention_applies(B, T, C, NH, true)) return cuda_detail::sdpa_state_size(B, T, C, NH);
    return B * NH * T * T;
}

// qkv (B, T, 3C): per position [q | k | v], head h owns columns [h·hs, (h+1)·hs) of each.
// out (B, T, C): heads concatenated. att: what backward needs (attention_state_size floats),
// or null when no backward follows (scoring).
inline void attention_forward(Cuda, float* out, float* att, const float* qkv, std::int64_t B, std::int64_t T,
                              std::int64_t C, std::int64_t NH) {
    using namespace cuda_detail;
    if (B * T <= 0) return;
    if (fused_attention_applies(B, T, C, NH, att != nullptr)) {
        sdpa_forward(out, att, qkv, B, T, C, NH);
        return;
    }
    const std::int64_t hs = C / NH, ld = 3 * C, TT = T * T;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    std::optional<Scratch<float>> own;  // (NH, T, T) for one sequence at a time when scoring
    if (!att) own.emplace(static_cast<std::size_t>(NH * TT));
    for (std::int64_t b = 0; b < B; ++b) {
        const float* q = qkv + b * T * ld;             // head h: (T, hs) at column h·hs, row stride 3C
        float* p = att ? att + b * NH * TT : own->get(); // (NH, T, T)
        // S_h (T, T) = Q_h · K_hᵀ for every head h (batch stride hs between heads).
        gemm_batched(p, T, TT, {q, ld, false}, hs, {q + C, ld, true}, hs, T, T, hs, NH, GradWrite::overwrite);
        causal_softmax_kernel<<<softmax_blocks(NH * T), 32 * softmax_warps, 0, stream()>>>(p, NH * T, T, scale);
        TOKCLEAN_CUDA_CHECK_LAUNCH("causal_softmax_kernel");
        // O_h (T, hs) = P_h · V_h, into columns h·hs of out (row stride C).
        gemm_batched(out + b * T * C, C, hs, {p, T, false}, TT, {q + 2 * C, ld, false}, hs, T, hs, T, NH,
                     GradWrite::overwrite);
    }
}

// Accumulates dqkv (B, T, 3C) from dout (B, T, C), given qkv and att of the forward.
inline void attention_backward(Cuda, float* dqkv, const float* dout, const float* qkv, const float* att,
                               std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH) {
    using namespace cuda_detail;
    if (B * T <= 0) return;
    if (fused_attention_applies(B, T, C, NH, true)) {
        sdpa_backward(dqkv, dout, qkv, att, B, T, C, NH);
        return;
    }
    const std::int64_t hs = C / NH, ld = 3 * C, TT = T * T;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    Scratch<float> ds(static_cast<std::size_t>(NH * TT));  // (NH, T, T): dP, then dS in place
    for (std::int64_t b = 0; b < B; ++b) {
        const float* q = qkv + b * T * ld;
        const float* p = att + b * NH * TT;  // (NH, T, T)
        const float* dO = dout + b * T * C;  // head h: (T, hs) at column h·hs, row stride C
        float* dq = dqkv + b * T * ld;
        // dP_h = dO_h · V_hᵀ, then dS_h = softmax backward.
        gemm_batched(ds.get(), T, TT, {dO, C, false}, hs, {q + 2 * C, ld, true}, hs, T, T, hs, NH,
                     GradWrite::overwrite);
        causal_softmax_backward_kernel<<<softmax_blocks(NH * T), 32 * softmax_warps, 0, stream()>>>(
            ds.get(), p, NH * T, T, scale);
        TOKCLEAN_CUDA_CHECK_LAUNCH("causal_softmax_backward_kernel");
        // dQ_h += dS_h · K_h; dK_h += dS_hᵀ · Q_h; dV_h += P_hᵀ · dO_h.
        constexpr GradWrite add = GradWrite::accumulate;
        gemm_batched(dq, ld, hs, {ds.get(), T, false}, TT, {q + C, ld, false}, hs, T, hs, T, NH, add);
        gemm_batched(dq + C, ld, hs, {ds.get(), T, true}, TT, {q, ld, false}, hs, T, hs, T, NH, add);
        gemm_batched(dq + 2 * C, ld, hs, {p, T, true}, TT, {dO, C, false}, hs, T, hs, T, NH, add);
    }
}

// Floats of `att` for the grouped-query form: the multi-head form's when KVH = NH, else the
// probabilities (B, NH, T, T).
inline std::int64_t attention_state_size(Cuda, std::int64_t B, std::int64_t T, AttentionHeads heads) {
    if (heads.kv == heads.query) return attention_state_size(Cuda{}, B, T, heads.query * heads.dim, heads.query);
    return B * heads.query * T * T;
}

// qkv (B, T, (NH + 2·KVH)·hd): per position [q heads | k heads | v heads]; out (B, T, NH·hd);
// query head h reads kv head h / (NH / KVH). att: attention_state_size(Cuda, B, T, heads)
// floats, or null (scoring).
inline void attention_forward(Cuda, float* out, float* att, const float* qkv, std::int64_t B, std::int64_t T,
                              AttentionHeads heads) {
    using namespace cuda_detail;
    const std::int64_t NH = heads.query, KVH = heads.kv, hd = heads.dim;
    if (KVH == NH) return attention_forward(Cuda{}, out, att, qkv, B, T, NH * hd, NH);
    if (B * T <= 0) return;
    const std::int64_t g = NH / KVH, ld = (NH + 2 * KVH) * hd, ldo = NH * hd, TT = T * T;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    std::optional<Scratch<float>> own;  // (NH, T, T) for one sequence at a time when scoring
    if (!att) own.emplace(static_cast<std::size_t>(NH * TT));
    for (std::int64_t b = 0; b < B; ++b) {
        const float* q = qkv + b * T * ld;  // (T, ld): q heads, then k heads at NH·hd, v heads at (NH + KVH)·hd
        const float *k = q + NH * hd, *v = k + KVH * hd;
        float* p = att ? att + b * NH * TT : own->get();  // (NH, T, T)
        // S_h (T, T) = Q_h · K_kvᵀ for h = kv·g + j, over kv (batch strides g·hd, hd, g·TT).
        for (std::int64_t j = 0; j < g; ++j)
            gemm_batched(p + j * TT, T, g * TT, {q + j * hd, ld, false}, g * hd, {k, ld, true}, hd, T, T, hd, KVH,
                         GradWrite::overwrite);
        causal_softmax_kernel<<<softmax_blocks(NH * T), 32 * softmax_warps, 0, stream()>>>(p, NH * T, T, scale);
        TOKCLEAN_CUDA_CHECK_LAUNCH("causal_softmax_kernel");
        // O_h (T, hd) = P_h · V_kv, into columns h·hd of out (row stride NH·hd).
        for (std::int64_t j = 0; j < g; ++j)
            gemm_batched(out + b * T * ldo + j * hd, ldo, g * hd, {p + j * TT, T, false}, g * TT, {v, ld, false}, hd,
                         T, hd, T, KVH, GradWrite::overwrite);
    }
}

// Accumulates dqkv (B, T, (NH + 2·KVH)·hd) from dout (B, T, NH·hd); a kv head's dK, dV sum
// over its query heads (j = 0, 1, … in order).
inline void attention_backward(Cuda, float* dqkv, const float* dout, const float* qkv, const float* att,
                               std::int64_t B, std::int64_t T, AttentionHeads heads) {
    using namespace cuda_detail;
    const std::int64_t NH = heads.query, KVH = heads.kv, hd = heads.dim;
    if (KVH == NH) return attention_backward(Cuda{}, dqkv, dout, qkv, att, B, T, NH * hd, NH);
    if (B * T <= 0) return;
    const std::int64_t g = NH / KVH, ld = (NH + 2 * KVH) * hd, ldo = NH * hd, TT = T * T;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    Scratch<float> ds(static_cast<std::size_t>(NH * TT));  // (NH, T, T): dP, then dS in place
    constexpr GradWrite add = GradWrite::accumulate;
    for (std::int64_t b = 0; b < B; ++b) {
        const float* q = qkv + b * T * ld;
        const float *k = q + NH * hd, *v = k + KVH * hd;
        const float* p = att + b * NH * TT;   // (NH, T, T)
        const float* dO = dout + b * T * ldo;  // head h: (T, hd) at column h·hd
        float* dq = dqkv + b * T * ld;
        float *dk = dq + NH * hd, *dv = dk + KVH * hd;
        // dP_h = dO_h · V_kvᵀ, then dS_h = softmax backward.
        for (std::int64_t j = 0; j < g; ++j)
            gemm_batched(ds.get() + j * TT, T, g * TT, {dO + j * hd, ldo, false}, g * hd, {v, ld, true}, hd, T, T, hd,
                         KVH, GradWrite::overwrite);
        causal_softmax_backward_kernel<<<softmax_blocks(NH * T), 32 * softmax_warps, 0, stream()>>>(
            ds.get(), p, NH * T, T, scale);
        TOKCLEAN_CUDA_CHECK_LAUNCH("causal_softmax_backward_kernel");
        // dQ_h += dS_h · K_kv; dK_kv += dS_hᵀ · Q_h; dV_kv += P_hᵀ · dO_h. Within one call the
        // KVH products write distinct heads; the g calls add in turn.
        for (std::int64_t j = 0; j < g; ++j) {
            const float* dsj = ds.get() + j * TT;
            gemm_batched(dq + j * hd, ld, g * hd, {dsj, T, false}, g * TT, {k, ld, false}, hd, T, hd, T, KVH, add);
            gemm_batched(dk, ld, hd, {dsj, T, true}, g * TT, {q + j * hd, ld, false}, g * hd, T, hd, T, KVH, add);
            gemm_batched(dv, ld, hd, {p + j * TT, T, true}, g * TT, {dO + j * hd, ldo, false}, g * hd, T, hd, T, KVH,
                         add);
        }
    }
}

}  // namespace tokclean
