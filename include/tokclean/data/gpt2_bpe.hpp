#pragma once
// GPT-2's byte-level BPE tokenizer, giving the ids of OpenAI's encoder.py (checked against the
// npm package gpt-3-encoder, its JavaScript port: tests/data/gpt2_bpe/vectors.jsonl). Loads
// vocab.json + merges.txt, or a Hugging Face tokenizer.json.
//
// encode(text): the UTF-8 text is split into pieces by GPT-2's pre-tokenizer regex
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (implemented by hand below; \s is JavaScript's, the classes come from
// detail/unicode_tables.hpp), each piece's bytes become byte tokens, and adjacent tokens are
// merged lowest merge rank first until no ranked pair is left.
//   - "<|endoftext|>" (or any other added token) inside text is plain text, as in encoder.py;
//     formats that need EOS append eos_id() themselves.
//   - Invalid UTF-8: each byte that does not begin a well-formed UTF-8 sequence (Unicode's
//     definition: no overlong forms, no surrogates, nothing above U+10FFFF) counts as one code
//     point of the "other" class (like punctuation) for the pre-tokenizer, and is encoded as
//     its byte token like any byte. So every byte string encodes, and decodes back unchanged.
//     (The reference encoders work on Unicode strings and cannot see such bytes.)
// decode(ids): the bytes of each token, concatenated (not re-validated: the ids of half an
//     emoji decode to half its UTF-8). Added tokens give their text; ids outside the
//     vocabulary give "<|id|>" (like ByteTokenizer) rather than being dropped.
//
// Thread safety: encode() and decode() are const and may run concurrently; the per-piece
// cache is guarded by a mutex. Copies share the (immutable) tables and the cache.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/detail/unicode_tables.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/utf8.hpp"

namespace tokclean {

namespace detail::gpt2 {

using unicode::CharClass;

// GPT-2's bytes_to_unicode(): the printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
// themselves, the other 68 bytes for U+0100, U+0101, ... in byte order. Byte-level tokens are
// strings of these characters, so a vocabulary never contains raw spaces or control bytes.
struct ByteChars {
    std::array<char32_t, 256> of_byte{};
    std::array<std::int16_t, 0x144> byte_of{};  // -1 where a code point is not a byte's
};

constexpr ByteChars make_byte_chars() {
    ByteChars t;
    for (auto& b : t.byte_of) b = -1;
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        t.of_byte[b] = printable ? static_cast<char32_t>(b) : next++;
        t.byte_of[t.of_byte[b]] = static_cast<std::int16_t>(b);
    }
    return t;
}
inline constexpr ByteChars byte_chars = make_byte_chars();
static_assert(byte_chars.of_byte[' '] == 0x120 && byte_chars.of_byte['\n'] == 0x10A);  // "Ġ", "Ċ"

// The classes of the ASCII characters, so that English text never reaches the range tables.
constexpr std::array<CharClass, 128> make_ascii_classes() {
    std::array<CharClass, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = unicode::char_class(c);
    return t;
}
inline constexpr std::array<CharClass, 128> ascii_classes = make_ascii_classes();

// The class of the code point at s[i] and its length in bytes.
inline CharClass class_at(std::string_view s, std::size_t i, std::size_t& len) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        len = 1;
        return ascii_classes[b0];
    }
    const char32_t c = decode_utf8(s, i, len);
    return c == invalid_code_point ? CharClass::other : unicode::char_class(c);
}

