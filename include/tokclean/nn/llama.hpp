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
#include "tokclean/core/error.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/llama_config.hpp"
#include "tokclean/nn/llama_params.hpp"
#include "tokclean/nn/lm_head.hpp"
#include "tokclean/nn/rope.hpp"

namespace tokclean {

namespace llama_detail {

// out (N, OC) = x (N, IC) · W (OC, IC)ᵀ [+ bias (OC)], or += with accumulate.
template <class D>
void linear_rows(D dev, float* out, const float* x, const float* w, const float* bias, std::int64_t N,
                 std::int64_t IC, std::int64_t OC, GradWrite write = GradWrite::overwrite) {
    matmul(dev, out, x, w, N, OC, IC, Transpose::no, Transpose::yes, write, bias);
}
// dx (N, IC) = (or +=) dout (N, OC) · W (OC, IC); dW (OC, IC) += dout ᵀ · x.
template <class D>
void linear_rows_backward(D dev, float* dx, float* dw, const float* dout, const float* x, const float* w,
                          std::int64_t N, std::int64_t IC, std::int64_t OC, GradWrite dx_write) {
    matmul(dev, dx, dout, w, N, IC, OC, Transpose::no, Transpose::no, dx_write);
    matmul(dev, dw, dout, x, OC, IC, N, Transpose::yes, Transpose::no, GradWrite::accumulate);
}

}  // namespace llama_detail

template <class D = Cpu>
class Llama final : public CausalLm<D> {
    static_assert(BackendOps<D>, "Llama<D> needs the ops of backend/ops.hpp on D");

public:
    Llama(LlamaConfig config, Tensor<float, D> params)
        : config_(std::move(config)), layout_(config_), params_(std::move(params)),
          inv_freq_(rope_inv_freq(config_.head_dim, config_.rope_theta, config_.rope_scaling)) {
        TOKCLEAN_CHECK(params_.numel() == layout_.numel, "Llama parameters of ", params_.numel(), " values, the ",
                       "configuration has ", layout_.numel);
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
    Tensor<float, D>& flat_params() override { return params_; }
    const Tensor<float, D>& flat_params() const override { return params_; }
    Tensor<float, D>& flat_grads() override {
        if (grads_.numel() != params_.numel()) grads_ = Tensor<float, D>(params_.shape());  // zeros
        else if (zero_pending_) fill_zero(D{}, grads_.data(), grads_.numel());
        zero_pending_ = false;
        return grads_;
    }
    std::unique_ptr<CausalLm<D>> with_params(Tensor<float, D> params) const override {
        return std::make_unique<Llama>(config_, std::move(params));
    }
    void save(AtomicDirectory& out, std::span<const std::filesystem::path> extra_files = {}) const override {
        if constexpr (std::is_same_v<D, Cpu>) save_llama_files(out.path(), config_, params_.data());
        else save_llama_files(out.path(), config_, copy_to(Cpu{}, params_).data());
        out.copy_in(extra_files);
        out.commit();
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

        void reserve(const LlamaConfig& c, std::int64_t B, std::int64_t T, std::int64_t layers_kept) {
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
        }
    };

    // Floats of one layer's `att` for a (B, T) batch.
    static std::int64_t state_size(const LlamaConfig& c, std::int64_t B, std::int64_t T) {
        return attention_state_size(D{}, B, T, AttentionHeads{c.heads, c.kv_heads, c.head_dim});
    }
    const float* p(std::int64_t offset) const { return params_.data() + offset; }
    float* g(std::int64_t offset) { return grads_.data() + offset; }
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
    Tensor<float, D> params_;  // (layout_.numel)
    Tensor<float, D> grads_;   // (layout_.numel), allocated at first use
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
    acts_.reserve(c, B, T, keep ? c.n_layer : 1);
    const auto kept = [keep](std::int64_t l) { return keep ? l : 0; };        // slot of layer l's activations
    const auto stream = [keep](std::int64_t l) { return keep ? l : l % 2; };  // slot of layer l's input
    auto& a = acts_;
    const D dev{};
    const std::int64_t BT = B * T, C = c.hidden, I = c.intermediate, QKV = c.qkv_width(), QW = c.q_width();
    const std::int64_t NH = c.heads, KVH = c.kv_heads, hd = c.head_dim, S = state_size(c, B, T);
    ids_.assign(input_ids, input_ids + BT);
    ids_on_device_ = upload(dev, std::as_const(ids_).data(), BT, ids_staging_);
    gather_rows(dev, a.x.data(), p(layout_.embed), ids_on_device_, BT, C);
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
            llama_detail::linear_rows(dev, raw, norm1, p(o.qkv), nullptr, BT, C, QKV);
            copy_values(dev, qkv, raw, BT * QKV);
            rmsnorm_forward(dev, qkv, rstd, raw, p(o.q_norm), BT, hd, c.rms_norm_eps, NH, QKV);
            rmsnorm_forward(dev, qkv + QW, rstd + BT * NH, raw + QW, p(o.k_norm), BT, hd, c.rms_norm_eps, KVH, QKV);
        } else {
            llama_detail::linear_rows(dev, qkv, norm1, p(o.qkv), c.qkv_bias ? p(o.qkv_bias) : nullptr, BT, C, QKV);
        }
        rope_forward(dev, qkv, rope_cos_, rope_sin_, B, T, NH + KVH, hd, QKV);
        float* atty = a.atty.data() + kept(l) * BT * QW;
        attention_forward(dev, atty, a.att.data() + kept(l) * S, qkv, B, T, heads());
        float* mid = a.mid.data() + kept(l) * BT * C;
        copy_values(dev, mid, x, BT * C);
        llama_detail::linear_rows(dev, mid, atty, p(o.o), nullptr, BT, QW, C, GradWrite::accumulate);
        float* norm2 = a.norm2.data() + kept(l) * BT * C;
        rmsnorm_forward(dev, norm2, a.rstd2.data() + kept(l) * BT, mid, p(o.post_norm), BT, C, c.rms_norm_eps);
        float* gate_up = a.gate_up.data() + kept(l) * BT * 2 * I;
        llama_detail::linear_rows(dev, gate_up, norm2, p(o.gate_up), nullptr, BT, C, 2 * I);
        float* act = a.act.data() + kept(l) * BT * I;
        swiglu_forward(dev, act, gate_up, BT, I);
        float* out = a.x.data() + stream(l + 1) * BT * C;
        copy_values(dev, out, mid, BT * C);
        llama_detail::linear_rows(dev, out, act, p(o.down), nullptr, BT, I, C, GradWrite::accumulate);
    }
    rmsnorm_forward(dev, a.normf.data(), a.rstdf.data(), a.x.data() + stream(c.n_layer) * BT * C, p(layout_.norm), BT, C,
                    c.rms_norm_eps);
    kept_for_backward_ = purpose == ForwardFor::backward;
    return head_.forward(a.normf.data(), p(layout_.lm_head), C);
}

