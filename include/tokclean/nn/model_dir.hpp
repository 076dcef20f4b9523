#pragma once
// A GPT-2 model directory in the Hugging Face layout: config.json + model.safetensors (see
// README, "Models"). Loading maps the Hugging Face key names onto the flat
// GptParams buffer and rejects anything it cannot honour; saving writes a directory that
// transformers' GPT2LMHeadModel.from_pretrained loads unchanged, atomically.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/core/shape.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/gpt_config.hpp"
#include "tokclean/nn/gpt_params.hpp"
#include "tokclean/nn/model_files.hpp"

namespace tokclean {

// ---- config.json ----------------------------------------------------------------------

// The most parameters a config.json may imply (2^40, 4 TiB of F32): beyond it the sizes are
// a mistake or hostile, and their products would overflow 64-bit counts.
inline constexpr std::int64_t max_gpt_params = std::int64_t{1} << 40;

// Reads config.json's JSON object. Required: n_layer, n_head, n_embd, vocab_size,
// n_positions. Optional: layer_norm_epsilon (1e-5, in (0, 1]), model_type (must be "gpt2"),
// eos_token_id (256 for the byte tokenizer, else vocab_size - 1, GPT-2's <|endoftext|>),
// tokclean_tokenizer ("byte", "gpt2-bpe" or "none"; absent: "gpt2-bpe" if
// `has_bpe_files`, else "none"). Settings that would change the math of our GPT-2 without
// us noticing (another activation, an inner size other than 4C, untied embeddings, other
// attention scaling) are errors. Other Hugging Face fields are ignored (config.json files
// carry dozens of them). `w` names the file in errors.
inline GptConfig parse_gpt_config(const nlohmann::json& j, const JsonWhere& w, bool has_bpe_files) {
    require_object(j, w);

    if (const auto type = optional_string(j, "model_type", "gpt2", w); type != "gpt2")
        fail(w.str(), ": field 'model_type': expected \"gpt2\", got \"", detail::printable(type), "\"");

    GptConfig c;
    c.n_layer = require_int(j, "n_layer", w);
    c.n_head = require_int(j, "n_head", w);
    c.n_embd = require_int(j, "n_embd", w);
    c.vocab_size = require_int(j, "vocab_size", w);
    c.n_positions = require_int(j, "n_positions", w);
    const double eps = optional_number(j, "layer_norm_epsilon", 1e-5, w);
    if (!(eps > 0.0 && eps <= 1.0))
        fail(w.str(), ": field 'layer_norm_epsilon': expected a number in (0, 1], got ", eps);
    c.layer_norm_epsilon = static_cast<float>(eps);

    std::string tok;
    if (find_field(j, "tokclean_tokenizer")) {
        tok = require_string(j, "tokclean_tokenizer", w);
        if (tok != "byte" && tok != "gpt2-bpe" && tok != "none")
            fail(w.str(), ": field 'tokclean_tokenizer': expected \"byte\", \"gpt2-bpe\" or \"none\", got ",
                 json_describe(nlohmann::json(tok)));
    } else {
        tok = has_bpe_files ? "gpt2-bpe" : "none";
    }
    c.tokenizer = tok == "none" ? "" : tok;
    c.eos_token_id = optional_int(j, "eos_token_id", tok == "byte" ? 256 : c.vocab_size - 1, w);

    if (const auto act = optional_string(j, "activation_function", "gelu_new", w);
        act != "gelu_new" && act != "gelu_pytorch_tanh")
        fail(w.str(), ": field 'activation_function': ", json_describe(nlohmann::json(act)),
             " is not supported (tokclean computes the tanh GELU, \"gelu_new\")");
    if (const auto inner = optional_int64(j, "n_inner", 4LL * c.n_embd, w); inner != 4LL * c.n_embd)
        fail(w.str(), ": field 'n_inner': ", inner, " is not supported (only 4 * n_embd = ",
             4LL * c.n_embd, ")");
    if (!optional_bool(j, "tie_word_embeddings", true, w))
        fail(w.str(), ": field 'tie_word_embeddings': false is not supported (the LM head is wte)");
    if (!optional_bool(j, "scale_attn_weights", true, w))
        fail(w.str(), ": field 'scale_attn_weights': false is not supported");
    if (optional_bool(j, "scale_attn_by_inverse_layer_idx", false, w))
        fail(w.str(), ": field 'scale_attn_by_inverse_layer_idx': true is not supported");

    c.validate(w.str());
    // V·C + T·C + L·(12C² + 13C) + 2C, in floating point so that it cannot overflow.
    const double C = c.n_embd, params = (static_cast<double>(c.vocab_size) + c.n_positions) * C +
                                        static_cast<double>(c.n_layer) * (12.0 * C * C + 13.0 * C) + 2.0 * C;
    if (params > static_cast<double>(max_gpt_params))
        fail(w.str(), ": n_layer ", c.n_layer, ", n_embd ", c.n_embd, ", vocab_size ", c.vocab_size,
             " and n_positions ", c.n_positions, " imply ", params, " parameters, more than the 2^40 tokclean can hold");
    return c;
}

// parse_gpt_config of JSON text; `where` names it in errors.
inline GptConfig parse_gpt_config(std::string_view text, const std::string& where, bool has_bpe_files) {
    const JsonWhere w{where, 0};
    return parse_gpt_config(parse_json(text, w), w, has_bpe_files);
}

// Reads dir/config.json (see parse_gpt_config).
inline GptConfig load_gpt_config(const std::filesystem::path& dir) {
    const auto path = dir / config_file_name;
    const nlohmann::json j = read_json_file(path);
    std::error_code ec;
    const bool bpe = std::filesystem::exists(dir / "vocab.json", ec) ||
                     std::filesystem::exists(dir / "tokenizer.json", ec);
    return parse_gpt_config(j, JsonWhere{path.string(), 0}, bpe);
}

namespace detail {
// The shortest decimal that reads back as the same float (1e-05f -> 1e-05, not
// 9.99999974737875e-06), so config.json stays readable and round-trips exactly.
inline double float_as_short_double(float x) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    *r.ptr = '\0';
    return std::strtod(buf, nullptr);
}
}  // namespace detail