// GPT-2's pre-tokenizer: calls emit(piece) for each match of
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// in order. Every code point is a letter, a number, a space or "other", so some alternative
// matches at every position and the pieces cover the text exactly. The alternatives are tried
// in the regex's order at each position, each as greedy as the regex makes it.
template <class Emit>
void split_pieces(std::string_view text, Emit&& emit) {
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        // 's 't 're 've 'm 'll 'd: lower case only ("'S" goes to the punctuation rule).
        if (text[i] == '\'' && i + 1 < n) {
            const char c1 = text[i + 1];
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                emit(text.substr(i, 2));
                i += 2;
                continue;
            }
            if (i + 2 < n) {
                const char c2 = text[i + 2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                    (c1 == 'l' && c2 == 'l')) {
                    emit(text.substr(i, 3));
                    i += 3;
                    continue;
                }
            }
        }
        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional ASCII space, then a run of
        // one class. If the space is not followed by such a code point, these fail and the
        // space is whitespace.
        std::size_t len = 0;
        std::size_t j = i + (text[i] == ' ' ? 1 : 0);
        if (j < n) {
            const CharClass cls = class_at(text, j, len);
            if (cls != CharClass::space) {
                j += len;
                while (j < n && class_at(text, j, len) == cls) j += len;
                emit(text.substr(i, j - i));
                i = j;
                continue;
            }
        }
        // "\s+(?!\S)" then "\s+": a whitespace run at the end of the text is one piece; before
        // a non-space the run gives up its last code point (which then starts the next piece,
        // e.g. " word"), unless that is its only one.
        std::size_t end = i, last = i;
        while (end < n && class_at(text, end, len) == CharClass::space) {
            last = end;
            end += len;
        }
        if (end < n && last > i) end = last;
        emit(text.substr(i, end - i));
        i = end;
    }
}

// vocab.json and tokenizer.json: a syntax error names its line and column (vocab.json is
// usually one long line, tokenizer.json often many).
inline nlohmann::json parse_json_text(std::string_view text, const std::string& file) {
    return parse_json(text, JsonWhere{file, 0}, JsonPlace::line_and_column);
}

// A token for messages: quoted, escaped, shortened, on one line.
inline std::string show_token(std::string_view token) {
    std::string s = nlohmann::json(std::string(token))
                        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (s.size() > 60) s = s.substr(0, 57) + "...\"";
    return s;
}

}  // namespace detail::gpt2

class Gpt2Bpe {
public:
    static constexpr std::string_view eos_text = "<|endoftext|>";
    // Pieces longer than this are merged without the cache: they rarely repeat, and a few
    // huge ones (a page of CJK text without spaces) would crowd out the common words.
    static constexpr std::size_t cache_max_piece = 64;
    // The cache is emptied when it reaches this many pieces (a bound on memory, not an LRU:
    // refilling it with the words of the current text is cheap).
    static constexpr std::size_t cache_max_entries = std::size_t{1} << 16;

