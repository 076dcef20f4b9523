#pragma once
// tokenizer.json's "model" of type BPE, encoding one pre-tokenized piece as Hugging Face
// tokenizers does: each character (for a ByteLevel piece, each byte's character) becomes its
// vocabulary token; a character with none becomes its <0xNN> byte tokens (byte_fallback) or
// unk_token (consecutive ones fused into one with fuse_unk) and is an error without either;
// then the adjacent pair of lowest merge rank is merged (the leftmost of equal ones), and
// again, until no adjacent pair has a merge. With ignore_merges, a piece that is itself a
// vocabulary token is that token.
//   - merges as "a b" strings or ["a", "b"] pairs; a pair listed twice keeps the rank of its last listing (as
//     tokenizers' merge map does).
//   - Refused: dropout, a non-empty continuing_subword_prefix or end_of_word_suffix.
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/gpt2_bpe.hpp"  // detail::gpt2::byte_chars, show_token
#include "tokclean/data/hf/normalizer.hpp"  // field_where
#include "tokclean/data/hf/piece.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/utf8.hpp"

namespace tokclean::hf {

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

// The string a ByteLevel piece's bytes stand for in the vocabulary ("Ġthe" for " the").
inline std::string byte_level_string(std::string_view bytes) {
    std::string s;
    s.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) tokclean::detail::append_utf8(s, tokclean::detail::gpt2::byte_chars.of_byte[b]);
    return s;
}

class BpeModel {
public:
    // model: the "model" object; vocab: its "vocab" with the added tokens already in it (the
    // caller checks ids). `file` names tokenizer.json in errors.
    static BpeModel from_json(const nlohmann::json& model, TokenIds vocab, const std::string& file) {
        const std::string field = "model";
        const JsonWhere w{field_where(file, field)};
        BpeModel m;
        m.vocab_ = std::move(vocab);
        if (const auto* d = find_field(model, "dropout"); d && !d->is_null())
            fail(field_where(file, field + ".dropout"), ": BPE dropout is not supported (encoding would be random)");
        for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (const auto* a = find_field(model, affix); a && !a->is_null() && !(a->is_string() && a->get<std::string>().empty()))
                fail(field_where(file, field + "." + affix), ": not supported (only null or \"\")");
        m.byte_fallback_ = optional_bool(model, "byte_fallback", false, w);
        m.fuse_unk_ = optional_bool(model, "fuse_unk", false, w);
        m.ignore_merges_ = optional_bool(model, "ignore_merges", false, w);
        if (const auto* u = find_field(model, "unk_token"); u && !u->is_null()) {
            if (!u->is_string()) fail(field_where(file, field + ".unk_token"), ": expected a string or null, got ", json_describe(*u));
            const auto it = m.vocab_.find(u->get<std::string>());
            if (it == m.vocab_.end())
                fail(field_where(file, field + ".unk_token"), ": ", tokclean::detail::gpt2::show_token(u->get<std::string>()), " is not in the vocabulary");
            m.unk_id_ = it->second;
        }
        for (int b = 0; b < 256; ++b) {
            const auto byte_char = m.vocab_.find(byte_level_string(std::string(1, static_cast<char>(b))));
            m.byte_level_id_[static_cast<std::size_t>(b)] = byte_char == m.vocab_.end() ? -1 : byte_char->second;
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            const auto fallback = m.vocab_.find(std::string_view(name));
            m.fallback_id_[static_cast<std::size_t>(b)] = fallback == m.vocab_.end() ? -1 : fallback->second;
        }
        const auto& merges = require_field(model, "merges", w);
        if (!merges.is_array()) fail(field_where(file, field + ".merges"), ": expected an array, got ", json_describe(merges));
        std::int32_t rank = 0;
        for (std::size_t k = 0; k < merges.size(); ++k) {
            const auto& mg = merges[k];
            const auto place = [&] { return field_where(file, field + ".merges[" + std::to_string(k) + "]"); };
            std::string a, b;
            if (mg.is_string()) {
                const std::string s = mg.get<std::string>();
                const std::size_t space = s.find(' ');
                if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
                    fail(place(), ": expected \"left right\" (two tokens and one space), got ", json_describe(mg));
                a = s.substr(0, space);
                b = s.substr(space + 1);
            } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
                a = mg[0].get<std::string>();
                b = mg[1].get<std::string>();
            } else {
                fail(place(), ": expected \"left right\" or [\"left\", \"right\"], got ", json_describe(mg));
            }
            const auto id_of = [&](const std::string& t, const char* what) {
                const auto it = m.vocab_.find(t);
                if (it == m.vocab_.end())
                    fail(place(), ": the ", what, " ", tokclean::detail::gpt2::show_token(t), " is not in the vocabulary");
                return it->second;
            };
            const std::int32_t left = id_of(a, "left part"), right = id_of(b, "right part");
            const std::int32_t merged = id_of(a + b, "merged token");
            m.merges_[pair_key(left, right)] = Merge{rank++, merged};  // the last listing wins
        }
        return m;
    }

    const TokenIds& vocab() const { return vocab_; }

    // Appends the ids of one piece.
    void encode(const Piece& p, std::vector<std::int32_t>& out) const {
        if (ignore_merges_) {
            const auto it = p.byte_level ? vocab_.find(byte_level_string(p.text)) : vocab_.find(p.text);
            if (it != vocab_.end()) {
                out.push_back(it->second);
                return;
            }
        }
        thread_local std::vector<std::int32_t> symbols;
        symbols.clear();
        initial_symbols(p, symbols);
        merge(symbols);
        out.insert(out.end(), symbols.begin(), symbols.end());
    }

