#pragma once
// The Llama family (llama, mistral, qwen2, qwen3; nn/llama_config.hpp states the architecture)
// as one CausalLm (nn/causal_lm.hpp): forward to per-token losses, backward to gradients of
// the flat parameter buffer (nn/llama_params.hpp). The layers are the backend's RMSNorm, RoPE,
// grouped-query attention and SwiGLU ops; the head is the token-sparse one GPT-2 uses.
//
// On any backend with those ops: Llama<Cpu> here; Llama<Cuda> where the program includes
// backend/cuda.cuh (nvcc). A forward for scoring runs the same kernels as one for backward,
// so the losses agree bit for bit; it keeps one layer's activations, every layer writing
// over them. The ids and RoPE tables are host arrays, uploaded where the kernels read them.
//
// With a LoRA adapter (with_lora; nn/lora.hpp states the math) the weights are frozen and
// shared, the adapter is the trained parameter buffer, and each adapted projection adds
// s · dropout(x) · Aᵀ · Bᵀ to its columns of the fused product (q, k, v of qkv; gate, up of
// gate_up); backward skips every base weight's gradient.
//
// Weights kept in bfloat16 (--dtype bf16, nn/llama_params.hpp's LlamaBf16Weights; the CPU only
// for now): the products and the embedding read them widened exactly, so a model whose files
// are BF16 scores bit for bit as when widened to float32 at load, in half the memory. Such
// weights are frozen: scoring, or a LoRA adapter trained on top.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tokclean/backend/cpu.hpp"
#include "tokclean/backend/detail/dropout_mask.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/llama_config.hpp"
#include "tokclean/nn/llama_params.hpp"
#include "tokclean/nn/lm_head.hpp"
#include "tokclean/nn/llama_lora.hpp"
#include "tokclean/nn/rope.hpp"

namespace tokclean {

namespace llama_detail {

// out (N, OC) = x (N, IC) · W (OC, IC)ᵀ [+ bias (OC)], or += with accumulate. W: float, or
// bfloat16 on the CPU.
template <class D, class W>
void linear_rows(D dev, float* out, const float* x, const W* w, const float* bias, std::int64_t N,
                 std::int64_t IC, std::int64_t OC, GradWrite write = GradWrite::overwrite) {
    matmul(dev, out, x, w, N, OC, IC, Transpose::no, Transpose::yes, write, bias);
}
// dx (N, IC) = (or +=) dout (N, OC) · W (OC, IC); dW (OC, IC) += dout ᵀ · x unless dw is null
// (a frozen base, as bfloat16 weights always are).
template <class D, class W>
void linear_rows_backward(D dev, float* dx, float* dw, const float* dout, const float* x, const W* w,
                          std::int64_t N, std::int64_t IC, std::int64_t OC, GradWrite dx_write) {
    matmul(dev, dx, dout, w, N, IC, OC, Transpose::no, Transpose::no, dx_write);
    if (dw) matmul(dev, dw, dout, x, OC, IC, N, Transpose::yes, Transpose::no, GradWrite::accumulate);
}

[[noreturn]] inline void bf16_weights_not_trained() {
    fail("the model's weights are held in bfloat16 (--dtype bf16) and are not trained: train with --dtype fp32, or "
         "train a LoRA adapter on top (--lora-r)");
}

}  // namespace llama_detail

template <class D = Cpu>
class Llama final : public CausalLm<D> {
    static_assert(BackendOps<D>, "Llama<D> needs the ops of backend/ops.hpp on D");

public:
    Llama(LlamaConfig config, Tensor<float, D> params)
        : Llama(std::move(config), std::make_shared<Tensor<float, D>>(std::move(params)), nullptr, Tensor<float, D>()) {}
    // Weights kept in bfloat16 (frozen; the CPU only).
    Llama(LlamaConfig config, std::shared_ptr<const LlamaBf16Weights> weights)
        : Llama(std::move(config), std::make_shared<Tensor<float, D>>(), nullptr, Tensor<float, D>(), std::move(weights)) {}
    // Base + adapter: `weights` (or `bf16` when set) frozen and shared with the models made from
    // this one, `adapter` laid out as lora->layout.
    Llama(LlamaConfig config, std::shared_ptr<Tensor<float, D>> weights, std::shared_ptr<const llama_detail::LlamaLora> lora,
          Tensor<float, D> adapter, std::shared_ptr<const LlamaBf16Weights> bf16 = nullptr)
        : config_(std::move(config)), layout_(config_), weights_(std::move(weights)), bf16_(std::move(bf16)),
          lora_(std::move(lora)), adapter_(std::move(adapter)),
          inv_freq_(rope_inv_freq(config_.head_dim, config_.rope_theta, config_.rope_scaling)) {
        if (bf16_ && !std::is_same_v<D, Cpu>)
            fail("--dtype bf16: weights in bfloat16 run on the CPU only in this version (use --dtype fp32 on the GPU)");
        const std::int64_t held = bf16_ ? bf16_->values.numel() : weights_->numel();
        TOKCLEAN_CHECK(held == layout_.numel, "Llama parameters of ", held, " values, the configuration has ",
                       layout_.numel);
        if (lora_)
            TOKCLEAN_CHECK(adapter_.numel() == lora_->layout.numel, "an adapter of ", adapter_.numel(), " values, its "
                           "layout has ", lora_->layout.numel);
    }
    using CausalLm<D>::forward;

