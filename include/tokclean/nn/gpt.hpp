#pragma once
// GPT-2 (learned positions, pre-LayerNorm blocks, tied LM head): forward to per-token
// losses, backward to parameter gradients. The layer math is the backend's _forward /
// _backward pairs, chosen by the Device tag; this file only wires them together.
//
// Losses follow the Hugging Face label convention: for a batch of input_ids (B, T) and
// labels (B, T), the loss at [b, j] is the cross-entropy of predicting labels[b, j] from
// tokens < j (the logits of position j - 1). Position 0 and labels of -100 are not targets.
// Only the M rows that predict a target go through the LM head (logits (M, V)), which at
// a 50k vocabulary is most of the work saved on prompt tokens.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "tokclean/backend/cpu.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"
#include "tokclean/nn/gpt_activations.hpp"
#include "tokclean/nn/gpt_params.hpp"

namespace tokclean {



template <class D = Cpu>
class Gpt {
public:
    Gpt(const GptConfig& config, GptParams<D> params)
        : config_(config), params_(std::move(params)) {}

    const GptConfig& config() const { return config_; }
    GptParams<D>& params() { return params_; }
    const GptParams<D>& params() const { return params_; }
    // Gradients, allocated (zero) at first use; backward() accumulates into them.
    GptParams<D>& grads() {
        if (grads_.flat().empty()) grads_ = GptParams<D>(config_);
        return grads_;
    }
    void zero_grad() { grads().flat().zero(); }

    // Runs the model on input_ids (B, T) and labels (B, T); returns the mean loss over the
    // targets (0 when there are none). Per-token losses: token_losses().
    float forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B,
                  std::int64_t T);
    // (B, T) of the last forward: the loss at each target, NaN elsewhere.
    std::span<const float> token_losses() const {
        return {acts_.token_losses.data(), static_cast<std::size_t>(B_ * T_)};
    }
    std::int64_t num_targets() const { return static_cast<std::int64_t>(head_rows_.size()); }

    // Accumulates into grads() the gradient of the last forward's mean loss.
    void backward();
    // Accumulates into grads() the gradient of Σ weights[b, j] · loss[b, j] over the targets
    // of the last forward; token_weights is (B, T). RHO-1 passes 1/kept on kept tokens, 0
    // elsewhere. backward() is this with 1/M on every target.
    void backward(std::span<const float> token_weights);

    // Of the last forward, before backward (which reuses the logits): the argmax token at
    // each target (B, T), -1 elsewhere; the entropy (nats) of the predicted distribution at
    // each target (B, T), NaN elsewhere.
    std::vector<std::int32_t> target_argmax() const;
    std::vector<float> target_entropy() const;

private:
    void collect_targets(const std::int32_t* input_ids, const std::int32_t* labels);

    GptConfig config_;
    GptParams<D> params_;
    GptParams<D> grads_;
    GptActivations<D> acts_;
    const std::int32_t* input_ids_ = nullptr;  // (B, T) of the last forward, caller-owned
    std::int64_t B_ = 0, T_ = 0;
    std::vector<std::int64_t> head_rows_;    // (M) row b·T + j - 1 of each target (b, j)
    std::vector<std::int64_t> loss_slots_;   // (M) slot b·T + j of each target
    std::vector<std::int32_t> head_targets_; // (M) labels[b, j]
};

template <class D>
void Gpt<D>::collect_targets(const std::int32_t* input_ids, const std::int32_t* labels) {
    const std::int64_t V = config_.vocab_size;
    head_rows_.clear();
    loss_slots_.clear();
    head_targets_.clear();
    for (std::int64_t b = 0; b < B_; ++b)
        for (std::int64_t j = 0; j < T_; ++j) {
            const std::int64_t at = b * T_ + j;
            if (input_ids[at] < 0 || input_ids[at] >= V)
                fail("token id ", input_ids[at], " at batch row ", b, ", position ", j,
                     " is outside [0, vocab_size = ", V, ")");
            const std::int32_t y = labels[at];
            if (y == ignore_label || j == 0) continue;
            if (y < 0 || y >= V)
                fail("label ", y, " at batch row ", b, ", position ", j,
                     " is neither -100 nor in [0, vocab_size = ", V, ")");
            head_rows_.push_back(at - 1);
            loss_slots_.push_back(at);
            head_targets_.push_back(y);
        }
}

