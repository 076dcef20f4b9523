#pragma once
// The backend contract: the ops every device provides, written down once. A backend is a set
// of free functions in namespace tokclean overloaded on a device tag (core/device.hpp) as
// their first argument, so that Gpt<D>, AdamW<D> and the cleaner are written once for every
// device (mshadow's per-device operator sets, in the same spirit):
//   backend/cpu   (cpu.hpp):  Cpu, Eigen and our AVX-512 GEMM, OpenMP;
//   backend/cuda  (cuda.cuh): Cuda, nvcc only; cuBLASLt, cuDNN, one stream.
// A backend's headers say only what is their own (algorithm, precision, threads, limits);
// shapes and write semantics are these. BackendOps<D> below checks that a device has them all
// (each backend's umbrella header asserts it).
//
// Conventions
//   - Buffers are raw pointers into the device's memory (index buffers too: ids, targets,
//     rows), contiguous and row-major; the shape of each is written next to it, as (B, T, C).
//     B batch, T sequence length, C channels, NH heads (hs = C / NH), KVH key / value heads
//     and hd their width (grouped-query attention), V vocabulary, N or M rows or elements,
//     IC / OC a linear layer's input / output channels, I the MLP's intermediate width.
//   - float32 values, std::int32_t token ids and targets, std::int64_t sizes and row indices.
//   - Forward outputs are written over (`=`).
//   - Gradients ACCUMULATE (`+=`) unless said otherwise: parameter gradients sum over
//     backward passes like PyTorch's .grad, and an input reached by two paths (the residual
//     stream) sums both. An op that takes a GradWrite (backend/grad_write.hpp) writes `=`
//     instead with GradWrite::overwrite; the buffer may then hold anything, even NaN.
//   - The ops of one device run in call order (the GPU queues them on one stream).
//
// The ops ([= x] is a default argument):
//
// Embedding
//   embedding_forward(D, out, ids, wte, wpe, B, T, C)
//     out (B, T, C) = wte[ids[b, t]] + wpe[t];  ids (B, T) in [0, V), wte (V, C), wpe (maxT, C).
//   embedding_backward(D, dwte, dwpe, dout, ids, B, T, C)                          accumulates
//     dwte (V, C) += dout (B, T, C) at each row ids[b, t]; dwpe (maxT, C) += dout[b, t] at row t.
//
// LayerNorm over the last dimension
//   layernorm_forward(D, out, mean, rstd, inp, weight, bias, N, C, eps)
//     out (N, C) = (inp (N, C) - mean) · rstd · weight (C) + bias (C); saves mean (N), rstd (N).
//   layernorm_backward(D, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C,
//                      dparam_write [= accumulate])
//     dinp (N, C) += from dout (N, C) (always accumulates); dweight (C), dbias (C) by dparam_write.
//
// Products (Transpose below): op(x) is x as stored, or its transpose
//   matmul(D, out, a, b, M, N, K, trans_a [= no], trans_b [= no], write [= overwrite],
//          bias [= null])
//     out (M, N) = op(a) (M, K) · op(b) (K, N) [+ bias (N) on every row]; a stored (M, K), or
//     (K, M) with trans_a; b stored (K, N), or (N, K) with trans_b. += with accumulate.
//   matmul_strided(D, c, ldc, a, lda, trans_a, b, ldb, trans_b, M, N, K, write)
//     c (M, N) with row stride ldc = op(a) · op(b), or += with accumulate; a, b as above with
//     row strides lda, ldb (blocks of larger buffers: one projection's columns of a fused one).
//   linear_forward(D, out, inp, weight, bias, N, IC, OC, write [= overwrite])
//     out (N, OC) = inp (N, IC) · weight (IC, OC) + bias (OC) (Conv1D layout; bias may be
//     null). += with accumulate: a residual connection folded into the product.
//   linear_backward(D, dinp, dweight, dbias, dout, inp, weight, N, IC, OC,
//                   dinp_write [= accumulate], dparam_write [= accumulate])
//     dinp (N, IC) += dout (N, OC) · weightᵀ; dweight (IC, OC) += inpᵀ · dout;
//     dbias (OC) += Σ_rows dout. dinp and dbias may be null.
//   Weights kept in bfloat16 (core/bfloat16.hpp; beyond the contract, the CPU only for now):
//   matmul(Cpu, out, a, const bfloat16* b, ...) and gather_rows(Cpu, out, const bfloat16* in,
//   ...) read b / in widened exactly, so they equal the float ops on the widened values.
//
// Causal multi-head self-attention
//   attention_forward(D, out, att, qkv, B, T, C, NH)
//     qkv (B, T, 3C): per position [q | k | v], head h owns columns [h·hs, (h+1)·hs) of each;
//     out (B, T, C): the heads concatenated. att: attention_state_size(D, B, T, C, NH) floats
//     that backward reads (by default the probabilities (B, NH, T, T)); null when no
//     backward follows (scoring).
//   attention_backward(D, dqkv, dout, qkv, att, B, T, C, NH)                       accumulates
//     dqkv (B, T, 3C) += from dout (B, T, C), given the forward's qkv and att.
//   attention_state_size(D, B, T, C, NH) -> std::int64_t
//     B·NH·T·T by default (nn/gpt_activations.hpp); a backend may overload it (cuda: cuDNN's
//     fused attention keeps its statistics and output instead).
//   attention_forward(D, out, att, qkv, B, T, heads)          grouped-query form (AttentionHeads)
//     qkv (B, T, (NH + 2·KVH)·hd): per position [q heads (NH·hd) | k heads (KVH·hd) | v heads
//     (KVH·hd)], NH = heads.query, KVH = heads.kv, hd = heads.dim; query head h uses kv head
//     h / (NH / KVH); scale 1/sqrt(hd). out (B, T, NH·hd). att as above, (B, NH, T, T).
//     The multi-head form is the case {NH, NH, C / NH}.
//   attention_backward(D, dqkv, dout, qkv, att, B, T, heads)                       accumulates
//     dqkv (B, T, (NH + 2·KVH)·hd) += from dout (B, T, NH·hd); a kv head's dK, dV sum over
//     its query heads.
//   attention_state_size(D, B, T, heads) -> std::int64_t
//     floats of att for the grouped-query form: B·NH·T·T by default (below); cuda: the
//     multi-head form's when KVH = NH.
//
// GELU, tanh approximation
//   gelu_forward(D, out, inp, N)
//     out (N) = 0.5 inp (1 + tanh(sqrt(2/pi) (inp + 0.044715 inp³))); out may be inp.
//   gelu_backward(D, dinp, inp, dout, N, write [= accumulate])
//     dinp (N) += gelu'(inp (N)) · dout (N); with overwrite dinp may be dout (in place).
//
// RMSNorm over heads of rows (Llama family: per position with heads = 1; Qwen3's q / k norm
// per head inside the qkv rows)
//   rmsnorm_forward(D, out, rstd, inp, weight, N, C, eps, heads [= 1], stride [= heads·C])
//     for n < N, h < heads, x = inp[n·stride + h·C, +C): out at the same place = x · rstd ·
//     weight (C), rstd[n·heads + h] = 1/sqrt(mean(x²) + eps) saved (N, heads). Only those
//     floats of out are written; out != inp.
//   rmsnorm_backward(D, dinp, dweight, dout, inp, weight, rstd, N, C, heads [= 1],
//                    stride [= heads·C], write [= accumulate])
//     dinp (laid out as inp) += from dout (laid out as out), `=` with overwrite; dweight (C)
//     always accumulates.
//
// Rotary position embeddings, rotate_half layout (tables: nn/rope.hpp)
//   rope_forward(D, x, cos, sin, B, T, heads, hd, stride)                          in place
//     x (B, T, stride), heads [0, heads) of hd floats at offset h·hd of each position; cos,
//     sin (T, hd/2); at position t, for i < hd/2, (a, b) = (x[i], x[i + hd/2]) becomes
//     (a·cos[t][i] - b·sin[t][i], b·cos[t][i] + a·sin[t][i]).
//   rope_backward(D, dx, cos, sin, B, T, heads, hd, stride)                        in place
//     dx (laid out as x) becomes its adjoint image: the rotation by the opposite angles.
//
// SwiGLU on the fused gate | up projection
//   swiglu_forward(D, out, gate_up, N, I)
//     out (N, I) = silu(gate) · up, silu(g) = g·σ(g); gate_up (N, 2I), row n [gate (I) | up (I)].
//   swiglu_backward(D, dgate_up, gate_up, dout, N, I, write [= overwrite])            writes
//     dgate_up (N, 2I) = the gradient from dout (N, I); += with accumulate.
//
// Dropout (LoRA's), scaling
//   dropout_forward(D, out, in, N, p, seed)
//     out (N) = in (N) · keep(seed, i) / (1 - p), keep from backend/detail/dropout_mask.hpp
//     (a function of (seed, i) alone, the same on every backend); out may be in. The same
//     call on the gradient is the backward.
//   scale_values(D, x, s, N)                   x (N) *= s.
//
// Residual connection
//   residual_forward(D, out, a, b, N)          out (N) = a (N) + b (N).
//   residual_backward(D, da, db, dout, N)      da (N) += dout (N), db (N) += dout.  accumulates
//
// Softmax cross-entropy, one loss per row
//   cross_entropy_forward(D, losses, logits, targets, M, V, lse [= null])
//     losses (M) = logsumexp(logits[m]) - logits[m, targets[m]]; logits (M, V), targets (M)
//     in [0, V), or negative (ignored: loss 0). lse (M), when not null, receives each row's
//     logsumexp for the backward.
//   cross_entropy_backward(D, dlogits, logits, targets, dlosses, M, V, lse [= null])   writes
//     dlogits (M, V) = (softmax(logits) - onehot(targets)) · dlosses (M); OVERWRITES and may
//     alias logits; ignored rows get 0. lse (M): the forward's, or null to recompute it.
//
// Rows, copies, fills
//   fill_zero(D, out, N)                       out (N) = 0.
//   copy_values(D, out, in, N)                 out (N) = in (N).
//   gather_rows(D, out, in, rows, M, C)        out (M, C) = in[rows[m]]; in (N, C), rows (M) in [0, N).
//   scatter_add_rows(D, out, in, rows, M, C)   out[rows[m]] (N, C) += in (M, C); rows distinct.
//   scatter_add_repeated_rows(D, out, in, rows, M, C)                              accumulates
//     out[rows[m]] (N, C) += in (M, C); rows (int32 or int64) may repeat (an embedding's
//     backward); each row's sum in m order, the same bits on every run.
//   sum_rows(D, out, in, M, N)                 out (N) += Σ_m in (M, N) (a bias's gradient).
//
// Optimiser
//   adamw_update(D, params, m, v, grads, N, hyper, step)
//     params (N), m (N), v (N) updated in place from grads (N) by torch.optim.AdamW's formulas
//     (AdamWHyper below); step counts from 1.
//
// Outside this header's concept, beside the tensors they take:
//   copy_to(D, tensor), upload(D, host, n, staging), download(D, data, n, staging):
//     core/tensor.hpp (Cpu), backend/cuda/tensor.cuh (Cuda).
//   clip_grad_norm(Tensor<float, D>& grads, max_norm): optim/clip.hpp (Cpu),
//     backend/cuda/adamw.cuh (Cuda).
#include <cstdint>

