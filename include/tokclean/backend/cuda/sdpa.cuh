#pragma once
// cuDNN's fused attention (flash attention) for bf16 mode, built with the graph API in the
// pattern cuDNN recognises (the composition cudnn-frontend emits for SDPA with a causal mask):
//   forward:  S = Q Kᵀ · scale, causal mask, P = softmax(S) (Stats = logsumexp per row), O = P V
//   backward: from Q, K, V, O, dO and Stats: dQ, dK, dV, the probabilities recomputed
// Q, K, V are read in place from a bfloat16 copy of qkv (B, T, 3C) through strides; O is
// written (B, T, C). Training keeps Stats and O (bfloat16) in `att` for the backward.
// Whether a shape runs fused is decided once per shape: where cuDNN builds no plan (older
// GPU, head size, library version) the cuBLAS path of attention.cuh runs instead.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/detail/cudnn_graph.cuh"

namespace tokclean::cuda_detail {

namespace sdpa {

// Variant-pack ids of the graphs' real tensors.
enum Uid : std::int64_t { q = 1, k, v, o, stats, scale, lowest, one, d_o, d_q, d_k, d_v, softmax_sum, dq_accum };

using cudnn_graph::Dims;

// Floats of `att` per layer when fused: Stats (B, NH, T), then O in bfloat16 (B, T, C); each
// part rounded to 64 floats so that every layer's slice stays 256-byte aligned.
inline std::int64_t round64(std::int64_t n) { return (n + 63) / 64 * 64; }
inline std::int64_t stats_floats(std::int64_t B, std::int64_t T, std::int64_t NH) { return round64(B * NH * T); }
inline std::int64_t state_size(std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH) {
    return stats_floats(B, T, NH) + round64((B * T * C + 1) / 2);
}

// Strides of the heads of the q (k, v) block of a (B, T, 3C) buffer, as (B, NH, T, hs).
struct Layout {
    std::int64_t B, T, C, NH, hs;
    Dims bhsd() const { return {B, NH, T, hs}; }
    Dims bhds() const { return {B, NH, hs, T}; }
    Dims qkv_strides() const { return {T * 3 * C, hs, 3 * C, 1}; }
    Dims qkv_strides_t() const { return {T * 3 * C, hs, 1, 3 * C}; }  // (B, NH, hs, T)
    Dims out_strides() const { return {T * C, hs, C, 1}; }           // (B, T, C) rows
    Dims scores() const { return {B, NH, T, T}; }
    Dims scores_strides() const { return {NH * T * T, T * T, T, 1}; }
    Dims scores_strides_t() const { return {NH * T * T, T * T, 1, T}; }
    Dims rows() const { return {B, NH, T, 1}; }
    Dims rows_strides() const { return {NH * T, T, 1, 1}; }
};

// S (scores) -> causal mask -> the masked scores (a new virtual tensor), as cudnn-frontend's
// causal_mask: row >= col keeps the score, else the lowest float.
inline cudnnBackendDescriptor_t causal_mask(cudnn_graph::Graph& g, const Layout& l, cudnnBackendDescriptor_t s,
                                            cudnnBackendDescriptor_t lowest) {
    auto row = g.virt(l.scores(), l.scores_strides(), CUDNN_DATA_INT32);
    auto col = g.virt(l.scores(), l.scores_strides(), CUDNN_DATA_INT32);
    auto keep = g.virt(l.scores(), l.scores_strides(), CUDNN_DATA_BOOLEAN);
    auto masked = g.virt(l.scores(), l.scores_strides());
    g.pointwise(CUDNN_POINTWISE_GEN_INDEX, s, nullptr, nullptr, row, CUDNN_DATA_INT32, 2);
    g.pointwise(CUDNN_POINTWISE_GEN_INDEX, s, nullptr, nullptr, col, CUDNN_DATA_INT32, 3);
    g.pointwise(CUDNN_POINTWISE_CMP_GE, row, col, nullptr, keep, CUDNN_DATA_BOOLEAN);
    g.pointwise(CUDNN_POINTWISE_BINARY_SELECT, s, lowest, keep, masked);
    return masked;
}

// mask(Q Kᵀ · scale): the scores both graphs start from (the backward recomputes them).
inline cudnnBackendDescriptor_t masked_scores(cudnn_graph::Graph& g, const Layout& l, cudnnBackendDescriptor_t Q,
                                              cudnnBackendDescriptor_t KT, cudnnBackendDescriptor_t scale,
                                              cudnnBackendDescriptor_t lowest) {
    auto s = g.virt(l.scores(), l.scores_strides());
    g.matmul(Q, KT, s);
    auto scaled = g.virt(l.scores(), l.scores_strides());
    g.pointwise(CUDNN_POINTWISE_MUL, s, scale, nullptr, scaled);
    return causal_mask(g, l, scaled, lowest);
}

inline std::unique_ptr<cudnn_graph::Graph> build_forward(const Layout& l, bool training, cudnnHandle_t handle) {
    auto g = std::make_unique<cudnn_graph::Graph>();
    auto Q = g->tensor(q, l.bhsd(), l.qkv_strides(), CUDNN_DATA_BFLOAT16, false);
    auto KT = g->tensor(k, l.bhds(), l.qkv_strides_t(), CUDNN_DATA_BFLOAT16, false);
    auto V = g->tensor(v, l.bhsd(), l.qkv_strides(), CUDNN_DATA_BFLOAT16, false);
    auto O = g->tensor(o, l.bhsd(), l.out_strides(), CUDNN_DATA_BFLOAT16, false);
    auto SCALE = g->scalar(scale), LOWEST = g->scalar(lowest);
    auto masked = masked_scores(*g, l, Q, KT, SCALE, LOWEST);
    auto mx = g->virt(l.rows(), l.rows_strides());
    g->reduction(CUDNN_REDUCE_TENSOR_MAX, masked, mx);
    auto shifted = g->virt(l.scores(), l.scores_strides());
    g->pointwise(CUDNN_POINTWISE_SUB, masked, mx, nullptr, shifted);
    auto e = g->virt(l.scores(), l.scores_strides());
    g->pointwise(CUDNN_POINTWISE_EXP, shifted, nullptr, nullptr, e);
    auto z = g->virt(l.rows(), l.rows_strides());
    g->reduction(CUDNN_REDUCE_TENSOR_ADD, e, z);
    if (training) {  // Stats = max + log Σ e: the logsumexp the backward reads
        auto STATS = g->tensor(stats, l.rows(), l.rows_strides(), CUDNN_DATA_FLOAT, false);
        auto log_z = g->virt(l.rows(), l.rows_strides());
        g->pointwise(CUDNN_POINTWISE_LOG, z, nullptr, nullptr, log_z);
        g->pointwise(CUDNN_POINTWISE_ADD, mx, log_z, nullptr, STATS);
    }
    auto p = g->virt(l.scores(), l.scores_strides(), CUDNN_DATA_BFLOAT16);  // the second product's input type
    g->pointwise(CUDNN_POINTWISE_DIV, e, z, nullptr, p);
    g->matmul(p, V, O);
    g->build_plan(handle);
    return g;
}

inline std::unique_ptr<cudnn_graph::Graph> build_backward(const Layout& l, cudnnHandle_t handle) {
    auto g = std::make_unique<cudnn_graph::Graph>();
    auto Q = g->tensor(q, l.bhsd(), l.qkv_strides(), CUDNN_DATA_BFLOAT16, false);
    auto KT = g->tensor(k, l.bhds(), l.qkv_strides_t(), CUDNN_DATA_BFLOAT16, false);
    auto VT = g->tensor(v, l.bhds(), l.qkv_strides_t(), CUDNN_DATA_BFLOAT16, false);
    auto O = g->tensor(o, l.bhsd(), l.out_strides(), CUDNN_DATA_BFLOAT16, false);
    auto DO = g->tensor(d_o, l.bhsd(), l.out_strides(), CUDNN_DATA_BFLOAT16, false);
    auto STATS = g->tensor(stats, l.rows(), l.rows_strides(), CUDNN_DATA_FLOAT, false);
    auto DQ = g->tensor(d_q, l.bhsd(), l.qkv_strides(), CUDNN_DATA_BFLOAT16, false);
    auto DK = g->tensor(d_k, l.bhsd(), l.qkv_strides(), CUDNN_DATA_BFLOAT16, false);
    auto DV = g->tensor(d_v, l.bhsd(), l.qkv_strides(), CUDNN_DATA_BFLOAT16, false);
    auto SCALE = g->scalar(scale), LOWEST = g->scalar(lowest), ONE = g->scalar(one);
    // softmax_sum = Σ_d dO ⊙ O per row (a workspace tensor the fused kernel writes first).
    auto dot = g->virt(l.bhsd(), {l.NH * l.T * l.hs, l.T * l.hs, l.NH * l.hs, 1});
    g->pointwise(CUDNN_POINTWISE_MUL, DO, O, nullptr, dot);
    auto dot_sum = g->virt(l.rows(), l.rows_strides());
    g->reduction(CUDNN_REDUCE_TENSOR_ADD, dot, dot_sum);
    auto SOFTMAX_SUM = g->tensor(softmax_sum, l.rows(), l.rows_strides(), CUDNN_DATA_FLOAT, false);
    g->pointwise(CUDNN_POINTWISE_MUL, dot_sum, ONE, nullptr, SOFTMAX_SUM);
    // P recomputed: exp(mask(Q Kᵀ · scale) - Stats).
    auto masked = masked_scores(*g, l, Q, KT, SCALE, LOWEST);
    auto shifted = g->virt(l.scores(), l.scores_strides());
    g->pointwise(CUDNN_POINTWISE_SUB, masked, STATS, nullptr, shifted);
    auto p = g->virt(l.scores(), l.scores_strides());
    g->pointwise(CUDNN_POINTWISE_EXP, shifted, nullptr, nullptr, p);
    // dV = Pᵀ dO.
    auto p_t = g->virt(l.scores(), l.scores_strides_t(), CUDNN_DATA_BFLOAT16);
    g->reshape(p, p_t);
    g->matmul(p_t, DO, DV);
    // dS = P ⊙ (dO Vᵀ − softmax_sum) · scale.
    auto dp = g->virt(l.scores(), l.scores_strides());
    g->matmul(DO, VT, dp);
    auto centred = g->virt(l.scores(), l.scores_strides());
    g->pointwise(CUDNN_POINTWISE_SUB, dp, SOFTMAX_SUM, nullptr, centred);
    auto weighted = g->virt(l.scores(), l.scores_strides());
    g->pointwise(CUDNN_POINTWISE_MUL, centred, p, nullptr, weighted);
    auto ds = g->virt(l.scores(), l.scores_strides());
    g->pointwise(CUDNN_POINTWISE_MUL, weighted, SCALE, nullptr, ds);
    // dK = dSᵀ Q.
    auto ds_t = g->virt(l.scores(), l.scores_strides_t(), CUDNN_DATA_BFLOAT16);
    g->reshape(ds, ds_t);
    g->matmul(ds_t, Q, DK);
    // dQ = dS K, accumulated in float32 (workspace), then converted.
    auto k_rows = g->virt(l.bhsd(), l.qkv_strides());
    g->reshape(KT, k_rows);
    auto DQ_ACCUM = g->tensor(dq_accum, l.bhsd(), {l.NH * l.T * l.hs, l.T * l.hs, l.hs, 1}, CUDNN_DATA_FLOAT, false);
    g->matmul(ds, k_rows, DQ_ACCUM);
    g->pointwise(CUDNN_POINTWISE_IDENTITY, DQ_ACCUM, nullptr, nullptr, DQ);
    g->build_plan(handle);
    return g;
}

// x (n) float32 <-> bfloat16, and dqkv (n) += float32(g).
template <class T>
__global__ void bf16_to_float_kernel(T* y, const __nv_bfloat16* x, std::int64_t n) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        y[i] = __bfloat162float(x[i]);
}
template <class T>
__global__ void add_bf16_kernel(T* y, const __nv_bfloat16* x, std::int64_t n) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        y[i] += __bfloat162float(x[i]);
}
template <class T>
__global__ void float_to_bf16_kernel(__nv_bfloat16* y, const T* x, std::int64_t n) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        y[i] = __float2bfloat16(x[i]);
}