    // vocab.json (token -> id) and merges.txt (one "a b" merge per line, in rank order; an
    // optional "#version" first line and blank lines are skipped), as OpenAI and Hugging Face
    // ship GPT-2.
    static Gpt2Bpe from_files(const std::filesystem::path& vocab_json,
                              const std::filesystem::path& merges_txt) {
        const std::string vocab_text = read_file_bytes(vocab_json);
        return from_texts(vocab_text, vocab_json.string(), read_file_bytes(merges_txt), merges_txt.string());
    }
    // The same from the files' contents; the names are for errors.
    static Gpt2Bpe from_texts(std::string_view vocab_text, const std::string& vocab_file,
                              std::string_view merges_text, const std::string& merges_file) {
        const nlohmann::json vocab = detail::gpt2::parse_json_text(vocab_text, vocab_file);
        if (!vocab.is_object())
            fail(vocab_file, ": expected a JSON object of token -> id, got ",
                 json_type_name(vocab));
        Builder b;
        b.add_vocab(vocab, vocab_file, "");
        b.finish_vocab(vocab_file);

        const std::string_view text = merges_text;
        std::size_t line_no = 0;
        for (std::size_t pos = 0; pos < text.size();) {
            std::size_t eol = text.find('\n', pos);
            if (eol == std::string::npos) eol = text.size();
            std::string_view line(text.data() + pos, eol - pos);
            pos = eol + 1;
            ++line_no;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
            const std::size_t sp = line.find(' ');
            if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
                line.find(' ', sp + 1) != std::string_view::npos)
                fail(merges_file, ":", line_no,
                     ": expected two tokens separated by one space, got ",
                     detail::gpt2::show_token(line));
            b.add_merge(line.substr(0, sp), line.substr(sp + 1),
                        [&] { return merges_file + ":" + std::to_string(line_no); });
        }
        return b.finish(merges_file);
    }

    // A Hugging Face tokenizer.json whose model is GPT-2's: type "BPE", merges as "a b"
    // strings or ["a", "b"] pairs, the ByteLevel pre-tokenizer without prefix space, no
    // normalizer. added_tokens (e.g. <|endoftext|>) join the vocabulary; every id 0..V-1 must
    // name one token. Options that would change the ids (other pre-tokenizers, word suffixes,
    // dropout) are rejected rather than ignored.
    static Gpt2Bpe from_tokenizer_json(const std::filesystem::path& tokenizer_json) {
        return from_tokenizer_json_text(read_file_bytes(tokenizer_json), tokenizer_json.string());
    }
    // The same from the file's contents; `file` names it in errors.
    static Gpt2Bpe from_tokenizer_json_text(std::string_view text, const std::string& file) {
        const nlohmann::json doc = detail::gpt2::parse_json_text(text, file);
        const JsonWhere w{file, 0};
        require_object(doc, w);
        const auto where_field = [&](std::string_view field) {
            return file + ": field '" + std::string(field) + "'";
        };

        if (const auto* norm = find_field(doc, "normalizer"))
            fail(where_field("normalizer"), ": expected null (GPT-2 has no normalizer), got ",
                 json_describe(*norm));
        const auto* pre = find_field(doc, "pre_tokenizer");
        if (!pre || !pre->is_object() || pre->value("type", nlohmann::json()) != "ByteLevel")
            fail(where_field("pre_tokenizer"),
                 ": expected {\"type\": \"ByteLevel\"} (GPT-2's pre-tokenizer), got ",
                 pre ? (pre->is_object() && pre->contains("type") ? json_describe((*pre)["type"])
                                                                  : json_describe(*pre))
                     : std::string("null"));
        // Hugging Face's defaults for absent fields: add_prefix_space and use_regex true.
        // (Compared as JSON values: a number or a string there is an error like any other.)
        const auto prefix_space = pre->find("add_prefix_space");
        if (prefix_space == pre->end() || *prefix_space != false)
            fail(where_field("pre_tokenizer.add_prefix_space"),
                 ": expected false (GPT-2 adds no space before the text), got ",
                 prefix_space == pre->end() ? std::string("nothing (true by default)") : json_describe(*prefix_space));
        if (const auto regex = pre->find("use_regex"); regex != pre->end() && *regex != true)
            fail(where_field("pre_tokenizer.use_regex"),
                 ": expected true (GPT-2 splits with its regex), got ", json_describe(*regex));

        const auto& model = require_field(doc, "model", w);
        if (!model.is_object())
            fail(where_field("model"), ": expected an object, got ", json_describe(model));
        if (const auto* type = find_field(model, "type"); type && *type != "BPE")
            fail(where_field("model.type"), ": expected \"BPE\", got ", json_describe(*type));
        for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (const auto* v = find_field(model, affix); v && *v != "")
                fail(where_field(std::string("model.") + affix),
                     ": expected null or \"\" (GPT-2 has none), got ", json_describe(*v));
        if (const auto* v = find_field(model, "dropout");
            v && !(v->is_number() && v->get<double>() == 0.0))
            fail(where_field("model.dropout"),
                 ": expected null (dropout makes encoding random), got ", json_describe(*v));
        if (const auto* v = find_field(model, "ignore_merges"); v && *v != false)
            fail(where_field("model.ignore_merges"), ": expected false (GPT-2 always merges), got ",
                 json_describe(*v));

        Builder b;
        const auto& vocab = require_field(model, "vocab", JsonWhere{file + ": field 'model'", 0});
        if (!vocab.is_object())
            fail(where_field("model.vocab"), ": expected an object of token -> id, got ",
                 json_type_name(vocab));
        b.add_vocab(vocab, file, "field 'model.vocab': ");
        if (const auto* added = find_field(doc, "added_tokens")) {
            if (!added->is_array())
                fail(where_field("added_tokens"), ": expected an array, got ",
                     json_describe(*added));
            for (std::size_t i = 0; i < added->size(); ++i) {
                const auto& t = (*added)[i];
                const std::string field = "added_tokens'[" + std::to_string(i) + "]";
                const JsonWhere tw{file + ": field '" + field, 0};
                if (!t.is_object()) fail(tw.file, ": expected an object, got ", json_describe(t));
                const auto* id = find_field(t, "id");
                const auto* content = find_field(t, "content");
                if (!id || !id->is_number_integer())
                    fail(tw.file, ".id: expected an integer, got ",
                         id ? json_describe(*id) : "nothing");
                if (!content || !content->is_string())
                    fail(tw.file, ".content: expected a string, got ",
                         content ? json_describe(*content) : "nothing");
                b.add_added_token(content->get<std::string>(), id->get<std::int64_t>(), tw.file);
            }
        }
        b.finish_vocab(file);

        const auto& merges = require_field(model, "merges", JsonWhere{file + ": field 'model'", 0});
        if (!merges.is_array())
            fail(where_field("model.merges"), ": expected an array, got ", json_describe(merges));
        for (std::size_t i = 0; i < merges.size(); ++i) {
            const auto& m = merges[i];
            const auto where = [&] {
                return file + ": field 'model.merges'[" + std::to_string(i) + "]";
            };
            if (m.is_string()) {
                const std::string& s = m.get_ref<const std::string&>();
                const std::size_t sp = s.find(' ');
                if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() ||
                    s.find(' ', sp + 1) != std::string::npos)
                    fail(where(), ": expected two tokens separated by one space, got ",
                         detail::gpt2::show_token(s));
                b.add_merge(std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1),
                            where);
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                b.add_merge(m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>(),
                            where);
            } else {
                fail(where(), ": expected \"a b\" or [\"a\", \"b\"], got ", json_describe(m));
            }
        }
        return b.finish(file);
    }

    // The tokenizer files of a model directory: tokenizer.json if present (what Hugging Face's
    // fast tokenizers read first), else vocab.json + merges.txt.
    static Gpt2Bpe from_model_dir(const std::filesystem::path& dir) {
        namespace fs = std::filesystem;
        if (fs::exists(dir / "tokenizer.json")) return from_tokenizer_json(dir / "tokenizer.json");
        const bool vocab = fs::exists(dir / "vocab.json"), merges = fs::exists(dir / "merges.txt");
        if (vocab && merges) return from_files(dir / "vocab.json", dir / "merges.txt");
        if (vocab || merges)
            fail((dir / (vocab ? "merges.txt" : "vocab.json")).string(), ": missing (",
                 vocab ? "vocab.json" : "merges.txt", " is there; GPT-2 BPE needs both)");
        fail(dir.string(),
             ": no GPT-2 tokenizer files (expected tokenizer.json, or vocab.json and merges.txt)");
    }

    std::int32_t eos_id() const { return m_->eos_id; }
    std::string_view name() const { return "gpt2-bpe"; }
    // Number of ids (the vocabulary including added tokens): 50257 for GPT-2.
    std::int32_t vocab_size() const { return static_cast<std::int32_t>(m_->tokens.size()); }
    std::int32_t min_vocab_size() const { return vocab_size(); }
    std::size_t num_merges() const { return m_->num_merges; }
    // How many vocabulary tokens no merge makes (byte tokens, added tokens and <|endoftext|>
    // need none). Encoding reaches every other token only through a merge, so intact files
    // have none (GPT-2's: 0), while a merges.txt that is cut short or belongs to another
    // vocabulary leaves many: the caller may warn (the library prints nothing).
    std::size_t unreachable_tokens() const { return m_->unreachable; }
    // The vocabulary string (as in vocab.json, e.g. "Ġthe") of the lowest-id such token; ""
    // if none. Print it through detail::gpt2::show_token (it may hold any character).
    std::string unreachable_example() const { return m_->unreachable_example; }
    // The vocabulary string of an id (byte-level characters, e.g. "Ġthe"); "" if out of range.
    std::string_view token(std::int32_t id) const {
        return id >= 0 && id < vocab_size()
                   ? std::string_view(m_->tokens[static_cast<std::size_t>(id)])
                   : std::string_view();
    }
    std::optional<std::int32_t> token_id(std::string_view token) const {
        auto it = m_->ids.find(token);
        if (it == m_->ids.end()) return std::nullopt;
        return it->second;
    }

    std::vector<std::int32_t> encode(std::string_view text) const {
        std::vector<std::int32_t> ids;
        ids.reserve(text.size() / 3 + 1);
        encode_append(text, ids);
        return ids;
    }
    // encode(), appending to `out`.
    void encode_append(std::string_view text, std::vector<std::int32_t>& out) const {
        detail::gpt2::split_pieces(text, [&](std::string_view piece) { encode_piece(piece, out); });
    }

    std::string decode(std::span<const std::int32_t> ids) const {
        std::string out;
        for (auto id : ids) {
            if (id >= 0 && id < vocab_size())
                out += m_->bytes[static_cast<std::size_t>(id)];
            else
                out += "<|" + std::to_string(id) + "|>";
        }
        return out;
    }

