#pragma once
// The parameters of a Llama-family model as one flat buffer, and its Hugging Face files.
//
// Flat layout (every matrix in nn.Linear's [out, in] layout, as the files store it):
//   embed (V, C)
//   per layer: input_norm (C) | qkv (QKV, C) | qkv_bias (QKV) [qwen2] | q_norm (hd) |
//              k_norm (hd) [qwen3] | o (C, NH·hd) | post_norm (C) | gate_up (2I, C) | down (C, I)
//   norm (C) | lm_head (V, C) [untied]
// QKV = (NH + 2·KVH)·hd. q_proj, k_proj and v_proj are consecutive row blocks of qkv, gate_proj
// and up_proj of gate_up: one product each computes them together, and each Hugging Face
// tensor is still one contiguous slice (loading and saving are plain copies).
//
// Files: model.safetensors, or shards listed by model.safetensors.index.json (weight_map:
// tensor name -> file); F32, F16 or BF16. Saved: F32, sharded above 5 GB as transformers does.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "tokclean/core/bfloat16.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/shape.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/llama_config.hpp"
#include "tokclean/nn/weight_files.hpp"

namespace tokclean {

// Offsets (in floats) of one layer's parameters in the flat buffer; -1 where the
// architecture has none.
struct LlamaLayerOffsets {
    std::int64_t input_norm, qkv, qkv_bias, q_norm, k_norm, o, post_norm, gate_up, down;
};

struct LlamaLayout {
    std::int64_t embed = 0, norm = 0, lm_head = 0;  // lm_head = embed when tied
    std::vector<LlamaLayerOffsets> layers;
    std::int64_t numel = 0;

