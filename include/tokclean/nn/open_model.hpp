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
#include <cstdint>
#include <filesystem>
#include <functional>
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
#include "tokclean/nn/lora_model.hpp"
#include "tokclean/nn/model_files.hpp"
#if TOKCLEAN_DEFINE_COMPILED_ONCE  // else every architecture and the tokenizer.json code are compiled once, elsewhere
#include "tokclean/data/chat/model_chat_template.hpp"
#include "tokclean/data/hf_tokenizer.hpp"
#include "tokclean/nn/load_model.hpp"
#endif

namespace tokclean {

class HfTokenizer;
class ModelChatTemplate;

// A model directory's tokenizer.json, opened: the tokenizer, what it puts around a text, and
// the chat template of tokenizer_config.json if there is one (data/hf_tokenizer.hpp,
// data/chat/model_chat_template.hpp; compiled once in that mode, as they are long to compile).
struct OpenedHfTokenizer {
    std::shared_ptr<const HfTokenizer> tokenizer;
    TokenizerRef ref;
    std::vector<std::int32_t> text_prefix, text_suffix;
    std::shared_ptr<const ModelChatTemplate> chat;
    std::function<Example(const nlohmann::json&, const std::vector<bool>&, const JsonWhere&)> render_messages;
};

TOKCLEAN_COMPILED_ONCE OpenedHfTokenizer open_hf_tokenizer(const std::filesystem::path& dir, const ModelInfo& info)
#if TOKCLEAN_DEFINE_COMPILED_ONCE
{
    OpenedHfTokenizer o;
    auto tok = std::make_shared<const HfTokenizer>(HfTokenizer::from_model_dir(dir, info.eos_token_id));
    if (tok->vocab_size() > info.vocab_size)
        fail((dir / "tokenizer.json").string(), ": ids up to ", tok->vocab_size() - 1, ", more than the model's vocab_size ",
             info.vocab_size, " (", (dir / config_file_name).string(), ")");
    o.ref = tok.get();
    o.text_prefix.assign(tok->special_prefix().begin(), tok->special_prefix().end());
    o.text_suffix.assign(tok->special_suffix().begin(), tok->special_suffix().end());
    if (const auto config = dir / "tokenizer_config.json"; std::filesystem::exists(config))
        if (auto t = ModelChatTemplate::from_tokenizer_config(config)) {
            auto chat = std::make_shared<const ModelChatTemplate>(std::move(*t));
            o.chat = chat;
            o.render_messages = [chat, tok](const nlohmann::json& messages, const std::vector<bool>& assistant,
                                            const JsonWhere& w) {
                return chat->tokenize(nlohmann::ordered_json::parse(messages.dump()), assistant, TokenizerRef(tok.get()), w);
            };
        }
    o.tokenizer = std::move(tok);
    return o;
}
#else
;
#endif

// The tokenizer a model directory declares (config.json's tokclean_tokenizer): the byte
// tokenizer, GPT-2's BPE files, or any tokenizer.json ("hf-tokenizer", with the chat template
// of tokenizer_config.json if it has one).
class ModelTokenizer {
public:
    ModelTokenizer() = default;
    ModelTokenizer(const std::filesystem::path& dir, const ModelInfo& info) {
        if (info.tokenizer == "byte") byte_.emplace(info.eos_token_id);
        else if (info.tokenizer == "gpt2-bpe") bpe_.emplace(Gpt2Bpe::from_model_dir(dir));
        else if (info.tokenizer == "hf-tokenizer") hf_ = open_hf_tokenizer(dir, info);
    }
    // A reference for the readers (valid while this object lives and is not moved); empty
    // when the model has no tokenizer.
    TokenizerRef ref() const {
        if (byte_) return &*byte_;
        if (bpe_) return &*bpe_;
        if (hf_.tokenizer) return hf_.ref;
        return {};
    }
    explicit operator bool() const { return byte_ || bpe_ || hf_.tokenizer; }
    // The GPT-2 BPE tables, if that is the tokenizer (e.g. to ask unreachable_tokens()).
    const Gpt2Bpe* bpe() const { return bpe_ ? &*bpe_ : nullptr; }
    // The tokenizer.json pipeline, if that is the tokenizer (include data/hf_tokenizer.hpp to use it).
    const HfTokenizer* hf() const { return hf_.tokenizer.get(); }
    // The model's own chat template, if tokenizer_config.json has one.
    const ModelChatTemplate* chat_template() const { return hf_.chat.get(); }

    // Sets what the tokenizer adds to the readers' options: the special tokens around a text
    // and the chat template's rendering of {"messages"}.
    void configure(ReadOptions& ro) const {
        ro.text_prefix = hf_.text_prefix;
        ro.text_suffix = hf_.text_suffix;
        ro.render_messages = hf_.render_messages;
    }

private:
    std::optional<ByteTokenizer> byte_;
    std::optional<Gpt2Bpe> bpe_;
    OpenedHfTokenizer hf_;
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
        tokenizer.configure(ro);
        if (!tokenizer)
            ro.missing_tokenizer = "the model has no tokenizer (" + (dir / config_file_name).string() +
                                   ": tokclean_tokenizer \"none\"); give pre-tokenized {\"input_ids\": [...]} lines";
        return ro;
    }

    // A LoRA adapter directory to compute with (base + adapter, nn/lora_model.hpp); empty: none.
    std::filesystem::path adapter;
    // The dtype the weights are held in (bf16: half the memory, frozen; the Llama family).
    WeightDtype dtype = WeightDtype::f32;

    // The weights, read now, as a model on device D (with `adapter` when set).
    template <Device D = Cpu>
    std::unique_ptr<CausalLm<D>> take_model() const {
        std::unique_ptr<CausalLm<D>> model = load_causal_lm<D>(dir, dtype);
        if (!adapter.empty()) return load_lora(*model, adapter);
        return model;
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
    return {dir, std::move(info), std::move(tok), {}};
}
#else
    ;
#endif

}  // namespace tokclean
