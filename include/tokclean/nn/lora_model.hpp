#pragma once
// A base model plus a LoRA adapter (nn/lora.hpp): a new one to train, or one read from an
// adapter directory as PEFT writes it.
//
//   auto ref = load_lora(*base, "warmup_adapter");        // base + adapter, on base's device
//   auto trainee = new_lora(*base, config, /*seed*/ 0);   // A Kaiming-uniform, B zero
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "tokclean/core/tensor.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/lora.hpp"

namespace tokclean {

// Whether `dir` holds an adapter (adapter_config.json) rather than a model.
inline bool is_adapter_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    return std::filesystem::is_regular_file(dir / std::string(adapter_config_file_name), ec);
}

namespace lora_detail {
template <class D>
Tensor<float, D> to_device(Tensor<float, Cpu> host) {
    if constexpr (std::is_same_v<D, Cpu>) return host;
    else return copy_to(D{}, host);
}
}  // namespace lora_detail

// `base` with a new adapter of configuration `c` (PEFT's initialisation, A from Rng(seed)).
template <class D>
std::unique_ptr<CausalLm<D>> new_lora(const CausalLm<D>& base, const LoraConfig& c, std::uint64_t seed) {
    const LoraLayout layout = base.lora_layout(c);
    return base.with_lora(c, lora_detail::to_device<D>(init_lora_params(layout, c.r, seed)));
}

// `base` with the adapter of `dir` (adapter_config.json + adapter_model.safetensors).
template <class D>
std::unique_ptr<CausalLm<D>> load_lora(const CausalLm<D>& base, const std::filesystem::path& dir) {
    const auto config_path = dir / std::string(adapter_config_file_name);
    const LoraConfig c = parse_adapter_config(read_file_bytes(config_path), config_path.string());
    const LoraLayout layout = base.lora_layout(c);
    return base.with_lora(c, lora_detail::to_device<D>(read_lora_params(dir, c, layout)));
}

// The trained parameters (flat_params()) that `model`'s save() wrote into `dir`, on the host:
// its adapter's when it has one, else every weight (checkpoints and work directories).
template <class D>
Tensor<float, Cpu> read_saved_params(const CausalLm<D>& model, const std::filesystem::path& dir) {
    if (const LoraConfig* c = model.lora()) return read_lora_params(dir, *c, model.lora_layout(*c));
    const std::unique_ptr<CausalLm<Cpu>> saved = load_causal_lm<Cpu>(dir);
    if (saved->info().model_type != model.info().model_type || saved->info().vocab_size != model.info().vocab_size)
        fail((dir / "config.json").string(), ": the saved model (", saved->info().model_type, ", vocab_size ",
             saved->info().vocab_size, ") is not the model being trained (", model.info().model_type, ", vocab_size ",
             model.info().vocab_size, ")");
    return std::move(saved->flat_params());
}

}  // namespace tokclean