    const LlamaConfig& config() const { return config_; }
    const LlamaLayout& layout() const { return layout_; }

    ModelInfo info() const override {
        return {config_.model_type, static_cast<std::int32_t>(config_.vocab_size), config_.max_positions,
                config_.eos_token_id, config_.tokenizer};
    }
    float forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B, std::int64_t T,
                  ForwardFor purpose) override;
    std::span<const float> token_losses() const override { return head_.token_losses(); }
    std::vector<std::int32_t> target_argmax() const override { return head_.target_argmax(); }
    std::vector<float> target_entropy() const override { return head_.target_entropy(); }
    void zero_grad() override { zero_pending_ = true; }
    void backward() override { backward(head_.mean_weights()); }
    void backward(std::span<const float> token_weights) override;
    // The trained parameters: the adapter's with LoRA, else every weight (never bf16 ones).
    Tensor<float, D>& flat_params() override {
        if (bf16_ && !lora_) llama_detail::bf16_weights_not_trained();
        return lora_ ? adapter_ : *weights_;
    }
    const Tensor<float, D>& flat_params() const override {
        if (bf16_ && !lora_) llama_detail::bf16_weights_not_trained();
        return lora_ ? adapter_ : *weights_;
    }
    Tensor<float, D>& flat_grads() override {
        const Tensor<float, D>& params = flat_params();
        if (grads_.numel() != params.numel()) grads_ = Tensor<float, D>(params.shape());  // zeros
        else if (zero_pending_) fill_zero(D{}, grads_.data(), grads_.numel());
        zero_pending_ = false;
        return grads_;
    }
    std::unique_ptr<CausalLm<D>> with_params(Tensor<float, D> params) const override {
        if (lora_) return std::make_unique<Llama>(config_, weights_, lora_, std::move(params), bf16_);
        return std::make_unique<Llama>(config_, std::move(params));
    }
    void save(AtomicDirectory& out, std::span<const std::filesystem::path> extra_files = {}) const override {
        if (bf16_ && !lora_) {  // saved as held: BF16
            save_llama_files(out.path(), config_, bf16_->values.data());
            out.copy_in(extra_files);
            out.commit();
            return;
        }
        const Tensor<float, D>& params = flat_params();
        Tensor<float, Cpu> host;
        if constexpr (!std::is_same_v<D, Cpu>) host = copy_to(Cpu{}, params);
        const float* data = std::is_same_v<D, Cpu> ? params.data() : host.data();
        if (lora_) save_lora_files(out.path(), lora_->config, lora_->layout, data);
        else save_llama_files(out.path(), config_, data);
        out.copy_in(extra_files);
        out.commit();
    }
    LoraLayout lora_layout(const LoraConfig& c) const override { return llama_lora_layout(config_, layout_, c); }
    std::unique_ptr<CausalLm<D>> with_lora(const LoraConfig& c, Tensor<float, D> params) const override {
        auto lora = std::make_shared<llama_detail::LlamaLora>();
        lora->config = c;
        lora->layout = llama_lora_layout(config_, layout_, c, &lora->slots);
        for (const auto& layer : lora->slots) lora->slots_per_layer = std::max<std::int64_t>(lora->slots_per_layer, std::ssize(layer));
        for (const LoraModule& m : lora->layout.modules) lora->max_in = std::max(lora->max_in, m.in);
        if (params.numel() != lora->layout.numel)
            fail(c.where, ": an adapter of ", params.numel(), " values for a layout of ", lora->layout.numel);
        return std::make_unique<Llama>(config_, weights_, std::move(lora), std::move(params), bf16_);
    }
    const LoraConfig* lora() const override { return lora_ ? &lora_->config : nullptr; }
    std::unique_ptr<CausalLm<D>> merged() const override {
        TOKCLEAN_CHECK(lora_ != nullptr, "merged(): the model has no adapter");
        Tensor<float, Cpu> w = bf16_ ? bf16_->widened() : copy_to(Cpu{}, *weights_);
        const Tensor<float, Cpu> a = copy_to(Cpu{}, adapter_);
        merge_lora(w.data(), a.data(), lora_->config, lora_->layout);
        if constexpr (std::is_same_v<D, Cpu>) return std::make_unique<Llama>(config_, std::move(w));
        else return std::make_unique<Llama>(config_, copy_to(D{}, w));
    }
    void set_noise_seed(std::uint64_t seed) override { noise_seed_ = seed; }
    std::int64_t weight_bytes() const override {
        return (bf16_ ? bf16_->bytes() : 4 * weights_->numel()) + (lora_ ? 4 * adapter_.numel() : 0);
    }
    WeightDtype weight_dtype() const override { return bf16_ ? WeightDtype::bf16 : WeightDtype::f32; }
    // The Activations of reserve() plus the head's logits and its rows (every position a target
    // at worst).
    std::int64_t working_bytes(std::int64_t B, std::int64_t T, ForwardFor purpose) const override {
        const LlamaConfig& c = config_;
        const std::int64_t BT = B * T, C = c.hidden, I = c.intermediate, QKV = c.qkv_width(), QW = c.q_width();
        const std::int64_t L = purpose == ForwardFor::backward ? c.n_layer : 1;
        std::int64_t per_layer = BT * (4 * C + 2 + QKV + QW + 3 * I) + state_size(c, B, T);
        if (c.qk_norm) per_layer += BT * (QKV + c.heads + c.kv_heads);
        if (lora_) per_layer += lora_->slots_per_layer * BT * lora_->config.r;
        const std::int64_t once = BT * (C + C + 1) + BT * (2 * C + 3 * I + QW + 2 * QKV) + BT * (c.vocab_size + 2 * C);
        return 4 * ((L + 1) * BT * C + L * per_layer + once);
    }
    ShapeDifference shape_difference(const CausalLm<D>& other) const override {
        const auto* m = dynamic_cast<const Llama*>(&other);
        if (!m || m->config().model_type != config_.model_type)
            return {"model_type", "\"" + other.info().model_type + "\"", "\"" + config_.model_type + "\""};
        const LlamaConfig& a = m->config();
        const LlamaConfig& b = config_;
        for (const auto& [field, x, y] :
             {std::tuple{"num_hidden_layers", a.n_layer, b.n_layer}, {"hidden_size", a.hidden, b.hidden},
              {"intermediate_size", a.intermediate, b.intermediate}, {"num_attention_heads", a.heads, b.heads},
              {"num_key_value_heads", a.kv_heads, b.kv_heads}, {"head_dim", a.head_dim, b.head_dim},
              {"vocab_size", a.vocab_size, b.vocab_size}, {"max_position_embeddings", a.max_positions, b.max_positions},
              {"tie_word_embeddings", std::int64_t{a.tied}, std::int64_t{b.tied}},
              {"eos_token_id", std::int64_t{a.eos_token_id}, std::int64_t{b.eos_token_id}}})
            if (x != y) return {field, std::to_string(x), std::to_string(y)};
        const auto name = [](const std::string& t) { return "\"" + (t.empty() ? std::string("none") : t) + "\""; };
        if (a.tokenizer != b.tokenizer) return {"tokclean_tokenizer", name(a.tokenizer), name(b.tokenizer)};
        return {};
    }

private:
    // Per-layer activations of a (B, T) batch, kept for backward: (L, ...) stacked, L = the
    // layers kept (all of them for backward; one for scoring, every layer reusing it).
    struct Activations {
        std::int64_t BT = 0, S = 0, layers = 0;  // capacity: positions, att floats per layer, layers
        Tensor<float, D> x;          // (L + 1, BT, C) each layer's input, then the last output
        Tensor<float, D> norm1;      // (L, BT, C)
        Tensor<float, D> rstd1;      // (L, BT)
        Tensor<float, D> qkv_raw;    // (L, BT, QKV) projections before the q/k norm (qwen3)
        Tensor<float, D> qk_rstd;    // (L, BT, NH + KVH) (qwen3)
        Tensor<float, D> qkv;        // (L, BT, QKV) after the q/k norm and RoPE
        Tensor<float, D> att;        // (L, S) what attention keeps, S = attention_state_size:
                                     // (L, B, NH, T, T) softmax probabilities on the CPU
        Tensor<float, D> atty;       // (L, BT, NH·hd)
        Tensor<float, D> mid;        // (L, BT, C) after the attention residual
        Tensor<float, D> norm2;      // (L, BT, C)
        Tensor<float, D> rstd2;      // (L, BT)
        Tensor<float, D> gate_up;    // (L, BT, 2I)
        Tensor<float, D> act;        // (L, BT, I) silu(gate) · up
        Tensor<float, D> normf;      // (BT, C) the final norm's output
        Tensor<float, D> rstdf;      // (BT)
        // Backward scratch.
        Tensor<float, D> dx;         // (BT, C) d(residual stream)
        Tensor<float, D> dnorm;      // (BT, C)
        Tensor<float, D> dact;       // (BT, I)
        Tensor<float, D> dgate_up;   // (BT, 2I)
        Tensor<float, D> datty;      // (BT, NH·hd)
        Tensor<float, D> dqkv;       // (BT, QKV)
        Tensor<float, D> dqkv_raw;   // (BT, QKV) (qwen3)
        // LoRA's (empty without an adapter).
        Tensor<float, D> lora_h;      // (L, slots, BT, r) s · dropout(x) · Aᵀ of each adapted module
        Tensor<float, D> lora_dh;     // (BT, r)
        Tensor<float, D> lora_x;      // (BT, max in) a dropped-out input, or d(input) before dropout
        Tensor<float, D> norm_dw;     // (max(C, hd)) where a frozen norm's weight gradient goes

