#pragma once
// A model directory opened in one call: its config.json, its weights, and the tokenizer it
// declares (the built-in byte tokenizer, GPT-2 BPE files beside config.json, or none), ready to
// read data with and to become a model:
//
//   OpenedModel base = open_model("base");
//   std::vector<Example> pool = read_examples("pool.jsonl", base.read_options()).examples;
//   Gpt<Cpu> model = base.take_model();
//   ...
//   base.save("tuned", model.params());   // config, weights, and the tokenizer files it came with
#include <filesystem>
#include <optional>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/gpt2_bpe.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/nn/model_dir.hpp"

namespace tokclean {

// The tokenizer a model directory declares (config.json's tokclean_tokenizer).
class ModelTokenizer {
public:
    ModelTokenizer() = default;
    ModelTokenizer(const std::filesystem::path& dir, const GptConfig& config) {
        if (config.tokenizer == "byte") byte_.emplace(config.eos_token_id);
        else if (config.tokenizer == "gpt2-bpe") bpe_.emplace(Gpt2Bpe::from_model_dir(dir));
    }
    // A reference for the readers (valid while this object lives and is not moved); empty
    // when the model has no tokenizer.
    TokenizerRef ref() const {
        if (byte_) return &*byte_;
        if (bpe_) return &*bpe_;
        return {};
    }
    explicit operator bool() const { return byte_ || bpe_; }
    // The GPT-2 BPE tables, if that is the tokenizer (e.g. to ask unreachable_tokens()).
    const Gpt2Bpe* bpe() const { return bpe_ ? &*bpe_ : nullptr; }

private:
    std::optional<ByteTokenizer> byte_;
    std::optional<Gpt2Bpe> bpe_;
};

struct OpenedModel {
    std::filesystem::path dir;
    GptConfig config;
    GptParams<Cpu> params;  // moved out by take_model()
    ModelTokenizer tokenizer;

    // How to read data for this model: ids checked against its vocabulary, text through its
    // tokenizer, examples cut at n_positions (max_len 0 and strict are the caller's to change).
    // The options refer to this object's tokenizer: keep the OpenedModel alive (and unmoved)
    // while reading.
    ReadOptions read_options() const {
        ReadOptions ro;
        ro.vocab_size = config.vocab_size;
        ro.max_len = static_cast<std::size_t>(config.n_positions);
        ro.tokenizer = tokenizer.ref();
        if (!tokenizer)
            ro.missing_tokenizer = "the model has no tokenizer (" + (dir / config_file_name).string() +
                                   ": tokclean_tokenizer \"none\"); give pre-tokenized {\"input_ids\": [...]} lines";
        return ro;
    }

    // The weights as a model on device D (moved on the CPU, copied to a device); once only.
    template <Device D = Cpu>
    Gpt<D> take_model() {
        TOKCLEAN_CHECK(params.numel() > 0, "take_model() called twice for ", dir.string());
        if constexpr (std::is_same_v<D, Cpu>) return Gpt<D>(config, std::move(params));
        else {
            Gpt<D> m(config, copy_to(D{}, params));
            params = GptParams<Cpu>();
            return m;
        }
    }

    // The files a saved copy keeps beside config.json and model.safetensors: the tokenizer's.
    std::vector<std::filesystem::path> kept_files() const { return tokenizer_files(dir); }

    // Saves `weights` (of this model's shape) as a model directory at `out` with this model's
    // config and tokenizer files, atomically (see save_model_dir).
    void save(const std::filesystem::path& out, const GptParams<Cpu>& weights) const {
        save_model_dir(out, config, weights, kept_files());
    }
};

// Opens `dir`: config.json, the weights (F32, F16 or BF16) and the tokenizer. Errors name the
// file and what is wrong (see tests/README.md's inventory).
inline OpenedModel open_model(const std::filesystem::path& dir) {
    LoadedModel m = load_model_dir(dir);
    ModelTokenizer tok(dir, m.config);
    return {dir, std::move(m.config), std::move(m.params), std::move(tok)};
}

// config.json and the tokenizer alone, to read data for the model without loading its weights.
inline OpenedModel open_model_without_weights(const std::filesystem::path& dir) {
    GptConfig config = load_gpt_config(dir);
    ModelTokenizer tok(dir, config);
    return {dir, std::move(config), GptParams<Cpu>(), std::move(tok)};
}

}  // namespace tokclean
