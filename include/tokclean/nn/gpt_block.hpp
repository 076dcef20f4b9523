#pragma once
// One GPT-2 transformer block (pre-LayerNorm attention, then pre-LayerNorm MLP, each added
// to the residual stream), forward and backward, as calls of the backend's _forward /
// _backward pairs chosen by the Device tag.
#include <cstdint>

#include "tokclean/backend/cpu.hpp"
#include "tokclean/nn/gpt_params.hpp"

namespace tokclean {

// Where one block's forward writes, for a batch of BT = B·T positions. The forward for
// backward gives every field its own slice of the per-layer activations; the scoring forward
// points several at one buffer where it says "may".
struct GptBlockForward {
    float* ln1;        // (BT, C)
    float* ln1_mean;   // (BT)
    float* ln1_rstd;   // (BT)
    float* qkv;        // (BT, 3C)
    float* att;        // (B, NH, T, T) softmax probabilities, or null (not kept)
    float* atty;       // (BT, C)
    float* residual2;  // (BT, C) after the attention residual; may be the block input
    float* ln2;        // (BT, C)
    float* ln2_mean;   // (BT)
    float* ln2_rstd;   // (BT)
    float* fch;        // (BT, 4C) before GELU
    float* fch_gelu;   // (BT, 4C) may be fch
    float* out;        // (BT, C) block output; may be residual2
};

// out = residual2 + fc_proj(gelu(fc(ln2(residual2)))), residual2 = in + attn_proj(attention(
// qkv(ln1(in)))). in (BT, C). Each projection accumulates onto a copy of the residual stream
// (or onto the stream itself, in place), so no separate residual pass reads it again.
template <class D>
void gpt_block_forward(D dev, const GptBlockForward& a, const float* in,
                       const GptLayerView<const float>& w, std::int64_t B, std::int64_t T,
                       std::int64_t C, std::int64_t NH, float eps) {
    const std::int64_t BT = B * T;
    layernorm_forward(dev, a.ln1, a.ln1_mean, a.ln1_rstd, in, w.ln1_w, w.ln1_b, BT, C, eps);
    linear_forward(dev, a.qkv, a.ln1, w.qkv_w, w.qkv_b, BT, C, 3 * C);
    attention_forward(dev, a.atty, a.att, a.qkv, B, T, C, NH);
    if (a.residual2 != in) copy_values(dev, a.residual2, in, BT * C);
    linear_forward(dev, a.residual2, a.atty, w.attn_proj_w, w.attn_proj_b, BT, C, C,
                   GradWrite::accumulate);
    layernorm_forward(dev, a.ln2, a.ln2_mean, a.ln2_rstd, a.residual2, w.ln2_w, w.ln2_b, BT, C, eps);
    linear_forward(dev, a.fch, a.ln2, w.fc_w, w.fc_b, BT, C, 4 * C);
    gelu_forward(dev, a.fch_gelu, a.fch, BT * 4 * C);
    if (a.out != a.residual2) copy_values(dev, a.out, a.residual2, BT * C);
    linear_forward(dev, a.out, a.fch_gelu, w.fc_proj_w, w.fc_proj_b, BT, 4 * C, C,
                   GradWrite::accumulate);
}

// What one block's backward reads (its forward's activations) and its scratch gradients.
struct GptBlockBackward {
    const float* in;         // (BT, C) the block input
    const float* ln1;        // (BT, C)
    const float* ln1_mean;   // (BT)
    const float* ln1_rstd;   // (BT)
    const float* qkv;        // (BT, 3C)
    const float* att;        // (B, NH, T, T)
    const float* atty;       // (BT, C)
    const float* residual2;  // (BT, C)
    const float* ln2;        // (BT, C)
    const float* ln2_mean;   // (BT)
    const float* ln2_rstd;   // (BT)
    const float* fch;        // (BT, 4C)
    const float* fch_gelu;   // (BT, 4C)
    float* dln;              // (BT, C)  scratch
    float* datty;            // (BT, C)  scratch
    float* dqkv;             // (BT, 3C) scratch
    float* dfch;             // (BT, 4C) scratch: d(gelu output), then d(fc output) in place
};

// dresidual (BT, C): d(block output) on entry, d(block input) on return. Parameter
// gradients go into dw, added or (GradWrite::overwrite) written over.
template <class D>
void gpt_block_backward(D dev, const GptBlockBackward& a, float* dresidual,
                        const GptLayerView<const float>& w, const GptLayerView<float>& dw,
                        std::int64_t B, std::int64_t T, std::int64_t C, std::int64_t NH,
                        GradWrite dparam_write) {
    const std::int64_t BT = B * T;
    constexpr GradWrite scratch = GradWrite::overwrite;  // the scratch gradients start afresh
    // MLP. The output's gradient flows unchanged into residual2 (dresidual keeps it).
    linear_backward(dev, a.dfch, dw.fc_proj_w, dw.fc_proj_b, dresidual, a.fch_gelu, w.fc_proj_w,
                    BT, 4 * C, C, scratch, dparam_write);
    gelu_backward(dev, a.dfch, a.fch, a.dfch, BT * 4 * C, scratch);
    linear_backward(dev, a.dln, dw.fc_w, dw.fc_b, a.dfch, a.ln2, w.fc_w, BT, C, 4 * C, scratch,
                    dparam_write);
    layernorm_backward(dev, dresidual, dw.ln2_w, dw.ln2_b, a.dln, a.residual2, w.ln2_w,
                       a.ln2_mean, a.ln2_rstd, BT, C, dparam_write);
    // Attention.
    linear_backward(dev, a.datty, dw.attn_proj_w, dw.attn_proj_b, dresidual, a.atty,
                    w.attn_proj_w, BT, C, C, scratch, dparam_write);
    fill_zero(dev, a.dqkv, BT * 3 * C);
    attention_backward(dev, a.dqkv, a.datty, a.qkv, a.att, B, T, C, NH);
    linear_backward(dev, a.dln, dw.qkv_w, dw.qkv_b, a.dqkv, a.ln1, w.qkv_w, BT, C, 3 * C, scratch,
                    dparam_write);
    layernorm_backward(dev, dresidual, dw.ln1_w, dw.ln1_b, a.dln, a.in, w.ln1_w, a.ln1_mean,
                       a.ln1_rstd, BT, C, dparam_write);
}

}  // namespace tokclean