        void reserve(const LlamaConfig& c, const llama_detail::LlamaLora* lora, std::int64_t B, std::int64_t T,
                     std::int64_t layers_kept) {
            const std::int64_t bt = B * T, s = state_size(c, B, T);
            if (bt <= BT && s <= S && layers_kept <= layers) return;
            BT = std::max(bt, BT);
            S = std::max(s, S);
            layers = std::max(layers_kept, layers);
            const std::int64_t L = layers, C = c.hidden, I = c.intermediate, QKV = c.qkv_width();
            x = Tensor<float, D>(Shape{(L + 1) * BT * C});
            norm1 = Tensor<float, D>(Shape{L * BT * C});
            rstd1 = Tensor<float, D>(Shape{L * BT});
            if (c.qk_norm) {
                qkv_raw = Tensor<float, D>(Shape{L * BT * QKV});
                qk_rstd = Tensor<float, D>(Shape{L * BT * (c.heads + c.kv_heads)});
                dqkv_raw = Tensor<float, D>(Shape{BT * QKV});
            }
            qkv = Tensor<float, D>(Shape{L * BT * QKV});
            att = Tensor<float, D>(Shape{L * S});
            atty = Tensor<float, D>(Shape{L * BT * c.q_width()});
            mid = Tensor<float, D>(Shape{L * BT * C});
            norm2 = Tensor<float, D>(Shape{L * BT * C});
            rstd2 = Tensor<float, D>(Shape{L * BT});
            gate_up = Tensor<float, D>(Shape{L * BT * 2 * I});
            act = Tensor<float, D>(Shape{L * BT * I});
            normf = Tensor<float, D>(Shape{BT * C});
            rstdf = Tensor<float, D>(Shape{BT});
            dx = Tensor<float, D>(Shape{BT * C});
            dnorm = Tensor<float, D>(Shape{BT * C});
            dact = Tensor<float, D>(Shape{BT * I});
            dgate_up = Tensor<float, D>(Shape{BT * 2 * I});
            datty = Tensor<float, D>(Shape{BT * c.q_width()});
            dqkv = Tensor<float, D>(Shape{BT * QKV});
            if (lora) {
                const std::int64_t r = lora->config.r;
                lora_h = Tensor<float, D>(Shape{std::max<std::int64_t>(1, L * lora->slots_per_layer * BT * r)});
                lora_dh = Tensor<float, D>(Shape{BT * r});
                lora_x = Tensor<float, D>(Shape{BT * std::max<std::int64_t>(1, lora->max_in)});
                norm_dw = Tensor<float, D>(Shape{std::max(C, c.head_dim)});
            }
        }
    };

