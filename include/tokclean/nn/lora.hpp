#pragma once
// LoRA adapters in PEFT's format and semantics, for any model that says where its adapted
// layers are (CausalLm::adapter_layout).
//
// The math (peft/tuners/lora/layer.py, Linear.forward): an adapted linear layer W (out, in)
// computes
//   y = x · Wᵀ [+ bias] + s · (dropout(x) · Aᵀ) · Bᵀ,   A (r, in), B (out, r),
//   s = lora_alpha / r (use_rslora: lora_alpha / sqrt(r)),
// with W frozen; dropout (inverted, probability lora_dropout) only while training. A starts
// Kaiming-uniform (a = sqrt(5): bound 1/sqrt(in)), B at zero, so a new adapter changes nothing.
// Merging adds s · B · A to W.
//
// Files (PEFT's save_pretrained): adapter_config.json (peft_type "LORA", r, lora_alpha,
// lora_dropout, target_modules, ...) and adapter_model.safetensors, one tensor per matrix:
//   base_model.model.<module path>.lora_A.weight (r, in), ...lora_B.weight (out, r).
// Fields of adapter_config.json that would change the math and that tokclean does not
// implement (DoRA, biases, per-layer ranks, modules_to_save, ...) are refused naming the field;
// the rest (task_type, revision, ...) are read past.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/core/rng.hpp"
#include "tokclean/core/tensor.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/safetensors.hpp"

namespace tokclean {

inline constexpr std::string_view adapter_config_file_name = "adapter_config.json";
inline constexpr std::string_view adapter_weights_file_name = "adapter_model.safetensors";

struct LoraConfig {
    std::int64_t r = 8;
    double alpha = 8;
    double dropout = 0;
    bool rslora = false;
    std::vector<std::string> targets;  // module names (q_proj, c_attn, ...), or {"all-linear"}
    std::string base_model;            // base_model_name_or_path, as written (informational)
    std::string where;                 // what errors name: the adapter_config.json, or the flags

    // s, as PEFT computes it (a Python float, applied to fp32 tensors).
    float scaling() const {
        return static_cast<float>(rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r));
    }
};

// One adapted linear layer: where its A and B sit in the adapter's flat buffer, and its
// weight in the base model's.
struct LoraModule {
    std::string path;            // the module's path in the model ("model.layers.0.self_attn.q_proj")
    std::int64_t in = 0, out = 0;  // the layer's widths: W (out, in), A (r, in), B (out, r)
    std::int64_t a = 0, b = 0;   // offsets of A and B in the adapter's flat buffer
    std::int64_t weight = 0;     // offset of W (out, in), row-major, in the base's flat buffer
    std::string a_key() const { return "base_model.model." + path + ".lora_A.weight"; }
    std::string b_key() const { return "base_model.model." + path + ".lora_B.weight"; }
};

struct LoraLayout {
    std::vector<LoraModule> modules;
    std::int64_t numel = 0;  // floats of the adapter
};

// Appends module (path, in, out, weight) to `layout` for rank r: A then B.
inline void add_lora_module(LoraLayout& layout, std::string path, std::int64_t in, std::int64_t out, std::int64_t weight,
                            std::int64_t r) {
    LoraModule m{std::move(path), in, out, layout.numel, layout.numel + r * in, weight};
    layout.numel += r * (in + out);
    layout.modules.push_back(std::move(m));
}

