#pragma once
// GPT-2 parameters in one flat buffer (llm.c style), with named views into it. The same
// layout serves the gradients and the AdamW moments. Weight matrices are stored [in, out]
// (Hugging Face Conv1D layout), so a linear layer is out (N, out) = in (N, in) · W (in, out).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tokclean/core/tensor.hpp"
#include "tokclean/nn/gpt_config.hpp"

namespace tokclean {

// The parameter tensors in buffer order. Per-layer tensors are stacked over the L layers.
enum class GptParam : int {
    wte,          // (V, C)         token embedding, tied with the LM head
    wpe,          // (T, C)         position embedding
    ln1_w,        // (L, C)
    ln1_b,        // (L, C)
    qkv_w,        // (L, C, 3C)     attn.c_attn
    qkv_b,        // (L, 3C)
    attn_proj_w,  // (L, C, C)      attn.c_proj
    attn_proj_b,  // (L, C)
    ln2_w,        // (L, C)
    ln2_b,        // (L, C)
    fc_w,         // (L, C, 4C)     mlp.c_fc
    fc_b,         // (L, 4C)
    fc_proj_w,    // (L, 4C, C)     mlp.c_proj
    fc_proj_b,    // (L, C)
    lnf_w,        // (C)
    lnf_b,        // (C)
    count
};
inline constexpr int gpt_param_count = static_cast<int>(GptParam::count);

// Shapes of every parameter tensor, in buffer order.
inline std::array<Shape, gpt_param_count> gpt_param_shapes(const GptConfig& c) {
    const std::int64_t V = c.vocab_size, T = c.n_positions, C = c.n_embd, L = c.n_layer;
    return {Shape{V, C},         Shape{T, C},     Shape{L, C},         Shape{L, C},
            Shape{L, C, 3 * C},  Shape{L, 3 * C}, Shape{L, C, C},      Shape{L, C},
            Shape{L, C},         Shape{L, C},     Shape{L, C, 4 * C},  Shape{L, 4 * C},
            Shape{L, 4 * C, C},  Shape{L, C},     Shape{C},            Shape{C}};
}

inline std::int64_t gpt_param_numel(const GptConfig& c) {
    std::int64_t n = 0;
    for (const auto& s : gpt_param_shapes(c)) n += s.numel();
    return n;
}

// Pointers into one layer's slice of the stacked per-layer tensors.
template <class T>
struct GptLayerView {
    T* ln1_w;        // (C)
    T* ln1_b;        // (C)
    T* qkv_w;        // (C, 3C)
    T* qkv_b;        // (3C)
    T* attn_proj_w;  // (C, C)
    T* attn_proj_b;  // (C)
    T* ln2_w;        // (C)
    T* ln2_b;        // (C)
    T* fc_w;         // (C, 4C)
    T* fc_b;         // (4C)
    T* fc_proj_w;    // (4C, C)
    T* fc_proj_b;    // (C)
};

// A flat buffer of all parameters (or of their gradients, or of an optimizer moment) and
// named views into it.
template <class D = Cpu>
class GptParams {
public:
    GptParams() = default;
    explicit GptParams(const GptConfig& config)
        : GptParams(config, Tensor<float, D>(Shape{gpt_param_numel(config)})) {}
    // Views over `flat`, a buffer of gpt_param_numel(config) values in buffer order.
    GptParams(const GptConfig& config, Tensor<float, D> flat) : config_(config), flat_(std::move(flat)) {
        TOKCLEAN_CHECK(flat_.numel() == gpt_param_numel(config), "a parameter buffer of ", flat_.numel(),
                       " values for a model of ", gpt_param_numel(config));
        const auto shapes = gpt_param_shapes(config);
        float* p = flat_.data();
        for (int i = 0; i < gpt_param_count; ++i) {
            views_[i] = Tensor<float, D>::view(p, shapes[i]);
            p += shapes[i].numel();
        }
    }

    // A deep copy (a model to fine-tune while the original stays).
    GptParams clone() const { return GptParams(config_, flat_.clone()); }

    const GptConfig& config() const { return config_; }
    Tensor<float, D>& flat() { return flat_; }
    const Tensor<float, D>& flat() const { return flat_; }
    std::int64_t numel() const { return flat_.numel(); }

    Tensor<float, D>& operator[](GptParam p) { return views_[static_cast<int>(p)]; }
    const Tensor<float, D>& operator[](GptParam p) const { return views_[static_cast<int>(p)]; }

    GptLayerView<float> layer(int l) { return layer_view<float>(l); }
    GptLayerView<const float> layer(int l) const { return layer_view<const float>(l); }

private:
    template <class T>
    GptLayerView<T> layer_view(int l) const {
        const std::int64_t C = config_.n_embd;
        auto at = [&](GptParam p, std::int64_t per_layer) -> T* {
            return const_cast<float*>(views_[static_cast<int>(p)].data()) + l * per_layer;
        };
        return {at(GptParam::ln1_w, C),           at(GptParam::ln1_b, C),
                at(GptParam::qkv_w, C * 3 * C),   at(GptParam::qkv_b, 3 * C),
                at(GptParam::attn_proj_w, C * C), at(GptParam::attn_proj_b, C),
                at(GptParam::ln2_w, C),           at(GptParam::ln2_b, C),
                at(GptParam::fc_w, C * 4 * C),    at(GptParam::fc_b, 4 * C),
                at(GptParam::fc_proj_w, 4 * C * C), at(GptParam::fc_proj_b, C)};
    }

    GptConfig config_;
    Tensor<float, D> flat_;
    std::array<Tensor<float, D>, gpt_param_count> views_;
};

// The same parameters on the device given by the tag (a copy): copy_to(Cuda{}, loaded) before
// training on the GPU, copy_to(Cpu{}, model.params()) before saving.
template <class To, class From>
GptParams<To> copy_to(To, const GptParams<From>& p) {
    return GptParams<To>(p.config(), copy_to(To{}, p.flat()));
}

}  // namespace tokclean