    // Floats of one layer's `att` for a (B, T) batch.
    static std::int64_t state_size(const LlamaConfig& c, std::int64_t B, std::int64_t T) {
        return attention_state_size(D{}, B, T, AttentionHeads{c.heads, c.kv_heads, c.head_dim});
    }
    // The weight vector (norm weight, bias) at `offset`, as floats.
    const float* p(std::int64_t offset) const {
        if constexpr (std::is_same_v<D, Cpu>)
            if (bf16_) return bf16_->vector(offset);
        return weights_->data() + offset;
    }
    // f(the weight matrix at `offset`): a const float*, or a const bfloat16* when kept in bf16.
    template <class F>
    decltype(auto) with_matrix(std::int64_t offset, F&& f) const {
        if constexpr (std::is_same_v<D, Cpu>)
            if (bf16_) return f(static_cast<const bfloat16*>(bf16_->values.data() + offset));
        return f(static_cast<const float*>(weights_->data() + offset));
    }
    // A base weight's gradient: null when the base is frozen (LoRA), where products skip it.
    float* g(std::int64_t offset) { return lora_ ? nullptr : grads_.data() + offset; }
    // A norm weight's gradient (norm kernels always write one): scratch when the base is frozen.
    float* g_norm(std::int64_t offset) { return lora_ ? acts_.norm_dw.data() : grads_.data() + offset; }
    void lora_forward(llama_detail::LoraSite site, std::int64_t l, std::int64_t slot_layer, const float* x, float* out,
                      std::int64_t BT, bool training);
    void lora_backward(llama_detail::LoraSite site, std::int64_t l, const float* x, const float* dout, float* dx,
                       std::int64_t BT);
    std::uint64_t dropout_seed(std::int64_t l, std::size_t slot) const {
        return dropout_detail::mix(noise_seed_, static_cast<std::uint64_t>(l) * 64 + slot);
    }
    AttentionHeads heads() const { return {config_.heads, config_.kv_heads, config_.head_dim}; }
    // The RoPE tables of T positions or more, where the kernels read them.
    void ensure_rope(std::int64_t T) {
        if (rope_.T >= T) return;
        rope_ = rope_tables(inv_freq_, T);
        const auto n = static_cast<std::int64_t>(rope_.cos.size());
        rope_cos_ = upload(D{}, rope_.cos.data(), n, rope_cos_staging_);
        rope_sin_ = upload(D{}, rope_.sin.data(), n, rope_sin_staging_);
    }