inline void to_bf16(__nv_bfloat16* y, const float* x, std::int64_t n) {
    float_to_bf16_kernel<<<blocks_for(n, 256, 8192), 256, 0, stream()>>>(y, x, n);
    TOKCLEAN_CUDA_CHECK_LAUNCH("float_to_bf16_kernel");
}

// The plans of each shape, built on first use; a shape whose plans fail to build is
// remembered as unsupported (with cuDNN's reason, for fused_attention_status()).
class Plans {
public:
    struct Entry {
        std::unique_ptr<cudnn_graph::Graph> forward_train, forward_infer, backward;
        bool train_ok = false, infer_ok = false, train_tried = false, infer_tried = false;
    };

    Entry& get(const Layout& l, bool training) {
        Entry& e = entries_[std::make_tuple(l.B, l.T, l.C, l.NH)];
        bool& tried = training ? e.train_tried : e.infer_tried;
        if (!tried) {
            tried = true;
            try {
                cudnnHandle_t h = context().cudnn();
                if (training) {
                    e.forward_train = build_forward(l, true, h);
                    e.backward = build_backward(l, h);
                    e.train_ok = true;
                } else {
                    e.forward_infer = build_forward(l, false, h);
                    e.infer_ok = true;
                }
            } catch (const std::exception& err) {
                status_ = std::string("cuDNN fused attention unavailable for B ") + std::to_string(l.B) + ", T " +
                          std::to_string(l.T) + ", C " + std::to_string(l.C) + ", heads " + std::to_string(l.NH) +
                          (training ? " (training)" : " (inference)") + ": " + err.what() +
                          "; attention runs on cuBLAS products and tokclean's softmax";
                if (std::getenv("TOKCLEAN_CUDA_VERBOSE")) std::cerr << "tokclean: " << status_ << '\n';
            }
        }
        return e;
    }
    const std::string& status() const { return status_; }

private:
    std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, Entry> entries_;
    std::string status_ = "no fused attention attempted";
};

