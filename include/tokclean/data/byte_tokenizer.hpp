#pragma once
// The built-in byte-level tokenizer: ids 0..255 are the bytes of the UTF-8 text, and one
// more id (256 by default; a model's config.json says which: eos_token_id) ends a sequence.
// Needs no files.
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/data/example.hpp"

namespace tokclean {

class ByteTokenizer {
public:
    static constexpr std::string_view eos_text = "<|endoftext|>";

    explicit ByteTokenizer(std::int32_t eos_id = 256) : eos_id_(eos_id) {
        TOKCLEAN_CHECK(eos_id >= 256, "the byte tokenizer's EOS id must not be a byte: ", eos_id);
    }
    // The model's byte tokenizer, from its config (nn/gpt_config.hpp's GptConfig: the data
    // layer does not depend on the model's); Error if config.json names another tokenizer.
    template <class Config>
        requires requires(const Config& c) {
            { c.tokenizer } -> std::convertible_to<std::string_view>;
            { c.eos_token_id } -> std::convertible_to<std::int32_t>;
        }
    static ByteTokenizer from_config(const Config& config, std::string_view where = "config.json") {
        if (config.tokenizer != "byte")
            fail(where, ": field 'tokclean_tokenizer': the model uses tokenizer \"",
                 config.tokenizer.empty() ? "none" : config.tokenizer, "\", not \"byte\"");
        return ByteTokenizer(config.eos_token_id);
    }

    std::int32_t eos_id() const { return eos_id_; }
    std::string_view name() const { return "byte"; }
    // The smallest vocabulary that holds every id this tokenizer produces.
    std::int32_t min_vocab_size() const { return eos_id_ + 1; }

    // One id per byte; no EOS is added.
    std::vector<std::int32_t> encode(std::string_view text) const {
        std::vector<std::int32_t> ids(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
        return ids;
    }
    // Bytes back to text; EOS as "<|endoftext|>". Other ids outside the bytes (a model's
    // vocabulary may be larger than 257) come out as "<|id|>" rather than being dropped.
    std::string decode(std::span<const std::int32_t> ids) const {
        std::string out;
        out.reserve(ids.size());
        for (auto id : ids) {
            if (id >= 0 && id < 256) out.push_back(static_cast<char>(id));
            else if (id == eos_id_) out += eos_text;
            else out += "<|" + std::to_string(id) + "|>";
        }
        return out;
    }

private:
    std::int32_t eos_id_;
};
static_assert(Tokenizer<ByteTokenizer>);

}  // namespace tokclean