template <class D>
float Gpt<D>::forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B,
                      std::int64_t T) {
    const GptConfig& c = config_;
    if (T > c.n_positions)
        fail("sequence length ", T, " exceeds the model's n_positions = ", c.n_positions);
    B_ = B;
    T_ = T;
    input_ids_ = input_ids;
    collect_targets(input_ids, labels);
    const std::int64_t L = c.n_layer, C = c.n_embd, NH = c.n_head, V = c.vocab_size;
    const std::int64_t BT = B * T, M = num_targets();
    acts_.reserve(c, B, T, M);
    auto& a = acts_;
    const D dev{};

    embedding_forward(dev, a.encoded.data(), input_ids, params_[GptParam::wte].data(),
                      params_[GptParam::wpe].data(), B, T, C);
    for (std::int64_t l = 0; l < L; ++l) {
        const auto w = params_.layer(static_cast<int>(l));
        const float* residual = l == 0 ? a.encoded.data() : a.residual3.data() + (l - 1) * BT * C;
        float* ln1 = a.ln1.data() + l * BT * C;
        float* qkv = a.qkv.data() + l * BT * 3 * C;
        float* atty = a.atty.data() + l * BT * C;
        float* att = a.att.data() + l * B * NH * T * T;
        float* residual2 = a.residual2.data() + l * BT * C;
        float* ln2 = a.ln2.data() + l * BT * C;
        float* fch = a.fch.data() + l * BT * 4 * C;
        float* fch_gelu = a.fch_gelu.data() + l * BT * 4 * C;
        float* residual3 = a.residual3.data() + l * BT * C;
        float* scratch = a.dln.data();  // (BT, C) projection outputs, consumed at once

        layernorm_forward(dev, ln1, a.ln1_mean.data() + l * BT, a.ln1_rstd.data() + l * BT,
                          residual, w.ln1_w, w.ln1_b, BT, C, c.layer_norm_epsilon);
        linear_forward(dev, qkv, ln1, w.qkv_w, w.qkv_b, BT, C, 3 * C);
        attention_forward(dev, atty, att, qkv, B, T, C, NH);
        linear_forward(dev, scratch, atty, w.attn_proj_w, w.attn_proj_b, BT, C, C);
        residual_forward(dev, residual2, residual, scratch, BT * C);
        layernorm_forward(dev, ln2, a.ln2_mean.data() + l * BT, a.ln2_rstd.data() + l * BT,
                          residual2, w.ln2_w, w.ln2_b, BT, C, c.layer_norm_epsilon);
        linear_forward(dev, fch, ln2, w.fc_w, w.fc_b, BT, C, 4 * C);
        gelu_forward(dev, fch_gelu, fch, BT * 4 * C);
        linear_forward(dev, scratch, fch_gelu, w.fc_proj_w, w.fc_proj_b, BT, 4 * C, C);
        residual_forward(dev, residual3, residual2, scratch, BT * C);
    }
    layernorm_forward(dev, a.lnf.data(), a.lnf_mean.data(), a.lnf_rstd.data(),
                      a.residual3.data() + (L - 1) * BT * C, params_[GptParam::lnf_w].data(),
                      params_[GptParam::lnf_b].data(), BT, C, c.layer_norm_epsilon);

    // Token-sparse LM head: logits (M, V) = head_in (M, C) · wteᵀ.
    std::fill_n(a.token_losses.data(), BT, std::numeric_limits<float>::quiet_NaN());
    if (M == 0) return 0.0f;
    gather_rows(dev, a.head_in.data(), a.lnf.data(), head_rows_.data(), M, C);
    matmul(dev, a.logits.data(), a.head_in.data(), params_[GptParam::wte].data(), M, V, C,
           Transpose::no, Transpose::yes);
    cross_entropy_forward(dev, a.head_losses.data(), a.logits.data(), head_targets_.data(), M, V);
    double sum = 0.0;
    for (std::int64_t m = 0; m < M; ++m) {
        a.token_losses.data()[loss_slots_[m]] = a.head_losses.data()[m];
        sum += a.head_losses.data()[m];
    }
    return static_cast<float>(sum / static_cast<double>(M));
}