// adapter_config.json's text parsed; `where` names the file in errors.
inline LoraConfig parse_adapter_config(std::string_view text, const std::string& where) {
    const JsonWhere w{where, 0};
    const nlohmann::json j = parse_json(text, w, JsonPlace::byte);
    require_object(j, w);
    const std::string type = optional_string(j, "peft_type", "LORA", w);
    if (type != "LORA")
        fail(where, ": field 'peft_type': \"", detail::printable(type), "\" is not a LoRA adapter (tokclean reads LORA)");
    LoraConfig c;
    c.where = where + ": field 'target_modules'";
    c.r = require_int64(j, "r", w);
    if (c.r <= 0 || c.r > 65536) fail(where, ": field 'r': ", c.r, " is not a rank in [1, 65536]");
    c.alpha = optional_number(j, "lora_alpha", 8.0, w);
    if (!std::isfinite(c.alpha)) fail(where, ": field 'lora_alpha': not a finite number");
    c.dropout = optional_number(j, "lora_dropout", 0.0, w);
    if (!(c.dropout >= 0 && c.dropout < 1)) fail(where, ": field 'lora_dropout': ", c.dropout, " is not in [0, 1)");
    c.rslora = optional_bool(j, "use_rslora", false, w);
    c.base_model = optional_string(j, "base_model_name_or_path", "", w);
    const auto t = j.find("target_modules");
    if (t == j.end() || t->is_null()) fail(where, ": field 'target_modules': missing (tokclean needs the module names)");
    if (t->is_string()) {
        if (t->get<std::string>() != "all-linear")
            fail(where, ": field 'target_modules': a regular expression (\"", detail::printable(t->get<std::string>()),
                 "\") is not supported; list the module names");
        c.targets = {"all-linear"};
    } else if (t->is_array() && !t->empty()) {
        for (const auto& name : *t) {
            if (!name.is_string()) fail(where, ": field 'target_modules': expected module names, got ", json_describe(name));
            c.targets.push_back(name.get<std::string>());
        }
    } else {
        fail(where, ": field 'target_modules': expected a list of module names, got ", json_describe(*t));
    }
    // What would change the math, refused unless it is the plain LoRA value.
    const auto plain = [&](std::string_view field, auto&& is_plain, std::string_view what) {
        const auto f = j.find(field);
        if (f != j.end() && !f->is_null() && !is_plain(*f))
            fail(where, ": field '", field, "': ", json_describe(*f), " is not supported (", what, ")");
    };
    const auto is_false = [](const nlohmann::json& v) { return v.is_boolean() && !v.get<bool>(); };
    const auto is_empty = [](const nlohmann::json& v) { return (v.is_object() || v.is_array()) && v.empty(); };
    plain("use_dora", is_false, "DoRA");
    plain("lora_bias", is_false, "LoRA biases");
    plain("fan_in_fan_out", is_false, "tokclean's adapters store A (r, in) and B (out, r) as nn.Linear does");
    plain("bias", [](const nlohmann::json& v) { return v == "none"; }, "tokclean trains no biases: \"none\"");
    plain("modules_to_save", is_empty, "fully trained modules besides the adapters");
    plain("rank_pattern", is_empty, "one rank for every module");
    plain("alpha_pattern", is_empty, "one lora_alpha for every module");
    plain("layers_to_transform", is_empty, "every layer is adapted");
    plain("layers_pattern", is_empty, "every layer is adapted");
    plain("exclude_modules", is_empty, "no exclusions");
    plain("target_parameters", is_empty, "adapters on linear layers only");
    plain("megatron_config", is_empty, "Megatron layers");
    plain("layer_replication", is_empty, "no layer replication");
    plain("trainable_token_indices", is_empty, "no trainable tokens");
    return c;
}

// adapter_config.json as PEFT writes it, with the fields PEFT needs to load it.
inline std::string adapter_config_json(const LoraConfig& c) {
    nlohmann::ordered_json j;
    j["peft_type"] = "LORA";
    j["task_type"] = "CAUSAL_LM";
    j["base_model_name_or_path"] = c.base_model;
    j["r"] = c.r;
    j["lora_alpha"] = c.alpha;
    j["lora_dropout"] = c.dropout;
    j["use_rslora"] = c.rslora;
    j["target_modules"] = c.targets.size() == 1 && c.targets[0] == "all-linear" ? nlohmann::ordered_json("all-linear")
                                                                                 : nlohmann::ordered_json(c.targets);
    j["bias"] = "none";
    j["fan_in_fan_out"] = false;
    j["use_dora"] = false;
    j["modules_to_save"] = nullptr;
    j["init_lora_weights"] = true;
    j["inference_mode"] = true;
    return j.dump(2) + "\n";
}

// A new adapter (PEFT's init): each A uniform in ±1/sqrt(in) from Rng(seed), in module
// order; each B zero. (r·in + out·r) floats per module, laid out as `layout`.
inline Tensor<float, Cpu> init_lora_params(const LoraLayout& layout, std::int64_t r, std::uint64_t seed) {
    Tensor<float, Cpu> p(Shape{layout.numel});  // zeros
    Rng rng(seed);
    for (const LoraModule& m : layout.modules) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(m.in));
        float* a = p.data() + m.a;
        for (std::int64_t i = 0; i < r * m.in; ++i) a[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
    }
    return p;
}

