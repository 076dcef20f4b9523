#pragma once
// A Hugging Face tokenizer.json (the "fast" tokenizer file every model directory ships), run
// with the semantics of the Rust tokenizers library: added tokens found first, then for each
// stretch between them the normalizer, the pre-tokenizer and the BPE model; the
// post-processor's special tokens (e.g. Llama-3's <|begin_of_text|>) when asked for.
// Checked against transformers.js (npm @lenml/tokenizers) on the real files of Llama-3.1,
// Qwen3 and Llama-2 (tests/test_hf_tokenizer.cpp).
//
// What it reads (anything else is refused with one line naming the field):
//   normalizer      NFC NFKC NFD NFKD Prepend Replace Sequence null   (data/hf/normalizer.hpp)
//   pre_tokenizer   Split ByteLevel Metaspace Digits Sequence null    (data/hf/pre_tokenizer.hpp)
//   model           BPE (byte_fallback, ignore_merges, unk, fuse_unk) (data/hf/bpe_model.hpp)
//   added_tokens    special or not, lstrip rstrip normalized single_word (data/hf/added_tokens.hpp)
//   post_processor  TemplateProcessing ByteLevel Sequence null        (here)
//   decoder         ByteLevel Metaspace ByteFallback Fuse Strip Replace Sequence null (data/hf/decoder.hpp)
// Split's regexes run on tokclean's own matcher (data/hf/regex.hpp: the subset real
// tokenizers use, \p{L} \p{N} \s, case-insensitive groups, lookahead).
//
// encode(text) gives the ids of `text` with no special tokens added (tokenizer(text,
// add_special_tokens=False)), which is what the Tokenizer concept asks; encode(text, true)
// adds the post-processor's (tokenizer(text)). eos_id() is tokenizer_config.json's
// eos_token, else the `fallback_eos` given when loading (a model directory passes
// config.json's eos_token_id), else -1.
//
// Thread safety: const methods may run concurrently. Copies share the immutable tables.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/data/gpt2_bpe.hpp"  // detail::gpt2::parse_json_text, show_token
#include "tokclean/data/hf/added_tokens.hpp"
#include "tokclean/data/hf/bpe_model.hpp"
#include "tokclean/data/hf/decoder.hpp"
#include "tokclean/data/hf/normalizer.hpp"
#include "tokclean/data/hf/pre_tokenizer.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean {

class HfTokenizer {
public:
    // tokenizer.json, and tokenizer_config.json beside it if there is one (for eos_token).
    static HfTokenizer from_model_dir(const std::filesystem::path& dir, std::int32_t fallback_eos = -1) {
        const auto config = dir / "tokenizer_config.json";
        return from_files(dir / "tokenizer.json", std::filesystem::exists(config) ? config : std::filesystem::path(),
                          fallback_eos);
    }
    static HfTokenizer from_files(const std::filesystem::path& tokenizer_json, const std::filesystem::path& tokenizer_config = {},
                                  std::int32_t fallback_eos = -1) {
        const std::string config_text = tokenizer_config.empty() ? std::string() : read_file_bytes(tokenizer_config);
        return from_texts(read_file_bytes(tokenizer_json), tokenizer_json.string(), config_text, tokenizer_config.string(),
                          fallback_eos);
    }
    // config_text may be empty (no tokenizer_config.json).
    static HfTokenizer from_texts(std::string_view tokenizer_text, const std::string& file, std::string_view config_text = {},
                                  const std::string& config_file = "tokenizer_config.json", std::int32_t fallback_eos = -1) {
        auto m = std::make_shared<Model>();
        const nlohmann::json doc = detail::gpt2::parse_json_text(tokenizer_text, file);
        if (!doc.is_object()) fail(file, ": expected a JSON object, got ", json_describe(doc));
        const auto* model = find_field(doc, "model");
        if (!model || !model->is_object()) fail(hf::field_where(file, "model"), ": expected an object");
        const std::string type = optional_string(*model, "type", "BPE", JsonWhere{hf::field_where(file, "model")});
        if (type != "BPE")
            fail(hf::field_where(file, "model.type"), ": model \"", type, "\" is not supported (tokclean reads BPE)");
        const auto* truncation = find_field(doc, "truncation");
        if (truncation && !truncation->is_null())
            fail(hf::field_where(file, "truncation"), ": expected null (tokclean cuts examples itself: --max-len)");

        // The vocabulary: model.vocab plus the added tokens.
        hf::TokenIds vocab;
        const auto& v = require_field(*model, "vocab", JsonWhere{hf::field_where(file, "model")});
        if (!v.is_object()) fail(hf::field_where(file, "model.vocab"), ": expected an object, got ", json_describe(v));
        for (const auto& [token, id] : v.items()) {
            if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > (std::int64_t{1} << 30))
                fail(hf::field_where(file, "model.vocab"), ": token ", detail::gpt2::show_token(token),
                     ": expected an id in [0, 2^30], got ", json_describe(id));
            vocab.emplace(token, static_cast<std::int32_t>(id.get<std::int64_t>()));
        }
        std::vector<hf::AddedToken> added;
        if (const auto* list = find_field(doc, "added_tokens"); list && !list->is_null()) {
            if (!list->is_array()) fail(hf::field_where(file, "added_tokens"), ": expected an array, got ", json_describe(*list));
            for (std::size_t k = 0; k < list->size(); ++k) {
                const std::string field = "added_tokens[" + std::to_string(k) + "]";
                const std::string where = hf::field_where(file, field);
                const JsonWhere w{where};
                const auto& a = (*list)[k];
                if (!a.is_object()) fail(where, ": expected an object, got ", json_describe(a));
                hf::AddedToken t;
                t.content = require_string(a, "content", w);
                const std::int64_t id = require_int64(a, "id", w);
                if (id < 0 || id > (std::int64_t{1} << 30)) fail(hf::field_where(file, field + ".id"), ": ", id, " is outside [0, 2^30]");
                t.id = static_cast<std::int32_t>(id);
                t.special = optional_bool(a, "special", false, w);
                t.single_word = optional_bool(a, "single_word", false, w);
                t.lstrip = optional_bool(a, "lstrip", false, w);
                t.rstrip = optional_bool(a, "rstrip", false, w);
                t.normalized = optional_bool(a, "normalized", !t.special, w);
                if (t.content.empty()) fail(hf::field_where(file, field + ".content"), ": must not be empty");
                const auto [it, fresh] = vocab.emplace(t.content, t.id);
                if (!fresh && it->second != t.id)
                    fail(where, ": ", detail::gpt2::show_token(t.content), " has id ", t.id, " here and ", it->second,
                         " in model.vocab");
                added.push_back(std::move(t));
            }
        }
        // id -> token; ids may have gaps (as in tokenizers), which decode as "<|id|>".
        std::int64_t max_id = -1;
        for (const auto& [token, id] : vocab) max_id = std::max<std::int64_t>(max_id, id);
        if (max_id < 0) fail(hf::field_where(file, "model.vocab"), ": the vocabulary is empty");
        m->tokens.assign(static_cast<std::size_t>(max_id + 1), std::string());
        m->has_token.assign(m->tokens.size(), false);
        for (const auto& [token, id] : vocab) {
            const auto k = static_cast<std::size_t>(id);
            if (m->has_token[k])
                fail(hf::field_where(file, "model.vocab"), ": id ", id, " names two tokens, ",
                     detail::gpt2::show_token(m->tokens[k]), " and ", detail::gpt2::show_token(token));
            m->tokens[k] = token;
            m->has_token[k] = true;
        }

        m->normalizer = hf::Normalizer::from_json(find_field(doc, "normalizer"), file);
        m->pre_tokenizer = hf::PreTokenizer::from_json(find_field(doc, "pre_tokenizer"), file);
        m->decoder = hf::Decoder::from_json(find_field(doc, "decoder"), file);
        read_post_processor(find_field(doc, "post_processor"), file, "post_processor", vocab, *m);
        m->model = hf::BpeModel::from_json(*model, std::move(vocab), file);