private:
    struct Merge {
        std::int32_t rank;
        std::int32_t merged;
    };
    static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
    }

    void initial_symbols(const Piece& p, std::vector<std::int32_t>& symbols) const {
        bool last_was_unk = false;
        const auto unknown = [&](std::string_view ch) {
            if (byte_fallback_) {
                bool all = true;
                for (unsigned char b : ch) all = all && fallback_id_[b] >= 0;
                if (all) {
                    for (unsigned char b : ch) symbols.push_back(fallback_id_[b]);
                    last_was_unk = false;
                    return;
                }
            }
            if (unk_id_ < 0)
                fail("tokenizer: the character ", tokclean::detail::gpt2::show_token(std::string(ch)),
                     " is not in the vocabulary and the model has no unk_token or byte_fallback");
            if (!(fuse_unk_ && last_was_unk)) symbols.push_back(unk_id_);
            last_was_unk = true;
        };
        if (p.byte_level) {
            for (unsigned char b : p.text) {
                const std::int32_t id = byte_level_id_[b];
                if (id >= 0) {
                    symbols.push_back(id);
                    last_was_unk = false;
                } else {
                    unknown(byte_level_string(std::string(1, static_cast<char>(b))));
                }
            }
            return;
        }
        for (std::size_t i = 0, len = 0; i < p.text.size(); i += len) {
            (void)tokclean::detail::decode_utf8(p.text, i, len);
            const std::string_view ch(p.text.data() + i, len);
            const auto it = vocab_.find(ch);
            if (it != vocab_.end()) {
                symbols.push_back(it->second);
                last_was_unk = false;
            } else {
                unknown(ch);
            }
        }
    }

    // tokenizers' Word::merge_all: a heap of (rank, position) over a linked list of symbols;
    // a merge's new pairs join the heap at once. O(n log n) for a piece of n symbols.
    void merge(std::vector<std::int32_t>& symbols) const {
        const std::size_t n = symbols.size();
        if (n < 2) return;
        struct Candidate {
            std::int32_t rank;
            std::uint32_t pos;
            std::int32_t left, right, merged;
        };
        const auto later = [](const Candidate& x, const Candidate& y) {
            return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
        };
        constexpr std::uint32_t none = 0xFFFFFFFF;
        thread_local std::vector<std::uint32_t> next, prev;
        thread_local std::vector<Candidate> heap;
        next.resize(n);
        prev.resize(n);
        heap.clear();
        for (std::size_t k = 0; k < n; ++k) {
            next[k] = k + 1 < n ? static_cast<std::uint32_t>(k + 1) : none;
            prev[k] = k > 0 ? static_cast<std::uint32_t>(k - 1) : none;
        }
        const auto consider = [&](std::uint32_t pos) {
            const std::uint32_t q = next[pos];
            const auto it = merges_.find(pair_key(symbols[pos], symbols[q]));
            if (it != merges_.end()) {
                heap.push_back(Candidate{it->second.rank, pos, symbols[pos], symbols[q], it->second.merged});
                std::push_heap(heap.begin(), heap.end(), later);
            }
        };
        for (std::uint32_t k = 0; k + 1 < n; ++k) consider(k);
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), later);
            const Candidate c = heap.back();
            heap.pop_back();
            const std::uint32_t q = next[c.pos];
            // Stale if either symbol changed since the pair was seen (merged away: id -1).
            if (symbols[c.pos] != c.left || q == none || symbols[q] != c.right) continue;
            symbols[c.pos] = c.merged;
            symbols[q] = -1;
            next[c.pos] = next[q];
            if (next[q] != none) prev[next[q]] = c.pos;
            if (prev[c.pos] != none) consider(prev[c.pos]);
            if (next[c.pos] != none) consider(c.pos);
        }
        std::size_t w = 0;
        for (std::uint32_t k = 0; k != none; k = next[k]) symbols[w++] = symbols[k];
        symbols.resize(w);
    }

    TokenIds vocab_;
    std::unordered_map<std::uint64_t, Merge> merges_;
    std::array<std::int32_t, 256> byte_level_id_{};  // a ByteLevel byte's token, -1 if none
    std::array<std::int32_t, 256> fallback_id_{};    // <0xNN>, -1 if none
    std::int32_t unk_id_ = -1;
    bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
};

}  // namespace tokclean::hf