// Writes adapter_config.json and adapter_model.safetensors (F32) into `dir`.
inline void save_lora_files(const std::filesystem::path& dir, const LoraConfig& c, const LoraLayout& layout,
                            const float* params) {
    AtomicFile config(dir / std::string(adapter_config_file_name));
    config.write(adapter_config_json(c));
    config.commit();
    std::vector<SafetensorsEntry> entries;
    for (const LoraModule& m : layout.modules) {
        entries.push_back({m.a_key(), params + m.a, Shape{c.r, m.in}});
        entries.push_back({m.b_key(), params + m.b, Shape{m.out, c.r}});
    }
    save_safetensors(dir / std::string(adapter_weights_file_name), entries, {{"format", "pt"}});
}

// The adapter's flat buffer from `dir`'s adapter_model.safetensors, every tensor of `layout`
// present with its shape (F32, F16 or BF16), finite, and no tensor left over.
inline Tensor<float, Cpu> read_lora_params(const std::filesystem::path& dir, const LoraConfig& c, const LoraLayout& layout) {
    const SafetensorsFile file(dir / std::string(adapter_weights_file_name));
    Tensor<float, Cpu> p(Shape{layout.numel});
    std::map<std::string, bool> used;
    for (const std::string& name : file.names()) used[name] = false;
    for (const LoraModule& m : layout.modules) {
        for (const auto& [key, offset, rows, cols] :
             {std::tuple{m.a_key(), m.a, c.r, m.in}, std::tuple{m.b_key(), m.b, m.out, c.r}}) {
            const auto it = used.find(key);
            if (it == used.end())
                fail(file.where(), ": tensor '", key, "' missing (adapter_config.json targets ", m.path,
                     "; is this adapter for another base model?)");
            const auto& t = file.tensor(key);
            if (t.shape != std::vector<std::int64_t>{rows, cols})
                fail(file.where(), ": tensor '", key, "': expected shape [", rows, ", ", cols, "], got ", t.shape_str(),
                     " (an adapter for another base model, or another r)");
            if (!dtype_is_readable(t.dtype))
                fail(file.where(), ": tensor '", key, "': dtype ", dtype_name(t.dtype), " (tokclean reads F32, F16, BF16)");
            const std::span<float> dst(p.data() + offset, static_cast<std::size_t>(rows * cols));
            file.read_float(key, dst);
            for (std::size_t i = 0; i < dst.size(); ++i)
                if (!std::isfinite(dst[i])) fail(file.where(), ": tensor '", key, "': element ", i, " is ", dst[i]);
            it->second = true;
        }
    }
    for (const auto& [name, seen] : used)
        if (!seen)
            fail(file.where(), ": tensor '", detail::printable(name), "' is not an adapter of the modules adapter_config.json "
                 "targets in this model");
    return p;
}

// W += s · B · A for every module: the base's weights (host) with the adapter merged in.
inline void merge_lora(float* base, const float* adapter, const LoraConfig& c, const LoraLayout& layout) {
    const float s = c.scaling();
    std::vector<double> row;
    for (const LoraModule& m : layout.modules) {
        const float* A = adapter + m.a;  // (r, in)
        const float* B = adapter + m.b;  // (out, r)
        row.assign(static_cast<std::size_t>(m.in), 0.0);
        for (std::int64_t o = 0; o < m.out; ++o) {
            std::fill(row.begin(), row.end(), 0.0);
            for (std::int64_t k = 0; k < c.r; ++k) {
                const double bk = B[o * c.r + k];
                if (bk == 0.0) continue;
                const float* a = A + k * m.in;
                for (std::int64_t i = 0; i < m.in; ++i) row[static_cast<std::size_t>(i)] += bk * a[i];
            }
            float* w = base + m.weight + o * m.in;
            for (std::int64_t i = 0; i < m.in; ++i) w[i] += static_cast<float>(s * row[static_cast<std::size_t>(i)]);
        }
    }
}

}  // namespace tokclean