        std::vector<std::string> raw_patterns, normalized_patterns;
        std::vector<hf::AddedToken> raw_tokens, normalized_tokens;
        for (const auto& t : added) {
            if (t.normalized) {
                normalized_patterns.push_back(m->normalizer.apply(t.content));
                normalized_tokens.push_back(t);
            } else {
                raw_patterns.push_back(t.content);
                raw_tokens.push_back(t);
            }
        }
        m->raw_added = hf::AddedTokenMatcher(std::move(raw_patterns), std::move(raw_tokens));
        m->normalized_added = hf::AddedTokenMatcher(std::move(normalized_patterns), std::move(normalized_tokens));

        if (!config_text.empty()) {
            const nlohmann::json config = detail::gpt2::parse_json_text(config_text, config_file);
            if (!config.is_object()) fail(config_file, ": expected a JSON object, got ", json_describe(config));
            m->eos_id = special_token_id(config, "eos_token", config_file, *m);
            m->bos_id = special_token_id(config, "bos_token", config_file, *m);
        }
        if (m->eos_id < 0) m->eos_id = fallback_eos;
        return HfTokenizer(std::move(m));
    }

    std::vector<std::int32_t> encode(std::string_view text) const { return encode(text, false); }

    std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens) const {
        std::vector<std::int32_t> ids;
        ids.reserve(text.size() / 3 + 4);
        if (add_special_tokens) ids.insert(ids.end(), m_->prefix.begin(), m_->prefix.end());
        for (const auto& s : split_raw(text)) {
            if (s.id) {
                ids.push_back(*s.id);
            } else {
                const std::string normalized = m_->normalizer.apply(text.substr(s.begin, s.end - s.begin));
                for (const auto& n : m_->normalized_added.empty() ? std::vector<hf::Stretch>{{std::nullopt, 0, normalized.size()}}
                                                                 : m_->normalized_added.split(normalized)) {
                    if (n.id) {
                        ids.push_back(*n.id);
                        continue;
                    }
                    hf::Piece whole{normalized.substr(n.begin, n.end - n.begin), false, s.begin == 0 && n.begin == 0};
                    for (const auto& p : m_->pre_tokenizer.apply(std::move(whole))) m_->model.encode(p, ids);
                }
            }
        }
        if (add_special_tokens) ids.insert(ids.end(), m_->suffix.begin(), m_->suffix.end());
        return ids;
    }

    std::string decode(std::span<const std::int32_t> ids) const {
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (auto id : ids) {
            const auto k = static_cast<std::size_t>(id);
            if (id >= 0 && k < m_->tokens.size() && m_->has_token[k]) tokens.push_back(m_->tokens[k]);
            else tokens.push_back("<|" + std::to_string(id) + "|>");
        }
        return m_->decoder.decode(std::move(tokens));
    }

    std::int32_t eos_id() const { return m_->eos_id; }
    std::int32_t bos_id() const { return m_->bos_id; }  // -1 if tokenizer_config.json names none
    std::string_view name() const { return "hf-tokenizer"; }
    // The number of ids (the largest id + 1, added tokens included).
    std::int32_t vocab_size() const { return static_cast<std::int32_t>(m_->tokens.size()); }
    std::optional<std::int32_t> token_id(std::string_view token) const {
        const auto& v = m_->model.vocab();
        const auto it = v.find(token);
        if (it == v.end()) return std::nullopt;
        return it->second;
    }
    // The ids the post-processor puts before and after a single text.
    std::span<const std::int32_t> special_prefix() const { return m_->prefix; }
    std::span<const std::int32_t> special_suffix() const { return m_->suffix; }