    explicit LlamaLayout(const LlamaConfig& c) {
        const std::int64_t C = c.hidden, I = c.intermediate, QKV = c.qkv_width(), hd = c.head_dim;
        std::int64_t at = 0;
        const auto take = [&](std::int64_t n) { const std::int64_t o = at; at += n; return o; };
        embed = take(c.vocab_size * C);
        for (std::int64_t l = 0; l < c.n_layer; ++l) {
            LlamaLayerOffsets o{};
            o.input_norm = take(C);
            o.qkv = take(QKV * C);
            o.qkv_bias = c.qkv_bias ? take(QKV) : -1;
            o.q_norm = c.qk_norm ? take(hd) : -1;
            o.k_norm = c.qk_norm ? take(hd) : -1;
            o.o = take(C * c.q_width());
            o.post_norm = take(C);
            o.gate_up = take(2 * I * C);
            o.down = take(C * I);
            layers.push_back(o);
        }
        norm = take(C);
        lm_head = c.tied ? embed : take(c.vocab_size * C);
        numel = at;
    }
};

// One Hugging Face tensor and its slice of the flat buffer.
struct LlamaParamKey {
    std::string name;  // "model.layers.3.self_attn.k_proj.weight"
    std::int64_t offset;
    Shape shape;
};

// Every tensor of the model's files, in module order (the order transformers saves).
inline std::vector<LlamaParamKey> llama_param_keys(const LlamaConfig& c) {
    const LlamaLayout lay(c);
    const std::int64_t C = c.hidden, I = c.intermediate, hd = c.head_dim, QW = c.q_width(), KW = c.kv_width();
    std::vector<LlamaParamKey> keys;
    keys.push_back({"model.embed_tokens.weight", lay.embed, Shape{c.vocab_size, C}});
    for (std::int64_t l = 0; l < c.n_layer; ++l) {
        const auto& o = lay.layers[static_cast<std::size_t>(l)];
        const std::string p = "model.layers." + std::to_string(l) + ".";
        keys.push_back({p + "self_attn.q_proj.weight", o.qkv, Shape{QW, C}});
        keys.push_back({p + "self_attn.k_proj.weight", o.qkv + QW * C, Shape{KW, C}});
        keys.push_back({p + "self_attn.v_proj.weight", o.qkv + (QW + KW) * C, Shape{KW, C}});
        if (c.qkv_bias) {
            keys.push_back({p + "self_attn.q_proj.bias", o.qkv_bias, Shape{QW}});
            keys.push_back({p + "self_attn.k_proj.bias", o.qkv_bias + QW, Shape{KW}});
            keys.push_back({p + "self_attn.v_proj.bias", o.qkv_bias + QW + KW, Shape{KW}});
        }
        if (c.qk_norm) {
            keys.push_back({p + "self_attn.q_norm.weight", o.q_norm, Shape{hd}});
            keys.push_back({p + "self_attn.k_norm.weight", o.k_norm, Shape{hd}});
        }
        keys.push_back({p + "self_attn.o_proj.weight", o.o, Shape{C, QW}});
        keys.push_back({p + "mlp.gate_proj.weight", o.gate_up, Shape{I, C}});
        keys.push_back({p + "mlp.up_proj.weight", o.gate_up + I * C, Shape{I, C}});
        keys.push_back({p + "mlp.down_proj.weight", o.down, Shape{C, I}});
        keys.push_back({p + "input_layernorm.weight", o.input_norm, Shape{C}});
        keys.push_back({p + "post_attention_layernorm.weight", o.post_norm, Shape{C}});
    }
    keys.push_back({"model.norm.weight", lay.norm, Shape{C}});
    if (!c.tied) keys.push_back({"lm_head.weight", lay.lm_head, Shape{c.vocab_size, C}});
    return keys;
}

namespace llama_detail {

// The weight files of `dir`, checked against `c`'s tensors: an unknown tensor, a missing one,
// a shape other than config.json implies are errors naming the file and the tensor. RoPE's
// rotary_emb.inv_freq buffers of older checkpoints are ignored (recomputed from the config).
inline weights_detail::WeightFiles open_llama_files(const std::filesystem::path& dir, const LlamaConfig& c,
                                                    const std::vector<LlamaParamKey>& keys) {
    auto files = weights_detail::open_weight_files(dir);
    std::set<std::string, std::less<>> wanted;
    for (const auto& k : keys) wanted.insert(k.name);
    for (const auto& [name, file] : files.holder) {
        if (wanted.count(name)) continue;
        if (name.ends_with(".rotary_emb.inv_freq")) continue;
        if (c.tied && name == "lm_head.weight") continue;  // checked by read_llama_values
        fail(file->where(), ": unknown tensor '", detail::printable(name), "' (not a parameter of this ", c.model_type,
             " model: see config.json)");
    }
    for (const auto& k : keys) {
        const auto it = files.holder.find(k.name);
        if (it == files.holder.end())
            fail((files.files.size() > 1 ? dir / weights_index_file_name : dir / "model.safetensors").string(),
                 ": missing tensor '", k.name, "' (expected shape ", k.shape.str(), ")");
        const auto& t = it->second->tensor(k.name);
        if (t.shape.size() != static_cast<std::size_t>(k.shape.rank()) || !(SafetensorsFile::to_shape(t.shape) == k.shape))
            fail(it->second->where(), ": tensor '", k.name, "': shape ", t.shape_str(), " but config.json implies ",
                 k.shape.str());
    }
    return files;
}

inline float as_float(float x) { return x; }
inline float as_float(bfloat16 x) { return to_float(x); }

// Every tensor of `keys` into flat (T: float, or bfloat16 rounded to nearest even), each
// checked finite (as held); a tied model's lm_head.weight, when the files have one, must be
// embed_tokens.
template <class T>
void read_llama_values(const weights_detail::WeightFiles& files, const LlamaConfig& c,
                       const std::vector<LlamaParamKey>& keys, T* flat) {
    for (const auto& k : keys) {
        const SafetensorsFile& f = *files.holder.find(k.name)->second;
        const std::span<T> dst(flat + k.offset, static_cast<std::size_t>(k.shape.numel()));
        if constexpr (std::is_same_v<T, bfloat16>) f.read_bf16(k.name, dst);
        else f.read_float(k.name, dst);
        for (std::size_t e = 0; e < dst.size(); ++e)
            if (!std::isfinite(as_float(dst[e])))
                fail(f.where(), ": tensor '", k.name, "': element ", e, " is ", as_float(dst[e]),
                     std::is_same_v<T, bfloat16> ? " in bfloat16 (weights must be finite)" : " (weights must be finite)");
    }
    if (!c.tied) return;
    const auto it = files.holder.find("lm_head.weight");
    if (it == files.holder.end()) return;
    const auto head = it->second->to_float("lm_head.weight");
    const auto embed = files.holder.find("model.embed_tokens.weight")->second->to_float("model.embed_tokens.weight");
    if (head.numel() != embed.numel() || !std::equal(head.data(), head.data() + head.numel(), embed.data()))
        fail(it->second->where(), ": tensor 'lm_head.weight' differs from model.embed_tokens.weight, but "
             "config.json says tie_word_embeddings");
}

}  // namespace llama_detail

// Reads the weights of `dir` into a flat buffer of `c`'s layout. Errors name the file and the
// tensor: an unknown tensor, a missing one, a shape other than config.json implies, a
// non-finite value, a tied model's lm_head.weight that is not embed_tokens.
inline Tensor<float, Cpu> load_llama_params(const std::filesystem::path& dir, const LlamaConfig& c) {
    const auto keys = llama_param_keys(c);
    const auto files = llama_detail::open_llama_files(dir, c, keys);
    Tensor<float, Cpu> flat(Shape{LlamaLayout(c).numel});
    llama_detail::read_llama_values(files, c, keys, flat.data());
    return flat;
}

// A Llama-family model's weights kept in bfloat16 (--dtype bf16: 2 bytes a parameter): every
// value of the flat layout in bf16, which the products and the embedding read widened, and the
// vectors (norm weights, biases) also widened once into float32 for the kernels that take
// floats. Frozen: nothing trains them (a LoRA adapter can train on top).
struct LlamaBf16Weights {
    Tensor<bfloat16, Cpu> values;  // (layout numel) the flat layout
    Tensor<float, Cpu> vectors;    // (Σ vector sizes) the 1-D tensors, in layout order
    struct Run {
        std::int64_t offset, size, at;  // a run of vectors adjacent in the layout, at vectors[at]
    };
    std::vector<Run> runs;  // by offset