// Writes dir/config.json (atomically) in the form transformers' GPT2Config reads.
inline void save_gpt_config(const std::filesystem::path& dir, const GptConfig& c) {
    nlohmann::ordered_json j;
    j["model_type"] = "gpt2";
    j["architectures"] = {"GPT2LMHeadModel"};
    j["n_layer"] = c.n_layer;
    j["n_head"] = c.n_head;
    j["n_embd"] = c.n_embd;
    j["vocab_size"] = c.vocab_size;
    j["n_positions"] = c.n_positions;
    j["n_ctx"] = c.n_positions;
    j["layer_norm_epsilon"] = detail::float_as_short_double(c.layer_norm_epsilon);
    j["activation_function"] = "gelu_new";
    j["bos_token_id"] = c.eos_token_id;  // GPT-2 uses <|endoftext|> for both
    j["eos_token_id"] = c.eos_token_id;
    j["tie_word_embeddings"] = true;
    j["resid_pdrop"] = 0.0;  // dropout is not implemented; say so to whoever fine-tunes it next
    j["embd_pdrop"] = 0.0;
    j["attn_pdrop"] = 0.0;
    j["n_inner"] = nullptr;  // = 4 * n_embd
    j["tokclean_tokenizer"] = c.tokenizer.empty() ? "none" : c.tokenizer;
    AtomicFile out(dir / config_file_name);
    out.write(j.dump(2) + "\n");
    out.commit();
}

// ---- model.safetensors ----------------------------------------------------------------

// One tensor of the Hugging Face file and where it lives in GptParams.
struct GptParamKey {
    std::string name;  // "h.3.attn.c_attn.weight" (no "transformer." prefix)
    GptParam param;
    int layer;         // -1 for tensors that are not per layer
    Shape shape;       // the file's shape: one layer's slice for per-layer tensors
};

