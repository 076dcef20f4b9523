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
//
// On any device the interface is the host's: input_ids, labels and token weights are host
// arrays, losses come back in host memory. On the CPU the kernels read them in place; on
// another device upload() copies what its kernels read (the ids, the target rows and labels,
// the loss weights) and download() brings back the M losses.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "tokclean/backend/cpu.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"
#include "tokclean/nn/gpt_activations.hpp"
#include "tokclean/nn/gpt_block.hpp"
#include "tokclean/nn/gpt_params.hpp"

namespace tokclean {

// What a forward keeps. For backward (the default): every layer's activations. For scoring:
// only what token_losses(), target_argmax() and target_entropy() read, the layers sharing one
// set of buffers (a fraction of the memory and of the traffic); backward() then refuses.
// Both give the same losses, bit for bit.
enum class ForwardFor : bool { backward, scoring };

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
        if (zero_pending_) fill_zero(D{}, grads_.flat().data(), grads_.numel());
        zero_pending_ = false;
        return grads_;
    }
    // Sets grads() to zero. Lazily: a backward() that follows writes its gradients over the
    // buffer instead of adding to it, which saves a pass over the 124M values of GPT-2 and
    // one more of reading them back (the same values: 0 + g = g).
    void zero_grad() { zero_pending_ = true; }

    // Runs the model on input_ids (B, T) and labels (B, T); returns the mean loss over the
    // targets (0 when there are none). Per-token losses: token_losses().
    float forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B,
                  std::int64_t T, ForwardFor purpose = ForwardFor::backward);
    // (B, T) of the last forward: the loss at each target, NaN elsewhere.
    std::span<const float> token_losses() const {
        return {head_.token_losses.data(), static_cast<std::size_t>(B_ * T_)};  // host memory
    }
    std::int64_t num_targets() const { return static_cast<std::int64_t>(head_rows_.size()); }

    // Accumulates into grads() the gradient of the last forward's mean loss. Once per
    // forward made for backward (it turns that forward's logits into their gradient).
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
    const float* blocks_for_backward();  // returns ln_f's output (B·T, C)
    const float* blocks_for_scoring();
    float head_forward(const float* lnf);
    const float* host_logits() const;  // (M, V) of the last forward, readable on the host

    GptConfig config_;
    GptParams<D> params_;
    GptParams<D> grads_;
    GptActivations<D> acts_;
    GptScoreActivations<D> score_acts_;
    GptHeadBuffers<D> head_;
    const std::int32_t* input_ids_ = nullptr;  // (B, T) of the last forward, where kernels read it
    std::int64_t B_ = 0, T_ = 0;
    bool kept_for_backward_ = false;         // the last forward was ForwardFor::backward
    bool zero_pending_ = false;              // grads_ count as zero (zero_grad())
    std::vector<std::int64_t> head_rows_;    // (M) row b·T + j - 1 of each target (b, j)
    std::vector<std::int64_t> loss_slots_;   // (M) slot b·T + j of each target
    std::vector<std::int32_t> head_targets_; // (M) labels[b, j]
    // Where the kernels read the last three (host vectors themselves on the CPU), and the
    // staging buffers a device copies them into.
    const std::int64_t* rows_on_device_ = nullptr;
    const std::int32_t* targets_on_device_ = nullptr;
    Tensor<std::int32_t, D> ids_staging_, targets_staging_;
    Tensor<std::int64_t, D> rows_staging_;
    mutable std::vector<float> host_staging_;  // device values read on the host
    std::vector<float> head_weights_;          // (M) d(objective)/d(loss_m) of backward()
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
                      std::int64_t T, ForwardFor purpose) {
    const GptConfig& c = config_;
    if (T > c.n_positions)
        fail("sequence length ", T, " exceeds the model's n_positions = ", c.n_positions);
    B_ = B;
    T_ = T;
    kept_for_backward_ = false;
    collect_targets(input_ids, labels);
    const D dev{};
    input_ids_ = upload(dev, input_ids, B * T, ids_staging_);
    rows_on_device_ = upload(dev, head_rows_.data(), num_targets(), rows_staging_);
    targets_on_device_ = upload(dev, head_targets_.data(), num_targets(), targets_staging_);
    head_.reserve(c, B * T, num_targets());
    const float* lnf = purpose == ForwardFor::backward ? blocks_for_backward() : blocks_for_scoring();
    kept_for_backward_ = purpose == ForwardFor::backward;
    return head_forward(lnf);
}