template <class D>
void Gpt<D>::backward() {
    const std::int64_t M = num_targets();
    std::vector<float> weights(static_cast<std::size_t>(B_ * T_), 0.0f);
    for (std::int64_t m = 0; m < M; ++m)
        weights[static_cast<std::size_t>(loss_slots_[m])] = 1.0f / static_cast<float>(M);
    backward(weights);
}

template <class D>
std::vector<std::int32_t> Gpt<D>::target_argmax() const {
    const std::int64_t V = config_.vocab_size;
    std::vector<std::int32_t> out(static_cast<std::size_t>(B_ * T_), -1);
    for (std::size_t m = 0; m < loss_slots_.size(); ++m) {
        const float* row = acts_.logits.data() + static_cast<std::int64_t>(m) * V;
        out[static_cast<std::size_t>(loss_slots_[m])] =
            static_cast<std::int32_t>(std::max_element(row, row + V) - row);  // first maximum
    }
    return out;
}

template <class D>
std::vector<float> Gpt<D>::target_entropy() const {
    const std::int64_t V = config_.vocab_size;
    std::vector<float> out(static_cast<std::size_t>(B_ * T_), std::numeric_limits<float>::quiet_NaN());
    for (std::size_t m = 0; m < loss_slots_.size(); ++m) {
        const float* row = acts_.logits.data() + static_cast<std::int64_t>(m) * V;
        const float mx = *std::max_element(row, row + V);
        double z = 0.0, zx = 0.0;  // Σ e^(x - mx), Σ (x - mx) e^(x - mx)
        for (std::int64_t v = 0; v < V; ++v) {
            const double e = std::exp(static_cast<double>(row[v] - mx));
            z += e;
            zx += (row[v] - mx) * e;
        }
        out[static_cast<std::size_t>(loss_slots_[m])] = static_cast<float>(std::log(z) - zx / z);
    }
    return out;
}