    LlamaConfig config_;
    LlamaLayout layout_;
    std::shared_ptr<Tensor<float, D>> weights_;  // (layout_.numel) every weight; shared and frozen with LoRA; empty with bf16_
    std::shared_ptr<const LlamaBf16Weights> bf16_;  // every weight in bfloat16 (frozen), or null
    std::shared_ptr<const llama_detail::LlamaLora> lora_;  // null: no adapter
    Tensor<float, D> adapter_;  // (lora_->layout.numel) with LoRA
    Tensor<float, D> grads_;    // of flat_params(), allocated at first use
    std::uint64_t noise_seed_ = 0;
    std::vector<float> inv_freq_;  // (hd / 2)
    RopeTables rope_;              // (T, hd / 2) for the longest T seen, on the host
    const float* rope_cos_ = nullptr;  // (T, hd / 2) where the kernels read them
    const float* rope_sin_ = nullptr;
    Tensor<float, D> rope_cos_staging_, rope_sin_staging_;
    Activations acts_;
    TokenLmHead<D> head_;
    std::vector<std::int64_t> ids_;  // (B, T) of the last forward, on the host
    const std::int64_t* ids_on_device_ = nullptr;  // the same, where the kernels read them
    Tensor<std::int64_t, D> ids_staging_;
    std::int64_t B_ = 0, T_ = 0;
    bool kept_for_backward_ = false;
    bool zero_pending_ = false;
};

