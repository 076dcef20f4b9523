#pragma once
// config.json of the Llama family (model_type "llama", "mistral", "qwen2", "qwen3"), read as
// Hugging Face transformers reads it: the same defaults for absent fields, and an error
// naming the field for every setting whose math tokclean does not compute (another rope
// type, biases where the architecture has none, another activation). The object as read is
// kept, so a saved model carries every field it came with.
//
// The architecture, common to the four (pre-RMSNorm blocks, no position embedding):
//   x += o_proj(attention(rope(q, k), v))   q, k, v = projections of input_layernorm(x)
//   x += down_proj(silu(gate_proj(m)) · up_proj(m)),   m = post_attention_layernorm(x)
//   logits = lm_head(norm(x))               lm_head = embed_tokens when tie_word_embeddings
// qwen2 adds biases to q, k, v; qwen3 RMS-normalises each q and k head before RoPE.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/nn/rope.hpp"

namespace tokclean {

struct LlamaConfig {
    std::string model_type;             // "llama", "mistral", "qwen2" or "qwen3"
    std::int64_t n_layer = 0;           // num_hidden_layers
    std::int64_t hidden = 0;            // hidden_size, C
    std::int64_t intermediate = 0;      // intermediate_size, I
    std::int64_t heads = 0;             // num_attention_heads, NH
    std::int64_t kv_heads = 0;          // num_key_value_heads, KVH (divides NH)
    std::int64_t head_dim = 0;          // hd (even)
    std::int64_t vocab_size = 0;        // V
    std::int64_t max_positions = 0;     // max_position_embeddings
    std::int64_t sliding_window = 0;    // a window in use (longer sequences are refused); 0: none
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    float rms_norm_eps = 1e-6f;
    bool tied = false;                  // tie_word_embeddings
    bool qkv_bias = false;              // qwen2
    bool qk_norm = false;               // qwen3
    std::int32_t eos_token_id = 0;      // the first of a list
    std::string tokenizer;              // "byte", "hf-tokenizer" (tokenizer.json) or "" (none: pre-tokenized data)
    nlohmann::ordered_json source;      // config.json as read

