#pragma once
// GPT-2 (learned positions, pre-LayerNorm blocks, tied LM head), one CausalLm
// (nn/causal_lm.hpp): forward to per-token losses, backward to parameter gradients. The layer
// math is the backend's _forward / _backward pairs, chosen by the Device tag; the LM head is
// the token-sparse one every model shares (nn/lm_head.hpp); this file wires them together.
//
// On any device the interface is the host's: input_ids, labels and token weights are host
// arrays, losses come back in host memory. On the CPU the kernels read them in place; on
// another device upload() copies what its kernels read (the ids, the target rows and labels,
// the loss weights) and download() brings back the M losses.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tokclean/backend/cpu.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/gpt_activations.hpp"
#include "tokclean/nn/gpt_block.hpp"
#include "tokclean/nn/gpt_params.hpp"
#include "tokclean/nn/lm_head.hpp"
#include "tokclean/nn/model_dir.hpp"

namespace tokclean {

// For scoring (ForwardFor::scoring) the layers share one set of buffers: a fraction of the
// memory and of the traffic of a forward kept for backward.
template <class D = Cpu>
class Gpt final : public CausalLm<D> {
public:
    Gpt(const GptConfig& config, GptParams<D> params)
        : config_(config), params_(std::move(params)) {}
    using CausalLm<D>::forward;

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

    // CausalLm (see nn/causal_lm.hpp for each one's contract).
    ModelInfo info() const override {
        return {"gpt2", config_.vocab_size, config_.n_positions, config_.eos_token_id, config_.tokenizer};
    }
    float forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B, std::int64_t T,
                  ForwardFor purpose) override;
    std::span<const float> token_losses() const override { return head_.token_losses(); }
    std::int64_t num_targets() const { return head_.num_targets(); }
    void backward() override { backward(head_.mean_weights()); }
    void backward(std::span<const float> token_weights) override;
    std::vector<std::int32_t> target_argmax() const override { return head_.target_argmax(); }
    std::vector<float> target_entropy() const override { return head_.target_entropy(); }
    Tensor<float, D>& flat_params() override { return params_.flat(); }
    const Tensor<float, D>& flat_params() const override { return params_.flat(); }
    Tensor<float, D>& flat_grads() override { return grads().flat(); }
    std::unique_ptr<CausalLm<D>> with_params(Tensor<float, D> params) const override {
        return std::make_unique<Gpt>(config_, GptParams<D>(config_, std::move(params)));
    }
    void save(AtomicDirectory& out, std::span<const std::filesystem::path> extra_files = {}) const override {
        if constexpr (std::is_same_v<D, Cpu>) save_model_dir(out, config_, params_, extra_files);
        else save_model_dir(out, config_, copy_to(Cpu{}, params_), extra_files);
    }
    // GptActivations: per kept layer 16 (B·T, C) floats and the attention state; the scratch
    // gradients; the head's logits and rows (every position a target at worst).
    std::int64_t working_bytes(std::int64_t B, std::int64_t T, ForwardFor purpose) const override {
        const std::int64_t BT = B * T, C = config_.n_embd, NH = config_.n_head;
        const std::int64_t L = purpose == ForwardFor::backward ? config_.n_layer : 1;
        const std::int64_t per_layer = 16 * BT * C + 4 * BT + attention_state_size(D{}, B, T, C, NH);
        return 4 * (L * per_layer + 12 * BT * C + BT * (config_.vocab_size + 2 * C));
    }
    ShapeDifference shape_difference(const CausalLm<D>& other) const override {
        const auto* g = dynamic_cast<const Gpt*>(&other);
        if (!g) return {"model_type", "\"" + other.info().model_type + "\"", "\"gpt2\""};
        const GptConfig& a = g->config();
        const GptConfig& b = config_;
        for (const auto& [field, x, y] : {std::tuple{"n_layer", a.n_layer, b.n_layer}, {"n_head", a.n_head, b.n_head},
                                          {"n_embd", a.n_embd, b.n_embd}, {"vocab_size", a.vocab_size, b.vocab_size},
                                          {"n_positions", a.n_positions, b.n_positions},
                                          {"eos_token_id", a.eos_token_id, b.eos_token_id}})
            if (x != y) return {field, std::to_string(x), std::to_string(y)};
        const auto name = [](const std::string& t) { return "\"" + (t.empty() ? std::string("none") : t) + "\""; };
        if (a.tokenizer != b.tokenizer) return {"tokclean_tokenizer", name(a.tokenizer), name(b.tokenizer)};
        return {};
    }

private:
    const float* blocks_for_backward();  // returns ln_f's output (B·T, C)
    const float* blocks_for_scoring();

    GptConfig config_;
    GptParams<D> params_;
    GptParams<D> grads_;
    GptActivations<D> acts_;
    GptScoreActivations<D> score_acts_;
    TokenLmHead<D> head_;
    const std::int32_t* input_ids_ = nullptr;  // (B, T) of the last forward, where kernels read it
    Tensor<std::int32_t, D> ids_staging_;
    std::int64_t B_ = 0, T_ = 0;
    bool kept_for_backward_ = false;  // the last forward was ForwardFor::backward
    bool zero_pending_ = false;       // grads_ count as zero (zero_grad())
};

template <class D>
float Gpt<D>::forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B,
                      std::int64_t T, ForwardFor purpose) {
    const GptConfig& c = config_;
    if (T > c.n_positions)
        fail("sequence length ", T, " exceeds the model's n_positions = ", c.n_positions);
    B_ = B;
    T_ = T;
    kept_for_backward_ = false;
    head_.collect(input_ids, labels, B, T, c.vocab_size);
    input_ids_ = upload(D{}, input_ids, B * T, ids_staging_);
    const float* lnf = purpose == ForwardFor::backward ? blocks_for_backward() : blocks_for_scoring();
    kept_for_backward_ = purpose == ForwardFor::backward;
    return head_.forward(lnf, params_[GptParam::wte].data(), c.n_embd);
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

template <class D>
void Gpt<D>::backward(std::span<const float> token_weights) {
    const GptConfig& c = config_;
    const std::int64_t B = B_, T = T_, L = c.n_layer, C = c.n_embd, NH = c.n_head, BT = B * T;
    TOKCLEAN_CHECK(kept_for_backward_, "backward() after a forward that did not keep its "
                   "activations (ForwardFor::scoring) or after another backward()");
    auto& a = acts_;
    const D dev{};
    const std::int64_t att_stride = GptActivations<D>::att_stride(c, B, T);
    TOKCLEAN_CHECK(static_cast<std::int64_t>(token_weights.size()) == BT, "token_weights of ",
                   token_weights.size(), " entries for a (", B, ", ", T, ") batch");
    if (num_targets() == 0) return;  // no target: the objective is a constant
    if (grads_.flat().empty()) grads_ = GptParams<D>(config_);
    auto& g = grads_;
    // After zero_grad() the first write of each gradient goes over the buffer.
    const GradWrite first = zero_pending_ ? GradWrite::overwrite : GradWrite::accumulate;

    // LM head: every row of wte's gradient gets the head's (V, C) product, then the
    // embedding's rows; dln receives d(ln_f output).
    head_.backward(token_weights, params_[GptParam::wte].data(), g[GptParam::wte].data(), a.dln.data(), C, first);
    kept_for_backward_ = false;  // the logits are gone
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