template <class D>
float Llama<D>::forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B, std::int64_t T,
                        ForwardFor purpose) {
    using llama_detail::LoraSite;
    const LlamaConfig& c = config_;
    if (T > c.max_positions) fail("sequence length ", T, " exceeds the model's max_position_embeddings = ", c.max_positions);
    if (c.sliding_window > 0 && T > c.sliding_window)
        fail("sequence length ", T, " exceeds the model's sliding_window = ", c.sliding_window,
             " (tokclean computes full attention, which equals the windowed one only within the window)");
    kept_for_backward_ = false;
    head_.collect(input_ids, labels, B, T, c.vocab_size);  // checks the ids
    B_ = B;
    T_ = T;
    ensure_rope(T);
    // Scoring keeps one layer's activations (every layer writes over them) and two slots of
    // the residual stream: the memory of one layer, not of L.
    const bool keep = purpose == ForwardFor::backward;
    acts_.reserve(c, lora_.get(), B, T, keep ? c.n_layer : 1);
    const bool training = keep;  // LoRA's dropout: in forwards for backward (training) only
    const auto kept = [keep](std::int64_t l) { return keep ? l : 0; };        // slot of layer l's activations
    const auto stream = [keep](std::int64_t l) { return keep ? l : l % 2; };  // slot of layer l's input
    auto& a = acts_;
    const D dev{};
    const std::int64_t BT = B * T, C = c.hidden, I = c.intermediate, QKV = c.qkv_width(), QW = c.q_width();
    const std::int64_t NH = c.heads, KVH = c.kv_heads, hd = c.head_dim, S = state_size(c, B, T);
    ids_.assign(input_ids, input_ids + BT);
    ids_on_device_ = upload(dev, std::as_const(ids_).data(), BT, ids_staging_);
    with_matrix(layout_.embed, [&](const auto* embed) { gather_rows(dev, a.x.data(), embed, ids_on_device_, BT, C); });
    for (std::int64_t l = 0; l < c.n_layer; ++l) {
        const LlamaLayerOffsets& o = layout_.layers[static_cast<std::size_t>(l)];
        const float* x = a.x.data() + stream(l) * BT * C;
        float* norm1 = a.norm1.data() + kept(l) * BT * C;
        float* qkv = a.qkv.data() + kept(l) * BT * QKV;
        rmsnorm_forward(dev, norm1, a.rstd1.data() + kept(l) * BT, x, p(o.input_norm), BT, C, c.rms_norm_eps);
        if (c.qk_norm) {
            // q and k heads normalised over their hd entries (v copied), then rotated.
            float* raw = a.qkv_raw.data() + kept(l) * BT * QKV;
            float* rstd = a.qk_rstd.data() + kept(l) * BT * (NH + KVH);
            with_matrix(o.qkv, [&](const auto* w) { llama_detail::linear_rows(dev, raw, norm1, w, nullptr, BT, C, QKV); });
            if (lora_) lora_forward(LoraSite::qkv, l, kept(l), norm1, raw, BT, training);
            copy_values(dev, qkv, raw, BT * QKV);
            rmsnorm_forward(dev, qkv, rstd, raw, p(o.q_norm), BT, hd, c.rms_norm_eps, NH, QKV);
            rmsnorm_forward(dev, qkv + QW, rstd + BT * NH, raw + QW, p(o.k_norm), BT, hd, c.rms_norm_eps, KVH, QKV);
        } else {
            const float* bias = c.qkv_bias ? p(o.qkv_bias) : nullptr;
            with_matrix(o.qkv, [&](const auto* w) { llama_detail::linear_rows(dev, qkv, norm1, w, bias, BT, C, QKV); });
            if (lora_) lora_forward(LoraSite::qkv, l, kept(l), norm1, qkv, BT, training);
        }
        rope_forward(dev, qkv, rope_cos_, rope_sin_, B, T, NH + KVH, hd, QKV);
        float* atty = a.atty.data() + kept(l) * BT * QW;
        attention_forward(dev, atty, a.att.data() + kept(l) * S, qkv, B, T, heads());
        float* mid = a.mid.data() + kept(l) * BT * C;
        copy_values(dev, mid, x, BT * C);
        with_matrix(o.o, [&](const auto* w) {
            llama_detail::linear_rows(dev, mid, atty, w, nullptr, BT, QW, C, GradWrite::accumulate);
        });
        if (lora_) lora_forward(LoraSite::o, l, kept(l), atty, mid, BT, training);
        float* norm2 = a.norm2.data() + kept(l) * BT * C;
        rmsnorm_forward(dev, norm2, a.rstd2.data() + kept(l) * BT, mid, p(o.post_norm), BT, C, c.rms_norm_eps);
        float* gate_up = a.gate_up.data() + kept(l) * BT * 2 * I;
        with_matrix(o.gate_up, [&](const auto* w) { llama_detail::linear_rows(dev, gate_up, norm2, w, nullptr, BT, C, 2 * I); });
        if (lora_) lora_forward(LoraSite::gate_up, l, kept(l), norm2, gate_up, BT, training);
        float* act = a.act.data() + kept(l) * BT * I;
        swiglu_forward(dev, act, gate_up, BT, I);
        float* out = a.x.data() + stream(l + 1) * BT * C;
        copy_values(dev, out, mid, BT * C);
        with_matrix(o.down, [&](const auto* w) {
            llama_detail::linear_rows(dev, out, act, w, nullptr, BT, I, C, GradWrite::accumulate);
        });
        if (lora_) lora_forward(LoraSite::down, l, kept(l), act, out, BT, training);
    }
    rmsnorm_forward(dev, a.normf.data(), a.rstdf.data(), a.x.data() + stream(c.n_layer) * BT * C, p(layout_.norm), BT, C,
                    c.rms_norm_eps);
    kept_for_backward_ = purpose == ForwardFor::backward;
    return with_matrix(layout_.lm_head, [&](const auto* w) { return head_.forward(a.normf.data(), w, C); });
}