inline Plans& plans() {
    static Plans* p = new Plans();
    return *p;
}

}  // namespace sdpa

// True when attention of this shape runs on cuDNN's fused kernel: bf16 mode, allowed
// (set_cuda_fused_attention, TOKCLEAN_CUDNN_SDPA=0 in the environment forbids it), a head size
// cuDNN takes (a multiple of 8 up to 128), sm_80 or newer, and plans that build. `training`:
// the forward keeps what the backward needs.
inline bool fused_attention_applies(std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH, bool training) {
    Context& ctx = context();
    if (ctx.math != CudaMath::bf16 || !ctx.fused_attention || ctx.sm_version() < 80) return false;
    static const bool disabled = [] {
        const char* e = std::getenv("TOKCLEAN_CUDNN_SDPA");
        return e && std::string(e) == "0";
    }();
    const std::int64_t hs = C / NH;
    if (disabled || hs % 8 != 0 || hs > 128 || B * T <= 0) return false;
    const auto& e = sdpa::plans().get({B, T, C, NH, hs}, training);
    return training ? e.train_ok : e.infer_ok;
}

// Why the last shape that could not run fused did not (or that none failed).
inline const std::string& fused_attention_status() { return sdpa::plans().status(); }

inline std::int64_t sdpa_state_size(std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH) {
    return sdpa::state_size(B, T, C, NH);
}