template <class D>
const float* Gpt<D>::blocks_for_backward() {
    const GptConfig& c = config_;
    const std::int64_t B = B_, T = T_, L = c.n_layer, C = c.n_embd, NH = c.n_head, BT = B * T;
    acts_.reserve(c, B, T);
    auto& a = acts_;
    const D dev{};
    const std::int64_t att_stride = GptActivations<D>::att_stride(c, B, T);
    embedding_forward(dev, a.encoded.data(), input_ids_, params_[GptParam::wte].data(),
                      params_[GptParam::wpe].data(), B, T, C);
    for (std::int64_t l = 0; l < L; ++l) {
        const float* in = l == 0 ? a.encoded.data() : a.residual3.data() + (l - 1) * BT * C;
        const GptBlockForward out{
            a.ln1.data() + l * BT * C,       a.ln1_mean.data() + l * BT, a.ln1_rstd.data() + l * BT,
            a.qkv.data() + l * BT * 3 * C,   a.att.data() + l * att_stride,
            a.atty.data() + l * BT * C,      a.residual2.data() + l * BT * C,
            a.ln2.data() + l * BT * C,       a.ln2_mean.data() + l * BT, a.ln2_rstd.data() + l * BT,
            a.fch.data() + l * BT * 4 * C,   a.fch_gelu.data() + l * BT * 4 * C,
            a.residual3.data() + l * BT * C};
        gpt_block_forward(dev, out, in, std::as_const(params_).layer(static_cast<int>(l)), B, T, C,
                          NH, c.layer_norm_epsilon);
    }
    layernorm_forward(dev, a.lnf.data(), a.lnf_mean.data(), a.lnf_rstd.data(),
                      a.residual3.data() + (L - 1) * BT * C, params_[GptParam::lnf_w].data(),
                      params_[GptParam::lnf_b].data(), BT, C, c.layer_norm_epsilon);
    return a.lnf.data();
}

template <class D>
const float* Gpt<D>::blocks_for_scoring() {
    const GptConfig& c = config_;
    const std::int64_t B = B_, T = T_, L = c.n_layer, C = c.n_embd, NH = c.n_head, BT = B * T;
    score_acts_.reserve(c, B, T);
    auto& a = score_acts_;
    const D dev{};
    // The residual stream is updated in place; every other activation is overwritten by the
    // next layer. The same kernels as blocks_for_backward(), so the same losses bit for bit.
    float* stream = a.residual.data();  // (BT, C)
    embedding_forward(dev, stream, input_ids_, params_[GptParam::wte].data(),
                      params_[GptParam::wpe].data(), B, T, C);
    const GptBlockForward out{a.ln.data(),  a.mean.data(), a.rstd.data(), a.qkv.data(),
                              nullptr,      a.atty.data(), stream,        a.ln.data(),
                              a.mean.data(), a.rstd.data(), a.fch.data(), a.fch.data(),
                              stream};
    for (std::int64_t l = 0; l < L; ++l)
        gpt_block_forward(dev, out, stream, std::as_const(params_).layer(static_cast<int>(l)), B,
                          T, C, NH, c.layer_norm_epsilon);
    layernorm_forward(dev, a.ln.data(), a.mean.data(), a.rstd.data(), stream,
                      params_[GptParam::lnf_w].data(), params_[GptParam::lnf_b].data(), BT, C,
                      c.layer_norm_epsilon);
    return a.ln.data();
}