template <class D>
void Llama<D>::backward(std::span<const float> token_weights) {
    using llama_detail::LoraSite;
    const LlamaConfig& c = config_;
    TOKCLEAN_CHECK(kept_for_backward_, "backward() after a forward that did not keep its "
                   "activations (ForwardFor::scoring) or after another backward()");
    const std::int64_t B = B_, T = T_, BT = B * T, C = c.hidden, I = c.intermediate, QKV = c.qkv_width(),
                       QW = c.q_width(), NH = c.heads, KVH = c.kv_heads, hd = c.head_dim, S = state_size(c, B, T);
    TOKCLEAN_CHECK(static_cast<std::int64_t>(token_weights.size()) == BT, "token_weights of ", token_weights.size(),
                   " entries for a (", B, ", ", T, ") batch");
    flat_grads();  // allocated, and zero after zero_grad(): every gradient below accumulates
    auto& a = acts_;
    const D dev{};
    // The head: lm_head's gradient (embed's when tied); dnorm = d(final norm output).
    with_matrix(layout_.lm_head, [&](const auto* w) {
        head_.backward(token_weights, w, g(layout_.lm_head), a.dnorm.data(), C, GradWrite::accumulate);
    });
    kept_for_backward_ = false;  // the logits are gone
    float* dx = a.dx.data();
    rmsnorm_backward(dev, dx, g_norm(layout_.norm), a.dnorm.data(), a.x.data() + c.n_layer * BT * C, p(layout_.norm),
                     a.rstdf.data(), BT, C, 1, C, GradWrite::overwrite);
    // dx holds d(layer output); each layer turns it into d(layer input).
    for (std::int64_t l = c.n_layer - 1; l >= 0; --l) {
        const LlamaLayerOffsets& o = layout_.layers[static_cast<std::size_t>(l)];
        const float* x = a.x.data() + l * BT * C;
        const float* mid = a.mid.data() + l * BT * C;
        // MLP: out = mid + down(act), act = swiglu(gate_up(norm2(mid))).
        with_matrix(o.down, [&](const auto* w) {
            llama_detail::linear_rows_backward(dev, a.dact.data(), g(o.down), dx, a.act.data() + l * BT * I, w, BT, I, C,
                                               GradWrite::overwrite);
        });
        if (lora_) lora_backward(LoraSite::down, l, a.act.data() + l * BT * I, dx, a.dact.data(), BT);
        swiglu_backward(dev, a.dgate_up.data(), a.gate_up.data() + l * BT * 2 * I, a.dact.data(), BT, I);
        with_matrix(o.gate_up, [&](const auto* w) {
            llama_detail::linear_rows_backward(dev, a.dnorm.data(), g(o.gate_up), a.dgate_up.data(),
                                               a.norm2.data() + l * BT * C, w, BT, C, 2 * I, GradWrite::overwrite);
        });
        if (lora_) lora_backward(LoraSite::gate_up, l, a.norm2.data() + l * BT * C, a.dgate_up.data(), a.dnorm.data(), BT);
        rmsnorm_backward(dev, dx, g_norm(o.post_norm), a.dnorm.data(), mid, p(o.post_norm), a.rstd2.data() + l * BT, BT, C);
        // Attention: mid = x + o(attention(rope(qkv(norm1(x))))).
        with_matrix(o.o, [&](const auto* w) {
            llama_detail::linear_rows_backward(dev, a.datty.data(), g(o.o), dx, a.atty.data() + l * BT * QW, w, BT, QW, C,
                                               GradWrite::overwrite);
        });
        if (lora_) lora_backward(LoraSite::o, l, a.atty.data() + l * BT * QW, dx, a.datty.data(), BT);
        fill_zero(dev, a.dqkv.data(), BT * QKV);
        attention_backward(dev, a.dqkv.data(), a.datty.data(), a.qkv.data() + l * BT * QKV, a.att.data() + l * S, B, T,
                           heads());
        rope_backward(dev, a.dqkv.data(), rope_cos_, rope_sin_, B, T, NH + KVH, hd, QKV);
        const float* dproj = a.dqkv.data();  // d(projection output) (BT, QKV)
        if (c.qk_norm) {
            const float* raw = a.qkv_raw.data() + l * BT * QKV;
            const float* rstd = a.qk_rstd.data() + l * BT * (NH + KVH);
            float* draw = a.dqkv_raw.data();
            copy_values(dev, draw, a.dqkv.data(), BT * QKV);  // v passes through
            rmsnorm_backward(dev, draw, g_norm(o.q_norm), a.dqkv.data(), raw, p(o.q_norm), rstd, BT, hd, NH, QKV,
                             GradWrite::overwrite);
            rmsnorm_backward(dev, draw + QW, g_norm(o.k_norm), a.dqkv.data() + QW, raw + QW, p(o.k_norm), rstd + BT * NH,
                             BT, hd, KVH, QKV, GradWrite::overwrite);
            dproj = draw;
        }
        if (c.qkv_bias && !lora_) sum_rows(dev, g(o.qkv_bias), dproj, BT, QKV);
        with_matrix(o.qkv, [&](const auto* w) {
            llama_detail::linear_rows_backward(dev, a.dnorm.data(), g(o.qkv), dproj, a.norm1.data() + l * BT * C, w, BT, C,
                                               QKV, GradWrite::overwrite);
        });
        if (lora_) lora_backward(LoraSite::qkv, l, a.norm1.data() + l * BT * C, dproj, a.dnorm.data(), BT);
        rmsnorm_backward(dev, dx, g_norm(o.input_norm), a.dnorm.data(), x, p(o.input_norm), a.rstd1.data() + l * BT, BT, C);
    }
    if (!lora_) scatter_add_repeated_rows(dev, g(layout_.embed), dx, ids_on_device_, BT, C);  // the token embedding
}