#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// Whether a product's operand is used as stored or transposed (matmul's trans_a, trans_b).
enum class Transpose : bool { no = false, yes = true };

// The heads of grouped-query attention: `query` query heads share `kv` key / value heads
// (query / kv of them each; query a multiple of kv), every head `dim` floats wide. GPT-2's multi-head attention is
// {NH, NH, C / NH}.
struct AttentionHeads {
    std::int64_t query = 0, kv = 0, dim = 0;
};

// AdamW's hyper-parameters (adamw_update), PyTorch's names and defaults but the learning rate.
struct AdamWHyper {
    float lr = 1e-4f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 0.0f;
};

// D provides every op above but attention_state_size, whose default is generic (each
// argument spelled out; the defaults are the backends' own). The ops are found by
// argument-dependent lookup: assert it where the backend's ops are all declared.
template <class D>
concept BackendOps = Device<D> && requires(D d, float* out, const float* in, const std::int32_t* ids,
                                           const std::int64_t* rows, std::int64_t n, float eps,
                                           GradWrite write, Transpose trans, const AdamWHyper& hyper) {
    embedding_forward(d, out, ids, in, in, n, n, n);
    embedding_backward(d, out, out, in, ids, n, n, n);
    layernorm_forward(d, out, out, out, in, in, in, n, n, eps);
    layernorm_backward(d, out, out, out, in, in, in, in, in, n, n, write);
    matmul(d, out, in, in, n, n, n, trans, trans, write, in);
    matmul_strided(d, out, n, in, n, trans, in, n, trans, n, n, n, write);
    linear_forward(d, out, in, in, in, n, n, n, write);
    linear_backward(d, out, out, out, in, in, in, n, n, n, write, write);
    attention_forward(d, out, out, in, n, n, n, n);
    attention_backward(d, out, in, in, in, n, n, n, n);
    gelu_forward(d, out, in, n);
    gelu_backward(d, out, in, in, n, write);
    residual_forward(d, out, in, in, n);
    residual_backward(d, out, out, in, n);
    cross_entropy_forward(d, out, in, ids, n, n, out);
    cross_entropy_backward(d, out, in, ids, in, n, n, in);
    fill_zero(d, out, n);
    copy_values(d, out, in, n);
    gather_rows(d, out, in, rows, n, n);
    scatter_add_rows(d, out, in, rows, n, n);
    adamw_update(d, out, out, out, in, n, hyper, n);
    // The Llama family's.
    attention_forward(d, out, out, in, n, n, AttentionHeads{});
    attention_backward(d, out, in, in, in, n, n, AttentionHeads{});
    rmsnorm_forward(d, out, out, in, in, n, n, eps, n, n);
    rmsnorm_backward(d, out, out, in, in, in, in, n, n, n, n, write);
    rope_forward(d, out, in, in, n, n, n, n, n);
    rope_backward(d, out, in, in, n, n, n, n, n);
    swiglu_forward(d, out, in, n, n);
    swiglu_backward(d, out, in, in, n, n, write);
    scatter_add_repeated_rows(d, out, in, rows, n, n);
    scatter_add_repeated_rows(d, out, in, ids, n, n);
    sum_rows(d, out, in, n, n);
    // LoRA's.
    dropout_forward(d, out, in, n, eps, std::uint64_t{});
    scale_values(d, out, eps, n);
};

// Floats of att for the grouped-query form: the probabilities (B, NH, T, T), unless the
// device's backend overloads this.
template <class D>
std::int64_t attention_state_size(D, std::int64_t B, std::int64_t T, AttentionHeads heads) {
    return B * heads.query * T * T;
}

}  // namespace tokclean
