#pragma once
// A fresh Llama-family model: its config.json written as transformers writes one, and
// weights initialised as transformers' _init_weights does (every linear and the embedding
// N(0, initializer_range²) with initializer_range 0.02, biases 0, RMSNorm weights 1).
//
//   LlamaShape s;  s.model_type = "qwen3";  s.n_layer = 2;  ...
//   LlamaConfig c = llama_config(s);               // validated as config.json is on reading
//   Tensor<float, Cpu> params = llama_init(c, 7);  // (LlamaLayout(c).numel)
//   LlamaBf16Weights w = llama_init_bf16(c, 7);     // the same values rounded to bfloat16
#include <cstdint>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "tokclean/core/bfloat16.hpp"
#include "tokclean/core/rng.hpp"
#include "tokclean/core/tensor.hpp"
#include "tokclean/nn/llama_config.hpp"
#include "tokclean/nn/llama_params.hpp"

namespace tokclean {

// What `tokclean init --arch` takes; 0 in kv_heads / head_dim: the architecture's default
// (all heads; hidden / heads).
struct LlamaShape {
    std::string model_type = "llama";  // "llama", "mistral", "qwen2" or "qwen3"
    std::int64_t n_layer = 4, hidden = 256, intermediate = 0, heads = 4, kv_heads = 0, head_dim = 0;
    std::int64_t vocab_size = 257, max_positions = 256;
    double rope_theta = 10000.0;
    bool tied = false;
    std::int32_t eos_token_id = 256;
    std::string tokenizer = "byte";  // "byte", "hf-tokenizer" (tokenizer.json) or "" (pre-tokenized data only)
};

// The class transformers instantiates for each model_type.
inline std::string llama_architecture_name(const std::string& model_type) {
    if (model_type == "llama") return "LlamaForCausalLM";
    if (model_type == "mistral") return "MistralForCausalLM";
    if (model_type == "qwen2") return "Qwen2ForCausalLM";
    if (model_type == "qwen3") return "Qwen3ForCausalLM";
    fail("--arch: \"", model_type, "\" is not of the Llama family (llama, mistral, qwen2, qwen3)");
}

// config.json of `s`, every field the math depends on written out (no reliance on the
// defaults, which differ between the four and between transformers versions).
inline nlohmann::ordered_json llama_config_json(const LlamaShape& s) {
    const std::int64_t head_dim = s.head_dim > 0 ? s.head_dim : (s.heads > 0 ? s.hidden / s.heads : 0);
    const std::int64_t intermediate = s.intermediate > 0 ? s.intermediate : 4 * s.hidden;
    nlohmann::ordered_json j;
    j["architectures"] = {llama_architecture_name(s.model_type)};
    j["model_type"] = s.model_type;
    j["hidden_size"] = s.hidden;
    j["intermediate_size"] = intermediate;
    j["num_hidden_layers"] = s.n_layer;
    j["num_attention_heads"] = s.heads;
    j["num_key_value_heads"] = s.kv_heads > 0 ? s.kv_heads : s.heads;
    j["head_dim"] = head_dim;
    j["hidden_act"] = "silu";
    j["max_position_embeddings"] = s.max_positions;
    j["initializer_range"] = 0.02;
    j["rms_norm_eps"] = 1e-6;
    j["rope_theta"] = s.rope_theta;
    j["rope_scaling"] = nullptr;
    j["attention_bias"] = false;
    if (s.model_type == "llama") j["mlp_bias"] = false;
    j["attention_dropout"] = 0.0;
    if (s.model_type == "mistral") j["sliding_window"] = nullptr;
    if (s.model_type == "qwen2" || s.model_type == "qwen3") j["use_sliding_window"] = false;
    j["tie_word_embeddings"] = s.tied;
    j["vocab_size"] = s.vocab_size;
    j["bos_token_id"] = nullptr;
    j["eos_token_id"] = s.eos_token_id;
    j["use_cache"] = true;
    j["torch_dtype"] = "float32";
    if (!s.tokenizer.empty()) j["tokclean_tokenizer"] = s.tokenizer;
    return j;
}

// The configuration of `s`, refused with the field's name where config.json would be.
inline LlamaConfig llama_config(const LlamaShape& s, const std::string& where = "--arch") {
    const nlohmann::ordered_json source = llama_config_json(s);
    return parse_llama_config(nlohmann::json(source), source, JsonWhere{where, 0});
}

namespace llama_detail {

// params (c's layout, zeros) initialised; T float, or bfloat16 (the float values rounded).
template <class T>
void llama_init_values(const LlamaConfig& c, std::uint64_t seed, T* params) {
    constexpr double initializer_range = 0.02;
    const auto value = [](float x) {
        if constexpr (std::is_same_v<T, bfloat16>) return to_bfloat16(x);
        else return x;
    };
    Rng rng(seed);
    for (const LlamaParamKey& k : llama_param_keys(c)) {
        T* p = params + k.offset;
        const std::int64_t n = k.shape.numel();
        if (k.shape.rank() == 1) {  // RMSNorm weights (q/k/v biases stay 0)
            if (k.name.ends_with("norm.weight") || k.name.ends_with("layernorm.weight"))
                for (std::int64_t i = 0; i < n; ++i) p[i] = value(1.0f);
            continue;
        }
        for (std::int64_t i = 0; i < n; ++i) p[i] = value(static_cast<float>(initializer_range * rng.normal()));
    }
}

}  // namespace llama_detail

inline Tensor<float, Cpu> llama_init(const LlamaConfig& c, std::uint64_t seed) {
    Tensor<float, Cpu> params(Shape{LlamaLayout(c).numel});  // zeros: biases stay 0
    llama_detail::llama_init_values(c, seed, params.data());
    return params;
}

// llama_init's values rounded to bfloat16, never held in float32 (an 8B shape in 16 GB).
inline LlamaBf16Weights llama_init_bf16(const LlamaConfig& c, std::uint64_t seed) {
    LlamaBf16Weights w;
    w.values = Tensor<bfloat16, Cpu>(Shape{LlamaLayout(c).numel});
    llama_detail::llama_init_values(c, seed, w.values.data());
    llama_detail::index_vectors(w, c);
    return w;
}

}  // namespace tokclean