// out (BT, width) columns [col0, col0 + m.out) += s · dropout(x) · Aᵀ · Bᵀ for each module of
// layer l adapted at `site`; x (BT, m.in) the product's input. h = s · dropout(x) · Aᵀ (BT, r)
// is kept in activation slot `slot_layer` for backward (dropout only when training).
template <class D>
void Llama<D>::lora_forward(llama_detail::LoraSite site, std::int64_t l, std::int64_t slot_layer, const float* x,
                            float* out, std::int64_t BT, bool training) {
    const D dev{};
    const llama_detail::LlamaLora& lora = *lora_;
    const std::int64_t r = lora.config.r;
    const auto p_drop = static_cast<float>(lora.config.dropout);
    const auto& slots = lora.slots[static_cast<std::size_t>(l)];
    for (std::size_t k = 0; k < slots.size(); ++k) {
        const auto& slot = slots[k];
        if (slot.site != site) continue;
        const LoraModule& m = lora.layout.modules[static_cast<std::size_t>(slot.module)];
        const float* xin = x;
        if (training && p_drop > 0) {
            dropout_forward(dev, acts_.lora_x.data(), x, BT * m.in, p_drop, dropout_seed(l, k));
            xin = acts_.lora_x.data();
        }
        float* h = acts_.lora_h.data() + (slot_layer * lora.slots_per_layer + static_cast<std::int64_t>(k)) * BT * r;
        matmul(dev, h, xin, adapter_.data() + m.a, BT, r, m.in, Transpose::no, Transpose::yes);
        scale_values(dev, h, lora.config.scaling(), BT * r);
        matmul_strided(dev, out + slot.col0, slot.width, h, r, Transpose::no, adapter_.data() + m.b, r, Transpose::yes, BT,
                       m.out, r, GradWrite::accumulate);
    }
}

// Given dout (BT, width), the gradient of the product's output, and x its input: dA, dB of
// layer l's modules at `site` accumulate into the adapter's gradient, and dx (BT, m.in) +=
// their share of d(input) (the base's share is already there).
template <class D>
void Llama<D>::lora_backward(llama_detail::LoraSite site, std::int64_t l, const float* x, const float* dout, float* dx,
                             std::int64_t BT) {
    const D dev{};
    const llama_detail::LlamaLora& lora = *lora_;
    const std::int64_t r = lora.config.r;
    const auto p_drop = static_cast<float>(lora.config.dropout);
    const auto& slots = lora.slots[static_cast<std::size_t>(l)];
    float* dh = acts_.lora_dh.data();    // (BT, r)
    float* scratch = acts_.lora_x.data();  // (BT, in)
    for (std::size_t k = 0; k < slots.size(); ++k) {
        const auto& slot = slots[k];
        if (slot.site != site) continue;
        const LoraModule& m = lora.layout.modules[static_cast<std::size_t>(slot.module)];
        const float* A = adapter_.data() + m.a;  // (r, in)
        const float* B = adapter_.data() + m.b;  // (out, r)
        const float* h = acts_.lora_h.data() + (l * lora.slots_per_layer + static_cast<std::int64_t>(k)) * BT * r;
        // dB (out, r) += dout[:, cols]ᵀ · h;  dh = dout[:, cols] · B, then · s: d(dropout(x) · Aᵀ).
        matmul_strided(dev, grads_.data() + m.b, r, dout + slot.col0, slot.width, Transpose::yes, h, r, Transpose::no,
                       m.out, r, BT, GradWrite::accumulate);
        matmul_strided(dev, dh, r, dout + slot.col0, slot.width, Transpose::no, B, r, Transpose::no, BT, r, m.out,
                       GradWrite::overwrite);
        scale_values(dev, dh, lora.config.scaling(), BT * r);
        const bool dropped = p_drop > 0;  // a forward for backward is a training one
        const float* xin = x;
        if (dropped) {  // the forward's mask, drawn again
            dropout_forward(dev, scratch, x, BT * m.in, p_drop, dropout_seed(l, k));
            xin = scratch;
        }
        matmul(dev, grads_.data() + m.a, dh, xin, r, m.in, BT, Transpose::yes, Transpose::no, GradWrite::accumulate);
        if (!dropped) {
            matmul(dev, dx, dh, A, BT, m.in, r, Transpose::no, Transpose::no, GradWrite::accumulate);
        } else {
            matmul(dev, scratch, dh, A, BT, m.in, r);
            dropout_forward(dev, scratch, scratch, BT * m.in, p_drop, dropout_seed(l, k));
            residual_forward(dev, dx, dx, scratch, BT * m.in);
        }
    }
}

// config.json of a Llama-family model directory (its fields' order kept for saving). A
// directory as downloaded (no tokclean_tokenizer) with a tokenizer.json reads text with it.
inline LlamaConfig load_llama_config(const std::filesystem::path& dir) {
    const auto path = dir / "config.json";
    std::error_code ec;
    return parse_llama_config_text(read_file_bytes(path), path.string(), std::filesystem::exists(dir / "tokenizer.json", ec));
}

}  // namespace tokclean