template <class D>
void Llama<D>::backward(std::span<const float> token_weights) {
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
    head_.backward(token_weights, p(layout_.lm_head), g(layout_.lm_head), a.dnorm.data(), C, GradWrite::accumulate);
    kept_for_backward_ = false;  // the logits are gone
    float* dx = a.dx.data();
    rmsnorm_backward(dev, dx, g(layout_.norm), a.dnorm.data(), a.x.data() + c.n_layer * BT * C, p(layout_.norm),
                     a.rstdf.data(), BT, C, 1, C, GradWrite::overwrite);
    // dx holds d(layer output); each layer turns it into d(layer input).
    for (std::int64_t l = c.n_layer - 1; l >= 0; --l) {
        const LlamaLayerOffsets& o = layout_.layers[static_cast<std::size_t>(l)];
        const float* x = a.x.data() + l * BT * C;
        const float* mid = a.mid.data() + l * BT * C;
        // MLP: out = mid + down(act), act = swiglu(gate_up(norm2(mid))).
        llama_detail::linear_rows_backward(dev, a.dact.data(), g(o.down), dx, a.act.data() + l * BT * I, p(o.down), BT, I,
                                           C, GradWrite::overwrite);
        swiglu_backward(dev, a.dgate_up.data(), a.gate_up.data() + l * BT * 2 * I, a.dact.data(), BT, I);
        llama_detail::linear_rows_backward(dev, a.dnorm.data(), g(o.gate_up), a.dgate_up.data(),
                                           a.norm2.data() + l * BT * C, p(o.gate_up), BT, C, 2 * I,
                                           GradWrite::overwrite);
        rmsnorm_backward(dev, dx, g(o.post_norm), a.dnorm.data(), mid, p(o.post_norm), a.rstd2.data() + l * BT, BT, C);
        // Attention: mid = x + o(attention(rope(qkv(norm1(x))))).
        llama_detail::linear_rows_backward(dev, a.datty.data(), g(o.o), dx, a.atty.data() + l * BT * QW, p(o.o), BT, QW, C,
                                           GradWrite::overwrite);
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
            rmsnorm_backward(dev, draw, g(o.q_norm), a.dqkv.data(), raw, p(o.q_norm), rstd, BT, hd, NH, QKV,
                             GradWrite::overwrite);
            rmsnorm_backward(dev, draw + QW, g(o.k_norm), a.dqkv.data() + QW, raw + QW, p(o.k_norm), rstd + BT * NH,
                             BT, hd, KVH, QKV, GradWrite::overwrite);
            dproj = draw;
        }
        if (c.qkv_bias) sum_rows(dev, g(o.qkv_bias), dproj, BT, QKV);
        llama_detail::linear_rows_backward(dev, a.dnorm.data(), g(o.qkv), dproj, a.norm1.data() + l * BT * C, p(o.qkv), BT,
                                           C, QKV, GradWrite::overwrite);
        rmsnorm_backward(dev, dx, g(o.input_norm), a.dnorm.data(), x, p(o.input_norm), a.rstd1.data() + l * BT, BT, C);
    }
    scatter_add_repeated_rows(dev, g(layout_.embed), dx, ids_on_device_, BT, C);  // the token embedding
}

// config.json of a Llama-family model directory (its fields' order kept for saving). A
// directory as downloaded (no tokclean_tokenizer) with a tokenizer.json reads text with it.
inline LlamaConfig load_llama_config(const std::filesystem::path& dir) {
    const auto path = dir / "config.json";
    std::error_code ec;
    return parse_llama_config_text(read_file_bytes(path), path.string(), std::filesystem::exists(dir / "tokenizer.json", ec));
}

}  // namespace tokclean