template <class D>
void Gpt<D>::backward(std::span<const float> token_weights) {
    const GptConfig& c = config_;
    const std::int64_t B = B_, T = T_, L = c.n_layer, C = c.n_embd, NH = c.n_head,
                       V = c.vocab_size, BT = B * T, M = num_targets();
    auto& a = acts_;
    auto& g = grads();
    const D dev{};
    TOKCLEAN_CHECK(static_cast<std::int64_t>(token_weights.size()) == BT, "token_weights of ",
                   token_weights.size(), " entries for a (", B, ", ", T, ") batch");
    if (M == 0) return;  // no target: the objective is a constant

    // LM head: d(objective)/d(loss_m) = weight of that token; dlogits overwrite the logits.
    for (std::int64_t m = 0; m < M; ++m) a.dhead_losses.data()[m] = token_weights[static_cast<std::size_t>(loss_slots_[m])];
    cross_entropy_backward(dev, a.logits.data(), a.logits.data(), head_targets_.data(),
                           a.dhead_losses.data(), M, V);
    matmul(dev, a.dhead_in.data(), a.logits.data(), params_[GptParam::wte].data(), M, C, V);
    matmul(dev, g[GptParam::wte].data(), a.logits.data(), a.head_in.data(), V, C, M,
           Transpose::yes, Transpose::no, true);
    fill_zero(dev, a.dln.data(), BT * C);
    scatter_add_rows(dev, a.dln.data(), a.dhead_in.data(), head_rows_.data(), M, C);
    fill_zero(dev, a.dresidual.data(), BT * C);
    layernorm_backward(dev, a.dresidual.data(), g[GptParam::lnf_w].data(),
                       g[GptParam::lnf_b].data(), a.dln.data(),
                       a.residual3.data() + (L - 1) * BT * C, params_[GptParam::lnf_w].data(),
                       a.lnf_mean.data(), a.lnf_rstd.data(), BT, C);

    // dresidual holds d(block output); each block turns it into d(block input).
    for (std::int64_t l = L - 1; l >= 0; --l) {
        const auto w = params_.layer(static_cast<int>(l));
        const auto dw = g.layer(static_cast<int>(l));
        const float* residual = l == 0 ? a.encoded.data() : a.residual3.data() + (l - 1) * BT * C;
        const float* ln1 = a.ln1.data() + l * BT * C;
        const float* qkv = a.qkv.data() + l * BT * 3 * C;
        const float* atty = a.atty.data() + l * BT * C;
        const float* att = a.att.data() + l * B * NH * T * T;
        const float* residual2 = a.residual2.data() + l * BT * C;
        const float* ln2 = a.ln2.data() + l * BT * C;
        const float* fch = a.fch.data() + l * BT * 4 * C;
        const float* fch_gelu = a.fch_gelu.data() + l * BT * 4 * C;

        // MLP: residual3 = residual2 + fc_proj(gelu(fc(ln2(residual2)))).
        fill_zero(dev, a.dfch_gelu.data(), BT * 4 * C);
        linear_backward(dev, a.dfch_gelu.data(), dw.fc_proj_w, dw.fc_proj_b, a.dresidual.data(),
                        fch_gelu, w.fc_proj_w, BT, 4 * C, C);
        fill_zero(dev, a.dfch.data(), BT * 4 * C);
        gelu_backward(dev, a.dfch.data(), fch, a.dfch_gelu.data(), BT * 4 * C);
        fill_zero(dev, a.dln.data(), BT * C);
        linear_backward(dev, a.dln.data(), dw.fc_w, dw.fc_b, a.dfch.data(), ln2, w.fc_w, BT, C,
                        4 * C);
        layernorm_backward(dev, a.dresidual.data(), dw.ln2_w, dw.ln2_b, a.dln.data(), residual2,
                           w.ln2_w, a.ln2_mean.data() + l * BT, a.ln2_rstd.data() + l * BT, BT, C);

        // Attention: residual2 = residual + attn_proj(attention(qkv(ln1(residual)))).
        fill_zero(dev, a.datty.data(), BT * C);
        linear_backward(dev, a.datty.data(), dw.attn_proj_w, dw.attn_proj_b, a.dresidual.data(),
                        atty, w.attn_proj_w, BT, C, C);
        fill_zero(dev, a.dqkv.data(), BT * 3 * C);
        attention_backward(dev, a.dqkv.data(), a.datty.data(), qkv, att, B, T, C, NH);
        fill_zero(dev, a.dln.data(), BT * C);
        linear_backward(dev, a.dln.data(), dw.qkv_w, dw.qkv_b, a.dqkv.data(), ln1, w.qkv_w, BT, C,
                        3 * C);
        layernorm_backward(dev, a.dresidual.data(), dw.ln1_w, dw.ln1_b, a.dln.data(), residual,
                           w.ln1_w, a.ln1_mean.data() + l * BT, a.ln1_rstd.data() + l * BT, BT, C);
    }
    embedding_backward(dev, g[GptParam::wte].data(), g[GptParam::wpe].data(), a.dresidual.data(),
                       input_ids_, B, T, C);
}

}  // namespace tokclean