private:
    struct Merge {
        std::int32_t rank;
        std::int32_t merged;  // the id of the concatenation
    };
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    using IdMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

    // (left id, right id) -> merge, by open addressing with linear probing: the lookup is the
    // inner loop of merging, and a flat table avoids std::unordered_map's bucket lists and
    // modulo.
    class MergeTable {
    public:
        void build(const std::unordered_map<std::uint64_t, Merge>& merges) {
            int bits = 4;
            while ((std::size_t{1} << bits) < 2 * merges.size()) ++bits;  // load factor <= 1/2
            shift_ = 64 - bits;
            mask_ = (std::size_t{1} << bits) - 1;
            slots_.assign(mask_ + 1, Slot{empty, Merge{}});
            for (const auto& [key, merge] : merges) {
                std::size_t i = slot_of(key);
                while (slots_[i].key != empty) i = (i + 1) & mask_;
                slots_[i] = Slot{key, merge};
            }
        }
        const Merge* find(std::uint64_t key) const {
            for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
                if (slots_[i].key == key) return &slots_[i].merge;
                if (slots_[i].key == empty) return nullptr;
            }
        }

    private:
        static constexpr std::uint64_t empty = ~std::uint64_t{0};  // ids are < 2^31: never a key
        struct Slot {
            std::uint64_t key;
            Merge merge;
        };
        // Fibonacci hashing: the top bits of key * 2^64/phi.
        std::size_t slot_of(std::uint64_t key) const {
            return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
        }
        std::vector<Slot> slots_;
        std::size_t mask_ = 0;
        int shift_ = 60;
    };

    // The immutable tables, shared by copies.
    struct Model {
        std::vector<std::string> tokens;  // id -> vocabulary string
        std::vector<std::string> bytes;   // id -> what decode() writes
        IdMap ids;                        // vocabulary string -> id
        std::array<std::int32_t, 256> byte_id{};
        MergeTable merges;
        std::size_t num_merges = 0;
        std::int32_t eos_id = -1;
        std::size_t unreachable = 0;  // see unreachable_tokens()
        std::string unreachable_example;
    };
    struct Cache {
        std::mutex mutex;
        std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, std::equal_to<>>
            pieces;
    };

    // Collects the vocabulary and merges of either file layout and checks them.
    class Builder {
    public:
        // `prefix` goes before "token ..." in messages ("field 'model.vocab': ").
        void add_vocab(const nlohmann::json& vocab, const std::string& file,
                       const std::string& prefix) {
            for (const auto& [token, value] : vocab.items()) {
                if (!value.is_number_integer())
                    fail(file, ": ", prefix, "token ", detail::gpt2::show_token(token),
                         ": expected an integer id, got ", json_describe(value));
                add(token, value.get<std::int64_t>(),
                    file + ": " + prefix + "token " + detail::gpt2::show_token(token), false);
            }
        }
        void add_added_token(const std::string& content, std::int64_t id,
                             const std::string& where) {
            add(content, id, where, true);
        }

        // Checks that the ids are 0..V-1, one token each, and builds the id tables.
        void finish_vocab(const std::string& file) {
            auto& m = *m_;
            std::int64_t max_id = -1;
            for (const auto& e : entries_) max_id = std::max(max_id, e.id);
            if (max_id < 0) fail(file, ": the vocabulary is empty");
            if (static_cast<std::size_t>(max_id) >= entries_.size()) {
                // Fewer entries than ids: there is a gap. Find it without allocating tables
                // for the largest id (a one-line file may claim an id of 2^30).
                std::vector<std::int64_t> ids;
                for (const auto& e : entries_) ids.push_back(e.id);
                std::sort(ids.begin(), ids.end());
                ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
                std::int64_t gap = 0;
                while (static_cast<std::size_t>(gap) < ids.size() && ids[static_cast<std::size_t>(gap)] == gap) ++gap;
                fail(file, ": no token has id ", gap, " (ids must be 0..V-1 without gaps; the largest is ", max_id, ")");
            }
            m.tokens.assign(static_cast<std::size_t>(max_id + 1), std::string());
            m.bytes.assign(m.tokens.size(), std::string());
            std::vector<const Entry*> owner(m.tokens.size(), nullptr);
            for (const auto& e : entries_) {
                const auto id = static_cast<std::size_t>(e.id);
                if (owner[id] && owner[id]->token != e.token)
                    fail(e.where, ": id ", e.id, " is already the id of ",
                         detail::gpt2::show_token(owner[id]->token),
                         " (every id must name one token)");
                if (!owner[id] || e.added) {  // an added token may restate a vocabulary entry
                    owner[id] = &e;
                    m.tokens[id] = e.token;
                    m.bytes[id] = e.added ? e.token : token_bytes(e.token);
                }
            }
            needs_merge_.assign(owner.size(), false);
            for (std::size_t id = 0; id < owner.size(); ++id) {
                if (!owner[id])
                    fail(file, ": no token has id ", id,
                         " (ids must be 0..V-1 without gaps; the largest is ", max_id, ")");
                needs_merge_[id] = !owner[id]->added;
            }
            for (std::size_t id = 0; id < m.tokens.size(); ++id) {
                auto [it, fresh] = m.ids.emplace(m.tokens[id], static_cast<std::int32_t>(id));
                if (!fresh)
                    fail(file, ": token ", detail::gpt2::show_token(m.tokens[id]), " has two ids, ",
                         it->second, " and ", id);
            }
            for (int b = 0; b < 256; ++b) {
                std::string s;
                detail::append_utf8(
                    s, detail::gpt2::byte_chars.of_byte[static_cast<std::size_t>(b)]);
                auto it = m.ids.find(s);
                if (it == m.ids.end())
                    fail(file, ": no token for byte ", b, " (", detail::gpt2::show_token(s),
                         "): a byte-level vocabulary has one for each of the 256 bytes");
                m.byte_id[static_cast<std::size_t>(b)] = it->second;
                needs_merge_[static_cast<std::size_t>(it->second)] = false;
            }
            auto eos = m.ids.find(eos_text);
            if (eos == m.ids.end())
                fail(file, ": no token \"", eos_text,
                     "\" (the end-of-sequence token of GPT-2 models)");
            m.eos_id = eos->second;
            needs_merge_[static_cast<std::size_t>(m.eos_id)] = false;
        }

        // One merge, rank = the number of merges before it. A pair listed twice keeps the rank
        // of its last listing (what encoder.py's dict and Hugging Face do).
        template <class Where>
        void add_merge(std::string_view a, std::string_view b, Where where) {
            auto& m = *m_;
            const auto id_of = [&](std::string_view t, const char* what) {
                auto it = m.ids.find(t);
                if (it == m.ids.end())
                    fail(where(), ": the ", what, " ", detail::gpt2::show_token(t),
                         " is not in the vocabulary");
                return it->second;
            };
            const std::int32_t left = id_of(a, "left part"), right = id_of(b, "right part");
            std::string joined;
            joined.reserve(a.size() + b.size());
            joined.append(a).append(b);
            const std::int32_t merged = id_of(joined, "merged token");
            const auto rank = static_cast<std::int32_t>(m.num_merges++);
            merges_[pair_key(left, right)] = Merge{rank, merged};
            needs_merge_[static_cast<std::size_t>(merged)] = false;
        }

        Gpt2Bpe finish(const std::string& file) {
            auto& m = *m_;
            if (m.num_merges == 0) fail(file, ": no merges (a BPE tokenizer needs them)");
            m.merges.build(merges_);
            m.unreachable = static_cast<std::size_t>(std::count(needs_merge_.begin(), needs_merge_.end(), true));
            if (const auto first = std::find(needs_merge_.begin(), needs_merge_.end(), true); first != needs_merge_.end())
                m.unreachable_example = m.tokens[static_cast<std::size_t>(first - needs_merge_.begin())];
            return Gpt2Bpe(std::move(m_));
        }

    private:
        struct Entry {
            std::string token;
            std::int64_t id;
            std::string where;
            bool added;
        };
        void add(const std::string& token, std::int64_t id, std::string where, bool added) {
            if (id < 0 || id > std::int64_t{1} << 30)
                fail(where, ": id ", id, " is outside [0, 2^30]");
            entries_.push_back(Entry{token, id, std::move(where), added});
        }
        // A vocabulary string's bytes: each character is one byte's (bytes_to_unicode). A
        // token with other characters is not byte-level (a special token such as "<|x|>" is,
        // since its characters are printable ASCII) and decodes as its own UTF-8 text.
        static std::string token_bytes(const std::string& token) {
            std::string out;
            for (std::size_t i = 0, len = 0; i < token.size(); i += len) {
                const char32_t c = detail::decode_utf8(token, i, len);
                if (c >= detail::gpt2::byte_chars.byte_of.size() ||
                    detail::gpt2::byte_chars.byte_of[c] < 0)
                    return token;
                out.push_back(static_cast<char>(detail::gpt2::byte_chars.byte_of[c]));
            }
            return out;
        }

        std::vector<Entry> entries_;
        std::unordered_map<std::uint64_t, Merge> merges_;
        // Per id: no merge has made the token yet, and it is not one that needs none (a byte,
        // an added token, <|endoftext|>).
        std::vector<bool> needs_merge_;
        std::shared_ptr<Model> m_ = std::make_shared<Model>();
    };

    explicit Gpt2Bpe(std::shared_ptr<const Model> m)
        : m_(std::move(m)), cache_(std::make_shared<Cache>()) {}

    static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
               static_cast<std::uint32_t>(right);
    }
    const Merge* find_merge(std::int32_t left, std::int32_t right) const {
        return m_->merges.find(pair_key(left, right));
    }

    void encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
        if (piece.size() == 1) {
            out.push_back(m_->byte_id[static_cast<unsigned char>(piece[0])]);
            return;
        }
        const bool cacheable = piece.size() <= cache_max_piece;
        if (cacheable) {
            std::lock_guard lock(cache_->mutex);
            auto it = cache_->pieces.find(piece);
            if (it != cache_->pieces.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        const std::size_t first = out.size();
        merge_piece(piece, out);
        if (cacheable) {
            std::lock_guard lock(cache_->mutex);
            if (cache_->pieces.size() >= cache_max_entries) cache_->pieces.clear();
            cache_->pieces.emplace(
                std::string(piece),
                std::vector<std::int32_t>(out.begin() + static_cast<std::ptrdiff_t>(first),
                                          out.end()));
        }
    }

    // encoder.py's bpe(): repeatedly take the adjacent pair with the lowest merge rank and
    // merge every occurrence of it, left to right without overlaps ("a a a" -> "aa a"), until
    // no adjacent pair has a rank. Done here with a heap of candidate pairs (rank, position)
    // over a linked list of symbols, so a long piece costs O(n log n), not O(n^2). A "round"
    // takes every heap entry of the lowest rank in position order, which is exactly one pass
    // of encoder.py; the pairs that its merges create wait until the round ends, as they do
    // in encoder.py (they hold the new token, so their rank differs from the round's).
    struct Candidate {
        std::int32_t rank;
        std::uint32_t pos;  // byte offset of the left symbol (a symbol's offset never moves)
        std::int32_t left, right, merged;
    };
    // merge_piece's arrays, kept per thread so that encoding does not allocate per piece.
    struct Scratch {
        std::vector<std::int32_t> id;           // symbol starting at each byte; -1: merged away
        std::vector<std::uint32_t> next, prev;  // the linked list of live symbols
        std::vector<Candidate> heap, created;
    };

    void merge_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
        // Lowest rank first, then leftmost (std heaps put the largest on top).
        const auto later = [](const Candidate& x, const Candidate& y) {
            return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
        };
        const std::size_t n = piece.size();
        constexpr std::uint32_t none = 0xFFFFFFFF;
        static thread_local Scratch scratch;
        // (Named references, not a structured binding: lambdas cannot capture those before
        // clang 16.)
        auto& id = scratch.id;
        auto& next = scratch.next;
        auto& prev = scratch.prev;
        auto& heap = scratch.heap;
        auto& created = scratch.created;
        id.resize(n);
        next.resize(n);
        prev.resize(n);
        heap.clear();
        created.clear();
        for (std::size_t k = 0; k < n; ++k) {
            id[k] = m_->byte_id[static_cast<unsigned char>(piece[k])];
            next[k] = k + 1 < n ? static_cast<std::uint32_t>(k + 1) : none;
            prev[k] = k > 0 ? static_cast<std::uint32_t>(k - 1) : none;
        }
        const auto consider = [&](std::uint32_t pos, std::vector<Candidate>& into) {
            const std::uint32_t q = next[pos];
            if (const Merge* mg = find_merge(id[pos], id[q]))
                into.push_back(Candidate{mg->rank, pos, id[pos], id[q], mg->merged});
        };
        for (std::uint32_t k = 0; k + 1 < n; ++k) consider(k, heap);
        std::make_heap(heap.begin(), heap.end(), later);
        while (!heap.empty()) {
            const std::int32_t round = heap.front().rank;
            while (!heap.empty() && heap.front().rank == round) {
                std::pop_heap(heap.begin(), heap.end(), later);
                const Candidate c = heap.back();
                heap.pop_back();
                // Stale if either symbol has changed since the pair was seen: a symbol only
                // ever grows, so its id never returns to an earlier value. Symbols merged
                // away are unlinked, and their id is set to -1.
                const std::uint32_t q = next[c.pos];
                if (id[c.pos] != c.left || q == none || id[q] != c.right) continue;
                id[c.pos] = c.merged;
                id[q] = -1;
                next[c.pos] = next[q];
                if (next[q] != none) prev[next[q]] = c.pos;
                if (prev[c.pos] != none) consider(prev[c.pos], created);
                if (next[c.pos] != none) consider(c.pos, created);
            }
            for (const auto& c : created) {
                heap.push_back(c);
                std::push_heap(heap.begin(), heap.end(), later);
            }
            created.clear();
        }
        for (std::uint32_t k = 0; k != none; k = next[k]) out.push_back(id[k]);
    }

    std::shared_ptr<const Model> m_;
    std::shared_ptr<Cache> cache_;
};
static_assert(Tokenizer<Gpt2Bpe>);

}  // namespace tokclean