namespace detail {
inline Shape drop_first_dim(const Shape& s) {
    switch (s.rank()) {
        case 2: return {s[1]};
        case 3: return {s[1], s[2]};
        case 4: return {s[1], s[2], s[3]};
        default: return {};
    }
}
inline const char* gpt_layer_suffix(GptParam p) {
    switch (p) {
        case GptParam::ln1_w: return "ln_1.weight";
        case GptParam::ln1_b: return "ln_1.bias";
        case GptParam::qkv_w: return "attn.c_attn.weight";
        case GptParam::qkv_b: return "attn.c_attn.bias";
        case GptParam::attn_proj_w: return "attn.c_proj.weight";
        case GptParam::attn_proj_b: return "attn.c_proj.bias";
        case GptParam::ln2_w: return "ln_2.weight";
        case GptParam::ln2_b: return "ln_2.bias";
        case GptParam::fc_w: return "mlp.c_fc.weight";
        case GptParam::fc_b: return "mlp.c_fc.bias";
        case GptParam::fc_proj_w: return "mlp.c_proj.weight";
        case GptParam::fc_proj_b: return "mlp.c_proj.bias";
        default: return nullptr;
    }
}
// "h.<digits>." -> the layer number, else nullopt.
inline std::optional<long long> layer_of_key(std::string_view key) {
    if (!key.starts_with("h.")) return std::nullopt;
    const auto dot = key.find('.', 2);
    if (dot == std::string_view::npos || dot == 2) return std::nullopt;
    long long layer = 0;
    const auto r = std::from_chars(key.data() + 2, key.data() + dot, layer);
    if (r.ec != std::errc() || r.ptr != key.data() + dot) return std::nullopt;
    return layer;
}
inline float* param_slice(GptParams<Cpu>& params, const GptParamKey& k) {
    return params[k.param].data() + (k.layer < 0 ? 0 : k.layer * k.shape.numel());
}
inline const float* param_slice(const GptParams<Cpu>& params, const GptParamKey& k) {
    return params[k.param].data() + (k.layer < 0 ? 0 : k.layer * k.shape.numel());
}
}  // namespace detail

// All tensors of a GPT-2 checkpoint in the natural (Hugging Face) order: wte, wpe, h.0.*,
// ..., h.{L-1}.*, ln_f.*.
inline std::vector<GptParamKey> gpt_param_keys(const GptConfig& config) {
    const auto shapes = gpt_param_shapes(config);
    auto shape_of = [&](GptParam p) { return shapes[static_cast<int>(p)]; };
    std::vector<GptParamKey> keys;
    keys.push_back({"wte.weight", GptParam::wte, -1, shape_of(GptParam::wte)});
    keys.push_back({"wpe.weight", GptParam::wpe, -1, shape_of(GptParam::wpe)});
    for (int l = 0; l < config.n_layer; ++l)
        for (int p = static_cast<int>(GptParam::ln1_w); p <= static_cast<int>(GptParam::fc_proj_b); ++p) {
            const auto param = static_cast<GptParam>(p);
            keys.push_back({"h." + std::to_string(l) + "." + detail::gpt_layer_suffix(param), param, l,
                            detail::drop_first_dim(shape_of(param))});
        }
    keys.push_back({"ln_f.weight", GptParam::lnf_w, -1, shape_of(GptParam::lnf_w)});
    keys.push_back({"ln_f.bias", GptParam::lnf_b, -1, shape_of(GptParam::lnf_b)});
    return keys;
}

// Reads dir/model.safetensors (load_gpt_params) or a validated safetensors file
// (gpt_params_from) (F32, F16 or BF16; keys with or without "transformer.") into a new
// GptParams of `config`. Errors name the file and the key: an unknown key, a missing
// key, a shape other than config.json implies, a non-finite weight, an lm_head.weight that
// is not a copy of wte.weight. attn.bias / attn.masked_bias (causal-mask buffers) are ignored.
inline GptParams<Cpu> gpt_params_from(const SafetensorsFile& file, const GptConfig& config) {
    const std::string& where = file.where();
    const auto keys = gpt_param_keys(config);
    std::map<std::string, std::size_t, std::less<>> wanted;
    for (std::size_t i = 0; i < keys.size(); ++i) wanted.emplace(keys[i].name, i);

    std::vector<std::string> found(keys.size());  // the file's name of each key
    const SafetensorsTensor* lm_head = nullptr;
    for (const auto& t : file.tensors()) {
        std::string_view key = t.name;
        if (key.starts_with("transformer.")) key.remove_prefix(12);
        if (t.name == "lm_head.weight") {
            lm_head = &t;
            continue;
        }
        if (auto it = wanted.find(key); it != wanted.end()) {
            auto& slot = found[it->second];
            if (!slot.empty())
                fail(where, ": tensors '", detail::printable(slot), "' and '", detail::printable(t.name), "' are the same parameter");
            slot = t.name;
            continue;
        }
        const auto layer = detail::layer_of_key(key);
        if (layer) {
            const std::string h = "h." + std::to_string(*layer);
            if (key == h + ".attn.bias" || key == h + ".attn.masked_bias") continue;
        }
        if (layer && *layer >= config.n_layer)
            fail(where, ": tensor '", detail::printable(t.name), "': layer ", *layer, " but config.json has n_layer = ",
                 config.n_layer);
        fail(where, ": unknown tensor '", detail::printable(t.name), "' (not a GPT-2 parameter)");
    }

    // Every tensor is checked against config.json before the parameters are allocated, so a
    // config.json that claims a larger model than the file holds fails without allocating.
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto& k = keys[i];
        if (found[i].empty())
            fail(where, ": missing tensor '", k.name, "' (expected shape ", k.shape.str(), ")");
        const auto& t = file.tensor(found[i]);
        if (t.shape.size() != static_cast<std::size_t>(k.shape.rank()) ||
            !(SafetensorsFile::to_shape(t.shape) == k.shape))
            fail(where, ": tensor '", detail::printable(t.name), "': shape ", t.shape_str(), " but config.json implies ",
                 k.shape.str());
    }

    GptParams<Cpu> params(config);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto& k = keys[i];
        const auto& t = file.tensor(found[i]);
        const auto n = static_cast<std::size_t>(k.shape.numel());
        float* dst = detail::param_slice(params, k);
        file.read_float(t.name, {dst, n});
        for (std::size_t e = 0; e < n; ++e)
            if (!std::isfinite(dst[e]))
                fail(where, ": tensor '", detail::printable(t.name), "': element ", e, " is ", dst[e],
                     " (weights must be finite)");
    }

    if (lm_head) {
        // Only a tied head is supported; a file may still carry it as a copy of wte.
        const auto& wte = params[GptParam::wte];
        if (lm_head->shape.size() != 2 || !(SafetensorsFile::to_shape(lm_head->shape) == wte.shape()))
            fail(where, ": tensor 'lm_head.weight': shape ", lm_head->shape_str(),
                 " differs from wte.weight ", wte.shape().str(), " (only a tied LM head is supported)");
        const auto head = file.to_float(lm_head->name);
        if (!std::equal(head.span().begin(), head.span().end(), wte.span().begin()))
            fail(where, ": tensor 'lm_head.weight' differs from wte.weight (only a tied LM head is "
                        "supported)");
    }
    return params;
}

