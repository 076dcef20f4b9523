#pragma once
// What the data readers produce: a tokenized example with its training targets, and the
// contract a tokenizer meets to turn text into one (byte_tokenizer.hpp, gpt2_bpe.hpp).
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"  // ignore_label

namespace tokclean {

// One example. Hugging Face semantics: the loss at position j predicts labels[j] from the
// tokens before j, so labels[0] is never predicted.
struct Example {
    std::vector<std::int32_t> input_ids;  // (T)
    std::vector<std::int32_t> labels;     // (T), ignore_label = not a target
    std::size_t line = 0;                 // 1-based line in the source file, for messages

    std::size_t size() const { return input_ids.size(); }
    // Targets that a loss can see (positions j >= 1 with a label).
    std::int64_t num_targets() const {
        std::int64_t n = 0;
        for (std::size_t j = 1; j < labels.size(); ++j) n += labels[j] != ignore_label;
        return n;
    }
};

// A tokenizer: text to ids and back, with an end-of-sequence id. encode() adds no special
// tokens (like Hugging Face's GPT-2 tokenizer); formats that need EOS append eos_id().
template <class T>
concept Tokenizer = requires(const T& t, std::string_view text, std::span<const std::int32_t> ids) {
    { t.encode(text) } -> std::same_as<std::vector<std::int32_t>>;
    { t.decode(ids) } -> std::same_as<std::string>;
    { t.eos_id() } -> std::convertible_to<std::int32_t>;
    { t.name() } -> std::convertible_to<std::string_view>;
};

// A non-owning reference to any Tokenizer, so that readers need not be templates (a reader
// is chosen at run time from the model directory). Empty = no tokenizer: pre-tokenized
// data only. The tokenizer must outlive the reference.
class TokenizerRef {
public:
    TokenizerRef() = default;
    template <Tokenizer T>
    TokenizerRef(const T* tokenizer)  // NOLINT: implicit, so `.tokenizer = &byte_tokenizer`
        : self_(tokenizer),
          encode_([](const void* s, std::string_view text) {
              return static_cast<const T*>(s)->encode(text);
          }),
          decode_([](const void* s, std::span<const std::int32_t> ids) {
              return static_cast<const T*>(s)->decode(ids);
          }),
          eos_([](const void* s) { return static_cast<std::int32_t>(static_cast<const T*>(s)->eos_id()); }),
          name_([](const void* s) { return std::string_view(static_cast<const T*>(s)->name()); }) {}

    explicit operator bool() const { return self_ != nullptr; }
    std::vector<std::int32_t> encode(std::string_view text) const {
        TOKCLEAN_CHECK(self_, "no tokenizer");
        return encode_(self_, text);
    }
    std::string decode(std::span<const std::int32_t> ids) const {
        TOKCLEAN_CHECK(self_, "no tokenizer");
        return decode_(self_, ids);
    }
    std::int32_t eos_id() const {
        TOKCLEAN_CHECK(self_, "no tokenizer");
        return eos_(self_);
    }
    std::string_view name() const { return self_ ? name_(self_) : std::string_view("none"); }

private:
    const void* self_ = nullptr;
    std::vector<std::int32_t> (*encode_)(const void*, std::string_view) = nullptr;
    std::string (*decode_)(const void*, std::span<const std::int32_t>) = nullptr;
    std::int32_t (*eos_)(const void*) = nullptr;
    std::string_view (*name_)(const void*) = nullptr;
};

}  // namespace tokclean