// out (B, T, C) = attention of qkv (B, T, 3C); state (sdpa_state_size floats): Stats and O
// for the backward, or null (inference).
inline void sdpa_forward(float* out, float* state, const float* qkv, std::int64_t B, std::int64_t T,
                         std::int64_t C, std::int64_t NH) {
    using namespace sdpa;
    const Layout l{B, T, C, NH, C / NH};
    const bool training = state != nullptr;
    auto& e = plans().get(l, training);
    const cudnn_graph::Graph& g = training ? *e.forward_train : *e.forward_infer;
    const std::int64_t BT = B * T;
    Scratch<__nv_bfloat16> qkv16(static_cast<std::size_t>(BT * 3 * C));
    to_bf16(qkv16.get(), qkv, BT * 3 * C);
    std::optional<Scratch<__nv_bfloat16>> own_o;
    __nv_bfloat16* o16 = nullptr;
    if (training) {
        o16 = reinterpret_cast<__nv_bfloat16*>(state + stats_floats(B, T, NH));
    } else {
        own_o.emplace(static_cast<std::size_t>(BT * C));
        o16 = own_o->get();
    }
    float scale_v = 1.0f / std::sqrt(static_cast<float>(l.hs)), lowest_v = std::numeric_limits<float>::lowest();
    Scratch<char> workspace(static_cast<std::size_t>(std::max<std::int64_t>(g.workspace_bytes(), 1)));
    std::vector<std::int64_t> uids = {q, k, v, o, scale, lowest};
    std::vector<void*> ptrs = {qkv16.get(), qkv16.get() + C, qkv16.get() + 2 * C, o16, &scale_v, &lowest_v};
    if (training) {
        uids.push_back(stats);
        ptrs.push_back(state);
    }
    g.execute(context().cudnn(), uids, ptrs, workspace.get());
    bf16_to_float_kernel<<<blocks_for(BT * C, 256, 8192), 256, 0, stream()>>>(out, o16, BT * C);
    TOKCLEAN_CUDA_CHECK_LAUNCH("bf16_to_float_kernel");
}