inline GptParams<Cpu> load_gpt_params(const std::filesystem::path& dir, const GptConfig& config) {
    return gpt_params_from(SafetensorsFile(dir / weights_file_name), config);
}

// A loaded model directory.
struct LoadedModel {
    GptConfig config;
    GptParams<Cpu> params;
};

inline LoadedModel load_model_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        fail(dir.string(), ": not a model directory (expected a directory with config.json and "
                           "model.safetensors)");
    GptConfig config = load_gpt_config(dir);
    GptParams<Cpu> params = load_gpt_params(dir, config);
    return {std::move(config), std::move(params)};
}

// The names of the files save_model_dir writes for `extra_files` (what a model directory
// output will hold, for AtomicDirectory::expect_files before the work starts).
inline std::vector<std::string> model_dir_file_names(std::span<const std::filesystem::path> extra_files = {}) {
    std::vector<std::string> names = {std::string(config_file_name), std::string(weights_file_name)};
    for (const auto& f : extra_files) names.push_back(f.filename().string());
    return names;
}

// Writes config.json + model.safetensors (F32, no prefix, natural key order, metadata
// {"format": "pt"} which transformers requires) into `out`'s temporary directory, copies
// `extra_files` (e.g. tokenizer_files(source_dir)) in beside them, and commits: the
// directory appears only once everything is written. Open `out` before long work, so that
// an unwritable or foreign output is reported before it (see AtomicDirectory).
inline void save_model_dir(AtomicDirectory& out, const GptConfig& config, const GptParams<Cpu>& params,
                           std::span<const std::filesystem::path> extra_files = {}) {
    TOKCLEAN_CHECK(params.numel() == gpt_param_numel(config),
                   "parameters of another configuration: ", params.numel(), " vs ",
                   gpt_param_numel(config));
    config.validate((out.target() / config_file_name).string());
    save_gpt_config(out.path(), config);
    std::vector<SafetensorsEntry> entries;
    for (const auto& k : gpt_param_keys(config))
        entries.push_back({k.name, detail::param_slice(params, k), k.shape});
    save_safetensors(out.path() / weights_file_name, entries, {{"format", "pt"}});
    out.copy_in(extra_files);
    out.commit();
}

// The same into `dir`: an existing `dir` is replaced only if it holds nothing but the
// files written anew (ExistingDirectory::replace_if_nothing_lost).
inline void save_model_dir(const std::filesystem::path& dir, const GptConfig& config,
                           const GptParams<Cpu>& params,
                           std::span<const std::filesystem::path> extra_files = {}) {
    AtomicDirectory out(dir);
    save_model_dir(out, config, params, extra_files);
}

}  // namespace tokclean