// Token-sparse LM head: logits (M, V) = head_in (M, C) · wteᵀ, then the cross-entropy.
template <class D>
float Gpt<D>::head_forward(const float* lnf) {
    const std::int64_t C = config_.n_embd, V = config_.vocab_size, M = num_targets();
    auto& h = head_;
    const D dev{};
    std::fill_n(h.token_losses.data(), B_ * T_, std::numeric_limits<float>::quiet_NaN());
    if (M == 0) return 0.0f;
    gather_rows(dev, h.head_in.data(), lnf, rows_on_device_, M, C);
    matmul(dev, h.logits.data(), h.head_in.data(), params_[GptParam::wte].data(), M, V, C,
           Transpose::no, Transpose::yes);
    cross_entropy_forward(dev, h.head_losses.data(), h.logits.data(), targets_on_device_, M, V,
                          h.lse.data());
    const float* losses = download(dev, std::as_const(h.head_losses).data(), M, host_staging_);  // (M)
    double sum = 0.0;
    for (std::int64_t m = 0; m < M; ++m) {
        h.token_losses.data()[loss_slots_[m]] = losses[m];
        sum += losses[m];
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
const float* Gpt<D>::host_logits() const {
    return download(D{}, head_.logits.data(), num_targets() * config_.vocab_size, host_staging_);
}

template <class D>
std::vector<std::int32_t> Gpt<D>::target_argmax() const {
    const std::int64_t V = config_.vocab_size;
    std::vector<std::int32_t> out(static_cast<std::size_t>(B_ * T_), -1);
    const float* logits = host_logits();  // (M, V)
    for (std::size_t m = 0; m < loss_slots_.size(); ++m) {
        const float* row = logits + static_cast<std::int64_t>(m) * V;
        out[static_cast<std::size_t>(loss_slots_[m])] =
            static_cast<std::int32_t>(std::max_element(row, row + V) - row);  // first maximum
    }
    return out;
}

template <class D>
std::vector<float> Gpt<D>::target_entropy() const {
    const std::int64_t V = config_.vocab_size;
    std::vector<float> out(static_cast<std::size_t>(B_ * T_), std::numeric_limits<float>::quiet_NaN());
    const float* logits = host_logits();  // (M, V)
    for (std::size_t m = 0; m < loss_slots_.size(); ++m) {
        const float* row = logits + static_cast<std::int64_t>(m) * V;
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
    TOKCLEAN_CHECK(kept_for_backward_, "backward() after a forward that did not keep its "
                   "activations (ForwardFor::scoring) or after another backward()");
    auto& a = acts_;
    auto& h = head_;
    const D dev{};
    const std::int64_t att_stride = GptActivations<D>::att_stride(c, B, T);
    TOKCLEAN_CHECK(static_cast<std::int64_t>(token_weights.size()) == BT, "token_weights of ",
                   token_weights.size(), " entries for a (", B, ", ", T, ") batch");
    if (M == 0) return;  // no target: the objective is a constant
    if (grads_.flat().empty()) grads_ = GptParams<D>(config_);
    auto& g = grads_;
    // After zero_grad() the first write of each gradient goes over the buffer.
    const GradWrite first = zero_pending_ ? GradWrite::overwrite : GradWrite::accumulate;

    // LM head: d(objective)/d(loss_m) = weight of that token; dlogits overwrite the logits.
    head_weights_.resize(static_cast<std::size_t>(M));
    for (std::int64_t m = 0; m < M; ++m)
        head_weights_[static_cast<std::size_t>(m)] = token_weights[static_cast<std::size_t>(loss_slots_[m])];
    const float* dlosses = upload(dev, std::as_const(head_weights_).data(), M, h.dhead_losses);  // (M)
    cross_entropy_backward(dev, h.logits.data(), h.logits.data(), targets_on_device_, dlosses, M, V,
                           h.lse.data());
    kept_for_backward_ = false;  // the logits are gone
    matmul(dev, h.dhead_in.data(), h.logits.data(), params_[GptParam::wte].data(), M, C, V);
    // Every row of wte's gradient gets the head's (V, C) product, then the embedding's rows.
    matmul(dev, g[GptParam::wte].data(), h.logits.data(), h.head_in.data(), V, C, M,
           Transpose::yes, Transpose::no, first);
    fill_zero(dev, a.dln.data(), BT * C);
    scatter_add_rows(dev, a.dln.data(), h.dhead_in.data(), rows_on_device_, M, C);
    fill_zero(dev, a.dresidual.data(), BT * C);
    layernorm_backward(dev, a.dresidual.data(), g[GptParam::lnf_w].data(),
                       g[GptParam::lnf_b].data(), a.dln.data(),
                       a.residual3.data() + (L - 1) * BT * C, params_[GptParam::lnf_w].data(),
                       a.lnf_mean.data(), a.lnf_rstd.data(), BT, C, first);

    // dresidual holds d(block output); each block turns it into d(block input).
    for (std::int64_t l = L - 1; l >= 0; --l) {
        const GptBlockBackward in{
            l == 0 ? a.encoded.data() : a.residual3.data() + (l - 1) * BT * C,
            a.ln1.data() + l * BT * C,       a.ln1_mean.data() + l * BT, a.ln1_rstd.data() + l * BT,
            a.qkv.data() + l * BT * 3 * C,   a.att.data() + l * att_stride,
            a.atty.data() + l * BT * C,      a.residual2.data() + l * BT * C,
            a.ln2.data() + l * BT * C,       a.ln2_mean.data() + l * BT, a.ln2_rstd.data() + l * BT,
            a.fch.data() + l * BT * 4 * C,   a.fch_gelu.data() + l * BT * 4 * C,
            a.dln.data(),                    a.datty.data(),
            a.dqkv.data(),                   a.dfch.data()};
        gpt_block_backward(dev, in, a.dresidual.data(),
                           std::as_const(params_).layer(static_cast<int>(l)),
                           g.layer(static_cast<int>(l)), B, T, C, NH, first);
    }
    // Positions past T get no gradient: wpe's is zeroed first when it is to be written over.
    if (first == GradWrite::overwrite) fill_zero(dev, g[GptParam::wpe].data(), g[GptParam::wpe].numel());
    embedding_backward(dev, g[GptParam::wte].data(), g[GptParam::wpe].data(), a.dresidual.data(),
                       input_ids_, B, T, C);
    zero_pending_ = false;
}

}  // namespace tokclean
