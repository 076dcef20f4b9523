#pragma once
// Causal multi-head self-attention on the GPU (the contract: backend/ops.hpp).
// Two ways, chosen per call by fused_attention_applies() (sdpa.cuh), the same for a forward
// and its backward:
//   - bf16 mode where cuDNN's fused kernel takes the shape: cuDNN's SDPA (flash attention).
//     The `att` buffer then keeps the softmax statistics and the bfloat16 output instead of
//     the probabilities (attention_state_size says how much).
//   - otherwise: per sequence, cuBLAS batched products over the heads (S = Q Kᵀ, O = P V),
//     with our causal softmax between them; `att` keeps P (B, NH, T, T) as on the CPU.
#include <cmath>
#include <cstdint>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/detail/gemm.cuh"
#include "tokclean/backend/cuda/detail/reduce.cuh"
#include "tokclean/backend/cuda/sdpa.cuh"
#include "tokclean/backend/grad_write.hpp"
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

}  // namespace tokclean