private:
    struct Model {
        std::vector<std::string> tokens;  // id -> token string
        std::vector<bool> has_token;
        hf::Normalizer normalizer;
        hf::PreTokenizer pre_tokenizer;
        hf::BpeModel model;
        hf::Decoder decoder;
        hf::AddedTokenMatcher raw_added, normalized_added;
        std::vector<std::int32_t> prefix, suffix;  // the post-processor's special tokens
        std::int32_t eos_id = -1, bos_id = -1;
    };

    explicit HfTokenizer(std::shared_ptr<const Model> m) : m_(std::move(m)) {}

    std::vector<hf::Stretch> split_raw(std::string_view text) const {
        if (m_->raw_added.empty()) return {{std::nullopt, 0, text.size()}};
        return m_->raw_added.split(text);
    }

    // TemplateProcessing's "single" template (the sequence $A with special tokens around
    // it); ByteLevel's only changes offsets; Sequence applies each.
    static void read_post_processor(const nlohmann::json* j, const std::string& file, const std::string& field,
                                    const hf::TokenIds& vocab, Model& m) {
        if (!j || j->is_null()) return;
        const std::string where = hf::field_where(file, field);
        const JsonWhere w{where};
        if (!j->is_object()) fail(where, ": expected an object, got ", json_describe(*j));
        const std::string type = require_string(*j, "type", w);
        if (type == "ByteLevel") return;
        if (type == "Sequence") {
            const auto& list = require_field(*j, "processors", w);
            if (!list.is_array()) fail(hf::field_where(file, field + ".processors"), ": expected an array, got ", json_describe(list));
            for (std::size_t k = 0; k < list.size(); ++k)
                read_post_processor(&list[k], file, field + ".processors[" + std::to_string(k) + "]", vocab, m);
            return;
        }
        if (type != "TemplateProcessing")
            fail(where, ": post-processor \"", type, "\" is not supported (tokclean reads TemplateProcessing, ByteLevel and Sequence)");
        if (!m.prefix.empty() || !m.suffix.empty()) fail(where, ": a second TemplateProcessing");
        const auto& single = require_field(*j, "single", w);
        const auto& specials = require_field(*j, "special_tokens", w);
        if (!single.is_array()) fail(hf::field_where(file, field + ".single"), ": expected an array, got ", json_describe(single));
        bool seen_sequence = false;
        for (std::size_t k = 0; k < single.size(); ++k) {
            const std::string at = hf::field_where(file, field + ".single[" + std::to_string(k) + "]");
            const auto& item = single[k];
            if (const auto* seq = item.is_object() ? find_field(item, "Sequence") : nullptr) {
                if (seen_sequence || optional_string(*seq, "id", "A", JsonWhere{at}) != "A")
                    fail(at, ": expected one sequence $A in the single template");
                seen_sequence = true;
                continue;
            }
            const auto* special = item.is_object() ? find_field(item, "SpecialToken") : nullptr;
            if (!special) fail(at, ": expected {\"SpecialToken\": ...} or {\"Sequence\": ...}, got ", json_describe(item));
            const std::string name = require_string(*special, "id", JsonWhere{hf::field_where(file, field + ".single[" + std::to_string(k) + "].SpecialToken")});
            const auto* entry = find_field(specials, name);
            if (!entry) fail(hf::field_where(file, field + ".special_tokens"), ": no entry for ", detail::gpt2::show_token(name));
            const std::string entry_field = field + ".special_tokens." + name;
            const auto& ids = require_field(*entry, "ids", JsonWhere{hf::field_where(file, entry_field)});
            if (!ids.is_array()) fail(hf::field_where(file, entry_field + ".ids"), ": expected an array");
            for (const auto& id : ids) {
                if (!id.is_number_integer()) fail(hf::field_where(file, entry_field + ".ids"), ": expected integers");
                (seen_sequence ? m.suffix : m.prefix).push_back(static_cast<std::int32_t>(id.get<std::int64_t>()));
            }
        }
        if (!seen_sequence) fail(hf::field_where(file, field + ".single"), ": no sequence $A");
        (void)vocab;
    }

    // tokenizer_config.json's "eos_token" / "bos_token": a string, {"content": ...}, or null.
    static std::int32_t special_token_id(const nlohmann::json& config, const char* key, const std::string& file, const Model& m) {
        const auto* f = find_field(config, key);
        if (!f || f->is_null()) return -1;
        std::string content;
        if (f->is_string()) content = f->get<std::string>();
        else if (f->is_object() && find_field(*f, "content") && f->at("content").is_string()) content = f->at("content").get<std::string>();
        else fail(file, ": field '", key, "': expected a string or {\"content\": ...}, got ", json_describe(*f));
        const auto& v = m.model.vocab();
        const auto it = v.find(content);
        if (it == v.end()) fail(file, ": field '", key, "': ", detail::gpt2::show_token(content), " is not in tokenizer.json's vocabulary");
        return it->second;
    }

    std::shared_ptr<const Model> m_;
};
static_assert(Tokenizer<HfTokenizer>);

}  // namespace tokclean