    std::int64_t q_width() const { return heads * head_dim; }        // NH·hd
    std::int64_t kv_width() const { return kv_heads * head_dim; }    // KVH·hd
    std::int64_t qkv_width() const { return q_width() + 2 * kv_width(); }
};

inline bool is_llama_family(const std::string& model_type) {
    return model_type == "llama" || model_type == "mistral" || model_type == "qwen2" || model_type == "qwen3";
}

// Error unless a model of config.json's model_type `type` (in `dir`) can hold bf16 weights.
inline void require_bf16_weights_support(const std::filesystem::path& dir, const std::string& type) {
    if (!is_llama_family(type))
        fail((dir / "config.json").string(), ": --dtype bf16: model_type \"", detail::printable(type),
             "\" keeps its weights in float32 in tokclean (the Llama family takes bf16)");
}

namespace llama_detail {

// An integer field that may be absent or null (then `fallback`).
inline std::int64_t int_or(const nlohmann::json& j, const char* name, std::int64_t fallback, const JsonWhere& w) {
    const auto* f = find_field(j, name);
    if (!f || f->is_null()) return fallback;
    return require_int64(j, name, w);
}

inline void require_positive(std::int64_t v, const char* name, const JsonWhere& w) {
    if (v <= 0) fail(w.str(), ": field '", name, "': expected a positive integer, got ", v);
}

// rope_scaling (transformers 4) or rope_parameters (transformers 5): none, "default" or
// "llama3"; the field's name is in every error.
inline RopeScaling parse_rope_scaling(const nlohmann::json& r, const char* field, const JsonWhere& w) {
    RopeScaling s;
    if (r.is_null()) return s;
    if (!r.is_object()) fail(w.str(), ": field '", field, "': expected an object or null, got ", json_describe(r));
    const JsonWhere inner{w.file + " field '" + field + "'", w.line};
    std::string type = "default";
    if (find_field(r, "rope_type")) type = require_string(r, "rope_type", inner);
    else if (find_field(r, "type")) type = require_string(r, "type", inner);
    if (type == "default") return s;
    if (type != "llama3")
        fail(w.str(), ": field '", field, "': rope_type \"", detail::printable(type),
             "\" is not supported (tokclean computes \"default\" and \"llama3\")");
    s.llama3 = true;
    s.factor = require_number(r, "factor", inner);
    s.low_freq_factor = require_number(r, "low_freq_factor", inner);
    s.high_freq_factor = require_number(r, "high_freq_factor", inner);
    s.original_max_positions = require_int64(r, "original_max_position_embeddings", inner);
    if (!(s.factor > 0) || !(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor) ||
        s.original_max_positions <= 0)
        fail(w.str(), ": field '", field, "': llama3 scaling needs factor > 0, 0 < low_freq_factor < "
             "high_freq_factor and original_max_position_embeddings > 0");
    return s;
}

}  // namespace llama_detail

// Parses a Llama-family config.json object `j` (`source`: the same, in the file's order, kept
// for saving); `w` names the file in errors.
inline LlamaConfig parse_llama_config(const nlohmann::json& j, const nlohmann::ordered_json& source,
                                      const JsonWhere& w, bool has_tokenizer_json = false) {
    using namespace llama_detail;
    require_object(j, w);
    LlamaConfig c;
    c.source = source;
    c.model_type = require_string(j, "model_type", w);
    if (!is_llama_family(c.model_type))
        fail(w.str(), ": field 'model_type': \"", detail::printable(c.model_type),
             "\" is not of the Llama family (llama, mistral, qwen2, qwen3)");
    const std::string& type = c.model_type;

    c.n_layer = require_int64(j, "num_hidden_layers", w);
    c.hidden = require_int64(j, "hidden_size", w);
    c.intermediate = require_int64(j, "intermediate_size", w);
    c.heads = require_int64(j, "num_attention_heads", w);
    c.vocab_size = require_int64(j, "vocab_size", w);
    c.max_positions = require_int64(j, "max_position_embeddings", w);
    for (const auto& [name, v] : {std::pair{"num_hidden_layers", c.n_layer}, {"hidden_size", c.hidden},
                                  {"intermediate_size", c.intermediate}, {"num_attention_heads", c.heads},
                                  {"vocab_size", c.vocab_size}, {"max_position_embeddings", c.max_positions}})
        require_positive(v, name, w);
    if (c.vocab_size > std::int64_t{1} << 31) fail(w.str(), ": field 'vocab_size': ", c.vocab_size, " exceeds 2^31");

    // transformers' defaults: all heads for llama, 8 for mistral, 32 for the Qwens; null: all.
    const std::int64_t kv_default = type == "llama" ? c.heads : type == "mistral" ? 8 : 32;
    const auto kv = j.find("num_key_value_heads");
    c.kv_heads = kv == j.end() ? kv_default : kv->is_null() ? c.heads : require_int64(j, "num_key_value_heads", w);
    require_positive(c.kv_heads, "num_key_value_heads", w);
    if (c.heads % c.kv_heads != 0)
        fail(w.str(), ": field 'num_key_value_heads': ", c.kv_heads, " does not divide num_attention_heads = ",
             c.heads);
    const std::int64_t hd_default = type == "qwen3" ? 128 : c.hidden / c.heads;
    if (type != "qwen3" && !find_field(j, "head_dim") && c.hidden % c.heads != 0)
        fail(w.str(), ": field 'hidden_size': ", c.hidden, " is not a multiple of num_attention_heads = ", c.heads,
             " (and no head_dim is given)");
    c.head_dim = int_or(j, "head_dim", hd_default, w);
    require_positive(c.head_dim, "head_dim", w);
    if (c.head_dim % 2 != 0) fail(w.str(), ": field 'head_dim': ", c.head_dim, " is odd (RoPE rotates pairs)");

    if (const auto act = optional_string(j, "hidden_act", "silu", w); act != "silu")
        fail(w.str(), ": field 'hidden_act': \"", detail::printable(act), "\" is not supported (tokclean computes \"silu\")");
    const double eps = optional_number(j, "rms_norm_eps", 1e-6, w);
    if (!(eps > 0.0 && eps <= 1.0)) fail(w.str(), ": field 'rms_norm_eps': expected a number in (0, 1], got ", eps);
    c.rms_norm_eps = static_cast<float>(eps);
    c.tied = optional_bool(j, "tie_word_embeddings", false, w);

    // Biases: qwen2 always has q/k/v biases; llama's attention_bias would also bias o_proj.
    c.qkv_bias = type == "qwen2";
    c.qk_norm = type == "qwen3";
    if (optional_bool(j, "attention_bias", false, w))
        fail(w.str(), ": field 'attention_bias': true is not supported for ", type);
    if (optional_bool(j, "mlp_bias", false, w))
        fail(w.str(), ": field 'mlp_bias': true is not supported");

    // RoPE: transformers 5 writes rope_parameters {rope_theta, rope_type, ...}.
    if (const auto* p = find_field(j, "rope_parameters")) {
        c.rope_scaling = parse_rope_scaling(*p, "rope_parameters", w);
        const JsonWhere inner{w.file + " field 'rope_parameters'", w.line};
        c.rope_theta = optional_number(*p, "rope_theta", optional_number(j, "rope_theta", 10000.0, w), inner);
    } else {
        c.rope_theta = optional_number(j, "rope_theta", 10000.0, w);
        if (const auto* s = find_field(j, "rope_scaling")) c.rope_scaling = parse_rope_scaling(*s, "rope_scaling", w);
    }
    if (!(c.rope_theta > 1.0)) fail(w.str(), ": field 'rope_theta': expected a number > 1, got ", c.rope_theta);

    // A sliding window changes attention only past its width: tokclean computes full causal
    // attention and refuses longer sequences (Mistral's default window is 4096).
    if (type == "mistral") {  // absent: transformers' default 4096; null: no window
        const auto sw = j.find("sliding_window");
        c.sliding_window = sw == j.end() ? 4096 : sw->is_null() ? 0 : require_int64(j, "sliding_window", w);
    } else if (optional_bool(j, "use_sliding_window", false, w)) {
        const std::int64_t window = int_or(j, "sliding_window", 4096, w);
        if (int_or(j, "max_window_layers", 28, w) < c.n_layer) c.sliding_window = window;
    }
    if (c.sliding_window < 0) fail(w.str(), ": field 'sliding_window': expected a positive integer, got ", c.sliding_window);

    // eos_token_id: an integer or a list (Llama 3.1 lists three; the first ends examples).
    const auto* eos = find_field(j, "eos_token_id");
    if (!eos || eos->is_null()) fail(w.str(), ": field 'eos_token_id' is missing");
    const nlohmann::json& first = eos->is_array() && !eos->empty() ? (*eos)[0] : *eos;
    const std::int64_t e = json_to_int(first, "eos_token_id", w);
    if (e < 0 || e >= c.vocab_size)
        fail(w.str(), ": field 'eos_token_id': ", e, " is outside [0, vocab_size = ", c.vocab_size, ")");
    c.eos_token_id = static_cast<std::int32_t>(e);

    const std::string tok = optional_string(j, "tokclean_tokenizer", has_tokenizer_json ? "hf-tokenizer" : "none", w);
    if (tok != "byte" && tok != "hf-tokenizer" && tok != "none")
        fail(w.str(), ": field 'tokclean_tokenizer': expected \"byte\", \"hf-tokenizer\" or \"none\" for ", type,
             ", got \"", detail::printable(tok), "\"");
    c.tokenizer = tok == "none" ? "" : tok;
    if (tok == "byte" && c.vocab_size < 257)
        fail(w.str(), ": field 'vocab_size': the byte tokenizer needs >= 257 (256 bytes + EOS), got ", c.vocab_size);

    // Parameters: V·C (+ V·C untied) + C + L·(2C + QKV·C + C·NH·hd + 3·I·C + biases, norms).
    const double C = static_cast<double>(c.hidden), V = static_cast<double>(c.vocab_size);
    const double per_layer = 2 * C + static_cast<double>(c.qkv_width()) * (C + 1) + C * static_cast<double>(c.q_width()) +
                             3.0 * static_cast<double>(c.intermediate) * C + 2.0 * static_cast<double>(c.head_dim);
    const double params = V * C * (c.tied ? 1 : 2) + C + static_cast<double>(c.n_layer) * per_layer;
    if (params > static_cast<double>(std::int64_t{1} << 40))
        fail(w.str(), ": the sizes imply ", params, " parameters, more than the 2^40 tokclean can hold");
    return c;
}

// A config.json's bytes; `file` names it in errors.
inline LlamaConfig parse_llama_config_text(std::string_view text, const std::string& file, bool has_tokenizer_json = false) {
    const JsonWhere w{file, 0};
    const nlohmann::json j = parse_json(text, w);  // strict: duplicate keys, UTF-8, ...
    return parse_llama_config(j, nlohmann::ordered_json::parse(text), w, has_tokenizer_json);
}

}  // namespace tokclean