    // vectors' copy of the layout's float at `offset` onwards (a 1-D tensor's start).
    const float* vector(std::int64_t offset) const {
        const auto it = std::upper_bound(runs.begin(), runs.end(), offset,
                                         [](std::int64_t o, const Run& r) { return o < r.offset; });
        TOKCLEAN_CHECK(it != runs.begin() && offset < std::prev(it)->offset + std::prev(it)->size, "offset ", offset,
                       " is not in a vector of the bf16 weights");
        return vectors.data() + std::prev(it)->at + (offset - std::prev(it)->offset);
    }
    std::int64_t bytes() const { return 2 * values.numel() + 4 * vectors.numel(); }
    // Every weight widened to float32 (exact), in the flat layout.
    Tensor<float, Cpu> widened() const {
        Tensor<float, Cpu> out(Shape{values.numel()});
        std::transform(values.data(), values.data() + values.numel(), out.data(), [](bfloat16 x) { return to_float(x); });
        return out;
    }
};

namespace llama_detail {

// w.values (c's layout, filled) -> w.runs and w.vectors: the 1-D tensors widened.
inline void index_vectors(LlamaBf16Weights& w, const LlamaConfig& c) {
    auto keys = llama_param_keys(c);
    std::sort(keys.begin(), keys.end(), [](const LlamaParamKey& a, const LlamaParamKey& b) { return a.offset < b.offset; });
    std::int64_t total = 0;
    for (const auto& k : keys) {
        if (k.shape.rank() != 1) continue;
        if (!w.runs.empty() && w.runs.back().offset + w.runs.back().size == k.offset) w.runs.back().size += k.shape.numel();
        else w.runs.push_back({k.offset, k.shape.numel(), total});
        total += k.shape.numel();
    }
    w.vectors = Tensor<float, Cpu>(Shape{std::max<std::int64_t>(total, 1)});
    for (const auto& r : w.runs)
        std::transform(w.values.data() + r.offset, w.values.data() + r.offset + r.size, w.vectors.data() + r.at,
                       [](bfloat16 x) { return to_float(x); });
}

}  // namespace llama_detail

// Reads the weights of `dir` as load_llama_params does, into bfloat16: BF16 files copied, F32
// and F16 values rounded to the nearest (ties to even).
inline LlamaBf16Weights load_llama_bf16(const std::filesystem::path& dir, const LlamaConfig& c) {
    const auto keys = llama_param_keys(c);
    const auto files = llama_detail::open_llama_files(dir, c, keys);
    LlamaBf16Weights w;
    w.values = Tensor<bfloat16, Cpu>(Shape{LlamaLayout(c).numel});
    llama_detail::read_llama_values(files, c, keys, w.values.data());
    llama_detail::index_vectors(w, c);
    return w;
}

// Above this many bytes of weights a saved model is split into shards, as transformers'
// save_pretrained does by default (max_shard_size "5GB").
inline constexpr std::int64_t default_max_shard_bytes = 5'000'000'000;

// Writes config.json (the one read, with torch_dtype "float32", or "bfloat16" for bf16 values)
// and the weights (F32, or BF16 from bf16 values; Hugging Face names, module order) into `dir` (an AtomicDirectory's temporary directory): one
// model.safetensors, or, above `max_shard_bytes`, shards model-0000i-of-0000n.safetensors filled
// in order (a tensor starts a new shard when it would overflow the current one) and
// model.safetensors.index.json ({"metadata": {"total_size"}, "weight_map"}, keys sorted).
template <class T>  // float or bfloat16
void save_llama_files(const std::filesystem::path& dir, const LlamaConfig& c, const T* params,
                      std::int64_t max_shard_bytes = default_max_shard_bytes) {
    constexpr bool bf16 = std::is_same_v<T, bfloat16>;
    nlohmann::ordered_json j = c.source;
    j["torch_dtype"] = bf16 ? "bfloat16" : "float32";
    if (j.contains("dtype")) j["dtype"] = j["torch_dtype"];
    AtomicFile config(dir / "config.json");
    config.write(j.dump(2) + "\n");
    config.commit();
    std::vector<std::vector<SafetensorsEntry>> shards(1);
    std::int64_t in_shard = 0, total = 0;
    for (const auto& k : llama_param_keys(c)) {
        const std::int64_t bytes = k.shape.numel() * static_cast<std::int64_t>(sizeof(T));
        if (!shards.back().empty() && in_shard + bytes > max_shard_bytes) {
            shards.emplace_back();
            in_shard = 0;
        }
        if constexpr (bf16) shards.back().push_back({k.name, nullptr, k.shape, params + k.offset});
        else shards.back().push_back({k.name, params + k.offset, k.shape});
        in_shard += bytes;
        total += bytes;
    }
    if (shards.size() == 1) {
        save_safetensors(dir / "model.safetensors", shards[0], {{"format", "pt"}});
        return;
    }
    nlohmann::json weight_map = nlohmann::json::object();  // sorted by tensor name
    for (std::size_t i = 0; i < shards.size(); ++i) {
        const std::string file = shard_file_name(i + 1, shards.size());
        save_safetensors(dir / file, shards[i], {{"format", "pt"}});
        for (const auto& e : shards[i]) weight_map[e.name] = file;
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    AtomicFile index_file(dir / std::string(weights_index_file_name));
    index_file.write(index.dump(2) + "\n");
    index_file.commit();
}

}  // namespace tokclean
