#pragma once
// A model directory loaded as the CausalLm its config.json names (model_type; absent: "gpt2",
// as transformers' own GPT-2 files have it): the one place that knows every architecture.
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>

#include "tokclean/io/json_fields.hpp"
#include "tokclean/core/compiled_once.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/nn/llama.hpp"
#include "tokclean/nn/memory_plan.hpp"
#include "tokclean/nn/model_dir.hpp"

namespace tokclean {

namespace detail {
inline void require_model_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        fail(dir.string(), ": not a model directory (expected a directory with config.json and model weights)");
}

[[noreturn]] inline void unknown_model_type(const std::filesystem::path& dir, const std::string& type) {
    fail((dir / config_file_name).string(), ": field 'model_type': \"", printable(type),
         "\" is not supported (tokclean reads gpt2, llama, mistral, qwen2 and qwen3)");
}
}  // namespace detail

// config.json's model_type ("gpt2" when absent).
inline std::string model_type_of(const std::filesystem::path& dir) {
    const auto path = dir / config_file_name;
    const nlohmann::json j = read_json_file(path);
    const JsonWhere w{path.string(), 0};
    require_object(j, w);
    return optional_string(j, "model_type", "gpt2", w);
}

// What config.json says of the model (any architecture), without reading the weights.
inline ModelInfo read_model_info(const std::filesystem::path& dir) {
    detail::require_model_dir(dir);
    const std::string type = model_type_of(dir);
    if (type == "gpt2") {
        const GptConfig c = load_gpt_config(dir);
        return {"gpt2", c.vocab_size, c.n_positions, c.eos_token_id, c.tokenizer};
    }
    if (is_llama_family(type)) {
        const LlamaConfig c = load_llama_config(dir);
        return {type, static_cast<std::int32_t>(c.vocab_size), c.max_positions, c.eos_token_id, c.tokenizer};
    }
    detail::unknown_model_type(dir, type);
}

// Error, before any weight is read, when the weights of `dir` (model_type `type`) held in
// `dtype` would not fit in the memory available (available_memory()): refused with the
// estimate, never by the kernel's OOM killer.
inline void require_memory_for_weights(const std::filesystem::path& dir, const std::string& type, WeightDtype dtype) {
    const std::int64_t numel =
        type == "gpt2" ? gpt_param_numel(load_gpt_config(dir)) : LlamaLayout(load_llama_config(dir)).numel;
    const std::int64_t bytes = numel * (dtype == WeightDtype::bf16 ? 2 : 4);
    const auto avail = available_memory();
    if (!avail || bytes <= *avail) return;
    using memory_detail::gib;
    fail(dir.string(), ": its ", numel, " weights need about ", gib(bytes), " in ",
         dtype == WeightDtype::bf16 ? "bfloat16" : "float32", " but ", gib(*avail), " is available",
         dtype == WeightDtype::f32 && type != "gpt2" ? ": hold them in bfloat16 (--dtype bf16), 2 bytes each" : "");
}

// The weights of `dir` as a model on device D (read on the host, then copied to a device),
// held in `dtype` (bf16: the Llama family on the CPU); refused up front when they cannot fit in
// memory. Errors name the file and what is wrong; an unknown model_type names the ones
// tokclean has.
template <Device D>
std::unique_ptr<CausalLm<D>> load_causal_lm(const std::filesystem::path& dir, WeightDtype dtype) {
    detail::require_model_dir(dir);
    const std::string type = model_type_of(dir);
    if (type == "gpt2" || is_llama_family(type)) require_memory_for_weights(dir, type, dtype);
    if (dtype == WeightDtype::bf16) {
        require_bf16_weights_support(dir, type);
        if constexpr (!std::is_same_v<D, Cpu>)
            fail("--dtype bf16: weights in bfloat16 run on the CPU only in this version (use --dtype fp32 on the GPU)");
        else {
            LlamaConfig c = load_llama_config(dir);
            auto weights = std::make_shared<const LlamaBf16Weights>(load_llama_bf16(dir, c));
            return std::make_unique<Llama<D>>(std::move(c), std::move(weights));
        }
    }
    if (type == "gpt2") {
        LoadedModel m = load_model_dir(dir);
        if constexpr (std::is_same_v<D, Cpu>) return std::make_unique<Gpt<D>>(m.config, std::move(m.params));
        else return std::make_unique<Gpt<D>>(m.config, copy_to(D{}, m.params));
    }
    if (is_llama_family(type)) {
        LlamaConfig c = load_llama_config(dir);
        Tensor<float, Cpu> params = load_llama_params(dir, c);
        if constexpr (std::is_same_v<D, Cpu>) return std::make_unique<Llama<D>>(std::move(c), std::move(params));
        else return std::make_unique<Llama<D>>(std::move(c), copy_to(D{}, params));
    }
    detail::unknown_model_type(dir, type);
}

#if !TOKCLEAN_DEFINE_COMPILED_ONCE
// Instantiated once, in <tokclean/implementation.hpp>'s translation unit.
extern template std::unique_ptr<CausalLm<Cpu>> load_causal_lm<Cpu>(const std::filesystem::path&, WeightDtype);
#endif

}  // namespace tokclean
