#pragma once
// tokenizer.json's "added_tokens" (special or not), found in the text before anything else
// runs, as Hugging Face tokenizers' AddedVocabulary finds them: first the tokens with
// normalized false in the raw text, then, in each stretch between those after the
// normalizer has run, the tokens with normalized true (their normalized content). Matching is
// leftmost-longest without overlaps; single_word drops a match that touches a letter or digit
// on either side; lstrip / rstrip take the whitespace (Unicode White_Space) on that side
// into the token. So
// "<|eot_id|>" typed in a text is that one token, as with transformers' tokenizer(text).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokclean/data/detail/unicode_tables.hpp"
#include "tokclean/data/hf/regex.hpp"  // is_white_space
#include "tokclean/io/utf8.hpp"

namespace tokclean::hf {

struct AddedToken {
    std::string content;
    std::int32_t id = 0;
    bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = false;
};

// One stretch of text: an added token's id, or plain text [begin, end).
struct Stretch {
    std::optional<std::int32_t> id;
    std::size_t begin = 0, end = 0;
};

class AddedTokenMatcher {
public:
    AddedTokenMatcher() = default;
    // patterns[k]: the string to find for tokens[k] (its content, or its normalized content).
    AddedTokenMatcher(std::vector<std::string> patterns, std::vector<AddedToken> tokens)
        : patterns_(std::move(patterns)), tokens_(std::move(tokens)) {
        for (std::size_t k = 0; k < patterns_.size(); ++k)
            if (!patterns_[k].empty()) by_first_byte_[static_cast<unsigned char>(patterns_[k][0])].push_back(k);
        for (auto& list : by_first_byte_)  // longest first: the first that fits is the longest
            std::stable_sort(list.begin(), list.end(), [&](std::size_t x, std::size_t y) { return patterns_[x].size() > patterns_[y].size(); });
    }

    bool empty() const { return patterns_.empty(); }

    std::vector<Stretch> split(std::string_view text) const {
        std::vector<Stretch> out;
        std::size_t done = 0;  // the end of the last stretch pushed
        std::size_t i = 0;
        while (i < text.size()) {
            const auto& candidates = by_first_byte_[static_cast<unsigned char>(text[i])];
            const std::size_t* hit = nullptr;
            for (const auto& k : candidates)
                if (text.compare(i, patterns_[k].size(), patterns_[k]) == 0) {
                    hit = &k;
                    break;
                }
            if (!hit) {
                ++i;
                continue;
            }
            const AddedToken& t = tokens_[*hit];
            std::size_t start = i, stop = i + patterns_[*hit].size();
            i = stop;  // the search goes on after the match, whether it is kept or not
            if (t.single_word && (touches_word_before(text, start) || touches_word_after(text, stop))) continue;
            if (t.lstrip) start = std::max(whitespace_run_before(text, start), done);
            if (t.rstrip) stop = whitespace_run_after(text, stop);
            if (done < start) out.push_back({std::nullopt, done, start});
            out.push_back({t.id, start, stop});
            done = stop;
            i = std::max(i, stop);
        }
        if (done < text.size()) out.push_back({std::nullopt, done, text.size()});
        return out;
    }

private:
    static bool word_char(char32_t c) {
        if (c == tokclean::detail::invalid_code_point) return false;
        const auto cls = tokclean::detail::unicode::char_class(c);
        return cls == tokclean::detail::unicode::CharClass::letter || cls == tokclean::detail::unicode::CharClass::number;
    }
    static bool space_char(char32_t c) { return is_white_space(c); }
    // The code point that ends at `end` and where it starts.
    static char32_t code_point_before(std::string_view s, std::size_t end, std::size_t& start) {
        start = end - 1;
        while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        std::size_t len = 0;
        const char32_t c = tokclean::detail::decode_utf8(s, start, len);
        if (start + len != end) {  // not a well-formed sequence: the last byte alone
            start = end - 1;
            return tokclean::detail::invalid_code_point;
        }
        return c;
    }
    static bool touches_word_before(std::string_view s, std::size_t at) {
        std::size_t start = 0;
        return at > 0 && word_char(code_point_before(s, at, start));
    }
    static bool touches_word_after(std::string_view s, std::size_t at) {
        std::size_t len = 0;
        return at < s.size() && word_char(tokclean::detail::decode_utf8(s, at, len));
    }
    static std::size_t whitespace_run_before(std::string_view s, std::size_t at) {
        std::size_t start = 0;
        while (at > 0 && space_char(code_point_before(s, at, start))) at = start;
        return at;
    }
    static std::size_t whitespace_run_after(std::string_view s, std::size_t at) {
        std::size_t len = 0;
        while (at < s.size() && space_char(tokclean::detail::decode_utf8(s, at, len))) at += len;
        return at;
    }

    std::vector<std::string> patterns_;
    std::vector<AddedToken> tokens_;
    std::vector<std::size_t> by_first_byte_[256];
};

}  // namespace tokclean::hf
