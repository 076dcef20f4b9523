#pragma once
// Where LoRA adapters (nn/lora.hpp) sit in a Llama-family model: PEFT's module names
// (model.layers.N.self_attn.q_proj, ..., model.layers.N.mlp.down_proj), and for each the fused
// product it is part of (q, k, v: columns of qkv; gate, up: columns of gate_up), its columns
// there, and its weight in the flat buffer (nn/llama_params.hpp).
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/io/utf8.hpp"
#include "tokclean/nn/llama_config.hpp"
#include "tokclean/nn/llama_params.hpp"
#include "tokclean/nn/lora.hpp"

namespace tokclean {

namespace llama_detail {

// The linear layers LoRA can adapt, in a layer's order, and the fused product each is part of.
enum class LoraSite { qkv, o, gate_up, down };
struct LoraTarget {
    const char* name;  // PEFT's module name
    const char* block; // its parent in the module path
    LoraSite site;
};
inline constexpr LoraTarget lora_targets[] = {
    {"q_proj", "self_attn", LoraSite::qkv},  {"k_proj", "self_attn", LoraSite::qkv},
    {"v_proj", "self_attn", LoraSite::qkv},  {"o_proj", "self_attn", LoraSite::o},
    {"gate_proj", "mlp", LoraSite::gate_up}, {"up_proj", "mlp", LoraSite::gate_up},
    {"down_proj", "mlp", LoraSite::down}};

// An adapter on a Llama: its layout and, per layer, where each adapted module writes.
struct LlamaLora {
    struct Slot {
        LoraSite site;
        std::int64_t module;       // index in layout.modules
        std::int64_t col0, width;  // its output columns [col0, col0 + out) of the fused product's (N, width)
    };
    LoraConfig config;
    LoraLayout layout;
    std::vector<std::vector<Slot>> slots;  // (L) each layer's, in lora_targets order
    std::int64_t slots_per_layer = 0, max_in = 0;
};

}  // namespace llama_detail

// The adapted layers of a Llama-family model for `c` ("all-linear": the seven projections).
inline LoraLayout llama_lora_layout(const LlamaConfig& cfg, const LlamaLayout& params, const LoraConfig& c,
                                    std::vector<std::vector<llama_detail::LlamaLora::Slot>>* slots = nullptr) {
    using namespace llama_detail;
    std::vector<bool> on(std::size(lora_targets), false);
    for (const std::string& t : c.targets) {
        if (t == "all-linear") {
            on.assign(on.size(), true);
            continue;
        }
        const auto it = std::find_if(std::begin(lora_targets), std::end(lora_targets),
                                     [&](const LoraTarget& x) { return t == x.name; });
        if (it == std::end(lora_targets))
            fail(c.where, ": \"", detail::printable(t), "\" is not a linear layer of model_type ", cfg.model_type,
                 " (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear)");
        on[static_cast<std::size_t>(it - std::begin(lora_targets))] = true;
    }
    const std::int64_t C = cfg.hidden, I = cfg.intermediate, QW = cfg.q_width(), KW = cfg.kv_heads * cfg.head_dim,
                       QKV = cfg.qkv_width();
    LoraLayout layout;
    if (slots) slots->assign(static_cast<std::size_t>(cfg.n_layer), {});
    for (std::int64_t l = 0; l < cfg.n_layer; ++l) {
        const LlamaLayerOffsets& o = params.layers[static_cast<std::size_t>(l)];
        for (std::size_t k = 0; k < std::size(lora_targets); ++k) {
            if (!on[k]) continue;
            const LoraTarget& t = lora_targets[k];
            // (in, out, first output column, width of the fused product, offset of the fused weight)
            const auto [in, out, col0, width, fused] = [&]() -> std::tuple<std::int64_t, std::int64_t, std::int64_t,
                                                                           std::int64_t, std::int64_t> {
                switch (k) {
                    case 0: return {C, QW, 0, QKV, o.qkv};
                    case 1: return {C, KW, QW, QKV, o.qkv};
                    case 2: return {C, KW, QW + KW, QKV, o.qkv};
                    case 3: return {QW, C, 0, C, o.o};
                    case 4: return {C, I, 0, 2 * I, o.gate_up};
                    case 5: return {C, I, I, 2 * I, o.gate_up};
                    default: return {I, C, 0, C, o.down};
                }
            }();
            if (slots)
                (*slots)[static_cast<std::size_t>(l)].push_back(
                    {t.site, static_cast<std::int64_t>(layout.modules.size()), col0, width});
            add_lora_module(layout, "model.layers." + std::to_string(l) + "." + t.block + "." + t.name, in, out,
                            fused + col0 * in, c.r);
        }
    }
    return layout;
}

}  // namespace tokclean
