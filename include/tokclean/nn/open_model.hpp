#pragma once
// A model directory opened in one call: its config.json, its weights, and the tokenizer it
// declares (the built-in byte tokenizer, GPT-2 BPE files beside config.json, or none), ready to
// read data with and to become a model:
//
//   OpenedModel base = open_model("base");
//   std::vector<Example> pool = read_examples("pool.jsonl", base.read_options()).examples;
//   std::unique_ptr<CausalLm<Cpu>> model = base.take_model();   // the weights, on the CPU
//   ...
//   base.save("tuned", *model);   // config, weights, and the tokenizer files it came with
//
// Any architecture tokclean knows (config.json's model_type: see nn/load_model.hpp). The
// weights are read by take_model(), on the device asked for; opening reads config.json and
// the tokenizer only.
#include <filesystem>
#include <memory>
#include <optional>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "tokclean/core/compiled_once.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/gpt2_bpe.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/model_files.hpp"
#if TOKCLEAN_DEFINE_COMPILED_ONCE  // else every architecture is compiled once, elsewhere
#include "tokclean/nn/load_model.hpp"
#endif

namespace tokclean {

// The tokenizer a model directory declares (config.json's tokclean_tokenizer).
class ModelTokenizer {
public:
    ModelTokenizer() = default;
    ModelTokenizer(const std::filesystem::path& dir, const ModelInfo& info) {
        if (info.tokenizer == "byte") byte_.emplace(info.eos_token_id);
        else if (info.tokenizer == "gpt2-bpe") bpe_.emplace(Gpt2Bpe::from_model_dir(dir));
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
    ModelInfo info;
    ModelTokenizer tokenizer;

    // How to read data for this model: ids checked against its vocabulary, text through its
    // tokenizer, examples cut at its longest sequence (max_len 0 and strict are the caller's to
    // change). The options refer to this object's tokenizer: keep the OpenedModel alive (and
    // unmoved) while reading.
    ReadOptions read_options() const {
        ReadOptions ro;
        ro.vocab_size = info.vocab_size;
        ro.max_len = static_cast<std::size_t>(info.max_positions);
        ro.tokenizer = tokenizer.ref();
        if (!tokenizer)
            ro.missing_tokenizer = "the model has no tokenizer (" + (dir / config_file_name).string() +
                                   ": tokclean_tokenizer \"none\"); give pre-tokenized {\"input_ids\": [...]} lines";
        return ro;
    }

    // The weights, read now, as a model on device D.
    template <Device D = Cpu>
    std::unique_ptr<CausalLm<D>> take_model() const {
        return load_causal_lm<D>(dir);
    }

    // The files a saved copy keeps beside config.json and the weights: the tokenizer's.
    std::vector<std::filesystem::path> kept_files() const { return tokenizer_files(dir); }

    // Saves `model` (this one, trained further) as a model directory at `out` with this
    // model's tokenizer files, atomically (an existing `out` is replaced only when nothing in
    // it would be lost: see AtomicDirectory).
    template <Device D>
    void save(const std::filesystem::path& out, const CausalLm<D>& model) const {
        AtomicDirectory dir_out(out);
        model.save(dir_out, kept_files());
    }
};

// Opens `dir`: config.json (any architecture tokclean knows) and the tokenizer it declares.
// Errors name the file and what is wrong (see tests/README.md's inventory).
TOKCLEAN_COMPILED_ONCE OpenedModel open_model(const std::filesystem::path& dir)
#if TOKCLEAN_DEFINE_COMPILED_ONCE
{
    ModelInfo info = read_model_info(dir);
    ModelTokenizer tok(dir, info);
    return {dir, std::move(info), std::move(tok)};
}
#else
    ;
#endif

}  // namespace tokclean
