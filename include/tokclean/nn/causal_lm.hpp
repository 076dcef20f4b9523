#pragma once
// The model interface: what the cleaner, the trainer, AdamW, training checkpoints, RHO-1's
// rule, eval and generate need of a causal language model, whatever its architecture.
// GPT-2 (nn/gpt.hpp) and the Llama family (nn/llama.hpp) implement it; a user's own model
// plugs in by deriving from CausalLm<D>. Everything above this interface is written once per
// device, not once per architecture (one instantiation of the cleaner and the trainer).
//
//   float mean = model.forward(input_ids, labels, B, T);   // host arrays (B, T)
//   std::span<const float> losses = model.token_losses();  // (B, T), NaN where not a target
//   model.zero_grad();
//   model.backward();                                       // flat_grads() += d mean / d θ
//
// The parameters are one flat buffer (flat_params(), and its gradient flat_grads() of the same
// size), which is what the optimiser, gradient clipping and checkpoints see; each
// architecture keeps its own named views into it.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tokclean/core/bfloat16.hpp"
#include "tokclean/core/device.hpp"
#include "tokclean/core/tensor.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/nn/lora.hpp"

namespace tokclean {

// What a forward keeps. For backward (the default): every layer's activations. For scoring:
// only what token_losses(), target_argmax() and target_entropy() read; backward() then
// refuses. Both give the same losses, bit for bit.
enum class ForwardFor : bool { backward, scoring };

// What every model says of itself (from its config.json).
struct ModelInfo {
    std::string model_type;          // "gpt2", "llama", "mistral", "qwen2", "qwen3", ...
    std::int32_t vocab_size = 0;     // rows of the embedding and of the logits
    std::int64_t max_positions = 0;  // the longest sequence it takes (n_positions, max_position_embeddings)
    std::int32_t eos_token_id = 0;
    std::string tokenizer;           // "byte", "gpt2-bpe", ... or "" (none: pre-tokenized data only)
};

// The first config.json field in which two models differ ("n_layer", "1", "2"); none: empty.
struct ShapeDifference {
    std::string field, other, mine;  // the field, the other model's value, this model's
    explicit operator bool() const { return !field.empty(); }
};

template <Device D = Cpu>
class CausalLm {
public:
    using device_type = D;
    virtual ~CausalLm() = default;

    virtual ModelInfo info() const = 0;

    // Runs the model on input_ids (B, T) and labels (B, T) (host arrays, Hugging Face's label
    // convention: the loss at j predicts labels[j] from the tokens before j; -100 and position
    // 0 are not targets); returns the mean loss over the targets (0 when there are none).
    virtual float forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B, std::int64_t T,
                          ForwardFor purpose) = 0;
    float forward(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B, std::int64_t T) {
        return forward(input_ids, labels, B, T, ForwardFor::backward);
    }
    // Of the last forward: (B, T) losses, NaN where not a target (host memory); and, before
    // backward (which reuses the logits), the argmax at each target (-1 elsewhere) and the
    // entropy (nats) of the predicted distribution (NaN elsewhere).
    virtual std::span<const float> token_losses() const = 0;
    virtual std::vector<std::int32_t> target_argmax() const = 0;
    virtual std::vector<float> target_entropy() const = 0;

    // Gradients accumulate into flat_grads(), which zero_grad() sets to zero. backward(): of
    // the last forward's mean loss; backward(w): of Σ w[b, j] · loss[b, j], w (B, T) (RHO-1
    // passes 1/kept on kept tokens, 0 elsewhere). Once per forward made for backward.
    virtual void zero_grad() = 0;
    virtual void backward() = 0;
    virtual void backward(std::span<const float> token_weights) = 0;

    // Every parameter as one flat buffer, and its gradient (allocated at first use).
    virtual Tensor<float, D>& flat_params() = 0;
    virtual const Tensor<float, D>& flat_params() const = 0;
    virtual Tensor<float, D>& flat_grads() = 0;

    // A model of the same architecture and configuration holding `params` (a flat buffer of
    // flat_params().numel() values): the self-evolving reference's next θ, a checkpoint's.
    virtual std::unique_ptr<CausalLm> with_params(Tensor<float, D> params) const = 0;

    // Writes the model as a Hugging Face directory (config.json and weights in the layout
    // transformers loads) into `out`'s temporary directory, with `extra_files` (tokenizer
    // files) copied beside, and commits it.
    virtual void save(AtomicDirectory& out, std::span<const std::filesystem::path> extra_files = {}) const = 0;

    // Nothing when `other` has this model's architecture and shape (the same ids mean the same
    // tokens, the same parameters); else the first config.json field that differs.
    virtual ShapeDifference shape_difference(const CausalLm& other) const = 0;

    // Memory (nn/memory_plan.hpp): the bytes of every weight this model holds (flat_params()
    // and a LoRA base's frozen weights), and the bytes a forward of a (B, T) batch for
    // `purpose` (and, for backward, its backward) allocates: activations, scratch, logits. 0:
    // not estimated.
    virtual std::int64_t weight_bytes() const { return 4 * flat_params().numel(); }
    // The dtype the weights are held in (float32 unless loaded with --dtype bf16).
    virtual WeightDtype weight_dtype() const { return WeightDtype::f32; }
    virtual std::int64_t working_bytes(std::int64_t B, std::int64_t T, ForwardFor purpose) const {
        (void)B, (void)T, (void)purpose;
        return 0;
    }

    // LoRA (nn/lora.hpp). An architecture that takes adapters overrides these four.
    // The adapted layers for `c`: each target module of each layer, where its A, B and W sit
    // (a target this architecture lacks is an error naming target_modules and c.where).
    virtual LoraLayout lora_layout(const LoraConfig& c) const {
        fail(c.where, ": model_type \"", info().model_type, "\" takes no LoRA adapters in tokclean");
    }
    // This model's weights, frozen and shared, plus the adapter `params` (lora_layout(c).numel
    // floats): its flat_params() and flat_grads() are the adapter's, with_params() swaps the
    // adapter, save() writes adapter_config.json and adapter_model.safetensors.
    virtual std::unique_ptr<CausalLm> with_lora(const LoraConfig& c, Tensor<float, D> params) const {
        (void)params;
        fail(c.where, ": model_type \"", info().model_type, "\" takes no LoRA adapters in tokclean");
    }
    // The adapter's configuration when this model is base + adapter; else null.
    virtual const LoraConfig* lora() const { return nullptr; }
    // A plain model whose weights are the base's with the adapter merged in (W += s·B·A).
    virtual std::unique_ptr<CausalLm> merged() const { fail("merged(): the model has no adapter"); }

    // The seed of the training noise (LoRA's dropout) of the forwards for backward that
    // follow; the trainer sets it from its seed and step, so that a resumed run draws the same.
    virtual void set_noise_seed(std::uint64_t seed) { (void)seed; }
};

// The model a directory holds, on device D: its architecture from config.json's model_type,
// its weights held in `dtype`. Defined in nn/load_model.hpp (compiled once for Cpu with
// TOKCLEAN_SEPARATE_COMPILATION).
template <Device D = Cpu>
std::unique_ptr<CausalLm<D>> load_causal_lm(const std::filesystem::path& dir, WeightDtype dtype = WeightDtype::f32);

}  // namespace tokclean