// dqkv (B, T, 3C) += the gradient of attention, from dout (B, T, C), qkv and the state of
// sdpa_forward.
inline void sdpa_backward(float* dqkv, const float* dout, const float* qkv, const float* state, std::int64_t B,
                          std::int64_t T, std::int64_t C, std::int64_t NH) {
    using namespace sdpa;
    const Layout l{B, T, C, NH, C / NH};
    const cudnn_graph::Graph& g = *plans().get(l, true).backward;
    const std::int64_t BT = B * T;
    Scratch<__nv_bfloat16> qkv16(static_cast<std::size_t>(BT * 3 * C)), dqkv16(static_cast<std::size_t>(BT * 3 * C)),
        do16(static_cast<std::size_t>(BT * C));
    to_bf16(qkv16.get(), qkv, BT * 3 * C);
    to_bf16(do16.get(), dout, BT * C);
    Scratch<float> row_sums(static_cast<std::size_t>(B * NH * T)), dq32(static_cast<std::size_t>(BT * C));
    TOKCLEAN_CUDA_CHECK(cudaMemsetAsync(dq32.get(), 0, static_cast<std::size_t>(BT * C) * sizeof(float), stream()));
    float scale_v = 1.0f / std::sqrt(static_cast<float>(l.hs)), lowest_v = std::numeric_limits<float>::lowest(),
          one_v = 1.0f;
    Scratch<char> workspace(static_cast<std::size_t>(std::max<std::int64_t>(g.workspace_bytes(), 1)));
    auto* o16 = reinterpret_cast<const __nv_bfloat16*>(state + stats_floats(B, T, NH));
    const std::vector<std::int64_t> uids = {q, k, v, o, d_o, stats, d_q, d_k, d_v, scale, lowest, one, softmax_sum,
                                            dq_accum};
    const std::vector<void*> ptrs = {qkv16.get(),          qkv16.get() + C,      qkv16.get() + 2 * C,
                                     const_cast<__nv_bfloat16*>(o16), do16.get(), const_cast<float*>(state),
                                     dqkv16.get(),         dqkv16.get() + C,     dqkv16.get() + 2 * C,
                                     &scale_v,             &lowest_v,            &one_v,
                                     row_sums.get(),       dq32.get()};
    g.execute(context().cudnn(), uids, ptrs, workspace.get());
    add_bf16_kernel<<<blocks_for(BT * 3 * C, 256, 8192), 256, 0, stream()>>>(dqkv, dqkv16.get(), BT * 3 * C);
    TOKCLEAN_CUDA_CHECK_LAUNCH("add_bf16_kernel");
}

}  // namespace tokclean::cuda_detail
