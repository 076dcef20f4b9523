#pragma once
// tokenizer.json's "decoder": ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace and
// Sequence, or null (tokens joined with spaces, as tokenizers does), each applied to the list of token strings as
// Hugging Face tokenizers' decode_chain does. One difference, on purpose: ByteLevel gives
// the bytes as they are, where tokenizers replaces a broken UTF-8 sequence (half an emoji at
// the end of a generation) with U+FFFD; so decode() never loses bytes. Other types are
// refused by name.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/gpt2_bpe.hpp"  // detail::gpt2::byte_chars
#include "tokclean/data/hf/normalizer.hpp"  // field_where, pattern_of, for_each_occurrence
#include "tokclean/data/hf/regex.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/utf8.hpp"

namespace tokclean::hf {

class Decoder {
public:
    Decoder() = default;

    static Decoder from_json(const nlohmann::json* j, const std::string& file) {
        Decoder d;
        if (j && !j->is_null()) d.add(*j, file, "decoder");
        return d;
    }

    std::string decode(std::vector<std::string> tokens) const {
        for (const auto& step : steps_) tokens = step.apply(std::move(tokens));
        std::string out;
        for (std::size_t k = 0; k < tokens.size(); ++k) {
            if (k > 0 && steps_.empty()) out += ' ';  // no decoder: the tokens, space-separated
            out += tokens[k];
        }
        return out;
    }

private:
    struct Step {
        enum Kind { byte_level, metaspace, byte_fallback, fuse, strip, replace } kind;
        std::string a, b;              // metaspace: a = replacement; replace: a -> b; strip: a = content
        std::shared_ptr<Regex> regex;  // replace by regex
        bool prepend = true;           // metaspace: prepend_scheme is not "never"
        std::size_t start = 0, stop = 0;  // strip

        std::vector<std::string> apply(std::vector<std::string> tokens) const {
            switch (kind) {
                case byte_level: {
                    std::string bytes;
                    for (const auto& t : tokens) bytes += byte_level_bytes(t);
                    return {std::move(bytes)};
                }
                case metaspace:  // every replacement character becomes a space, except in
                                 // the first token, where they go (tokenizers' rule)
                    for (std::size_t i = 0; i < tokens.size(); ++i) {
                        std::string s;
                        for_each_piece(tokens[i], a, [&](std::string_view piece, bool is_match) {
                            if (!is_match) s += piece;
                            else if (!(i == 0 && prepend)) s += ' ';
                        });
                        tokens[i] = std::move(s);
                    }
                    return tokens;
                case byte_fallback: return fallback(std::move(tokens));
                case fuse: {
                    std::string all;
                    for (const auto& t : tokens) all += t;
                    return {std::move(all)};
                }
                case strip:
                    for (auto& t : tokens) t = strip_token(t);
                    return tokens;
                case replace:
                    for (auto& t : tokens) {
                        std::string s;
                        std::size_t prev = 0;
                        const auto put = [&](std::size_t begin, std::size_t end) {
                            s.append(t, prev, begin - prev).append(b);
                            prev = end;
                        };
                        if (regex) regex->for_each_match(t, put);
                        else for_each_occurrence(t, a, put);
                        s.append(t, prev);
                        t = std::move(s);
                    }
                    return tokens;
            }
            return tokens;
        }

        template <class F>
        static void for_each_piece(std::string_view s, std::string_view sep, F&& f) {
            std::size_t prev = 0;
            for_each_occurrence(s, sep, [&](std::size_t begin, std::size_t end) {
                if (begin > prev) f(s.substr(prev, begin - prev), false);
                f(s.substr(begin, end - begin), true);
                prev = end;
            });
            if (prev < s.size()) f(s.substr(prev), false);
        }

        // A token's bytes if every character is a byte's (bytes_to_unicode), else its text.
        static std::string byte_level_bytes(const std::string& t) {
            std::string out;
            const auto& table = tokclean::detail::gpt2::byte_chars;
            for (std::size_t i = 0, len = 0; i < t.size(); i += len) {
                const char32_t c = tokclean::detail::decode_utf8(t, i, len);
                if (c >= table.byte_of.size() || table.byte_of[c] < 0) return t;
                out.push_back(static_cast<char>(table.byte_of[c]));
            }
            return out;
        }

        // Runs of <0xNN> tokens become their bytes if those are UTF-8, else one U+FFFD each.
        static std::vector<std::string> fallback(std::vector<std::string> tokens) {
            std::vector<std::string> out;
            std::string bytes;
            const auto flush = [&] {
                if (bytes.empty()) return;
                if (tokclean::detail::first_invalid_utf8(bytes) == std::string_view::npos) out.push_back(bytes);
                else
                    for (std::size_t k = 0; k < bytes.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
                bytes.clear();
            };
            for (auto& t : tokens) {
                if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
                    std::isxdigit(static_cast<unsigned char>(t[4]))) {
                    bytes.push_back(static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
                } else {
                    flush();
                    out.push_back(std::move(t));
                }
            }
            flush();
            return out;
        }

        // Up to `start` leading and `stop` trailing copies of the content character.
        std::string strip_token(const std::string& t) const {
            std::vector<std::size_t> starts;  // byte offset of each character
            for (std::size_t i = 0, len = 0; i < t.size(); i += len) {
                starts.push_back(i);
                (void)tokclean::detail::decode_utf8(t, i, len);
            }
            const auto char_at = [&](std::size_t k) {
                const std::size_t end = k + 1 < starts.size() ? starts[k + 1] : t.size();
                return std::string_view(t).substr(starts[k], end - starts[k]);
            };
            std::size_t first = 0, last = starts.size();
            while (first < start && first < last && char_at(first) == a) ++first;
            std::size_t cut = 0;
            while (cut < stop && last > first && char_at(last - 1) == a) --last, ++cut;
            if (first >= last) return {};
            const std::size_t end = last < starts.size() ? starts[last] : t.size();
            return t.substr(starts[first], end - starts[first]);
        }
    };

    void add(const nlohmann::json& j, const std::string& file, const std::string& field) {
        const std::string where = field_where(file, field);
        const JsonWhere w{where};
        if (!j.is_object()) fail(where, ": expected an object, got ", json_describe(j));
        const std::string type = require_string(j, "type", w);
        Step s{};
        if (type == "Sequence") {
            const auto& list = require_field(j, "decoders", w);
            if (!list.is_array()) fail(field_where(file, field + ".decoders"), ": expected an array, got ", json_describe(list));
            for (std::size_t k = 0; k < list.size(); ++k) add(list[k], file, field + ".decoders[" + std::to_string(k) + "]");
            return;
        }
        if (type == "ByteLevel") {
            s.kind = Step::byte_level;
        } else if (type == "Metaspace") {
            s.kind = Step::metaspace;
            s.a = optional_string(j, "replacement", "\u2581", w);
            if (find_field(j, "prepend_scheme")) s.prepend = require_string(j, "prepend_scheme", w) != "never";
            else s.prepend = optional_bool(j, "add_prefix_space", true, w);
        } else if (type == "ByteFallback") {
            s.kind = Step::byte_fallback;
        } else if (type == "Fuse") {
            s.kind = Step::fuse;
        } else if (type == "Strip") {
            s.kind = Step::strip;
            s.a = require_string(j, "content", w);
            std::size_t len = 0;
            if (s.a.empty() || (tokclean::detail::decode_utf8(s.a, 0, len), len != s.a.size()))
                fail(field_where(file, field + ".content"), ": expected one character, got ", json_describe(j.at("content")));
            s.start = static_cast<std::size_t>(std::max<std::int64_t>(0, require_int64(j, "start", w)));
            s.stop = static_cast<std::size_t>(std::max<std::int64_t>(0, require_int64(j, "stop", w)));
        } else if (type == "Replace") {
            s.kind = Step::replace;
            bool is_regex = false;
            s.a = pattern_of(require_field(j, "pattern", w), field_where(file, field + ".pattern"), is_regex);
            s.b = require_string(j, "content", w);
            if (is_regex) s.regex = std::make_shared<Regex>(s.a, field_where(file, field + ".pattern.Regex"));
        } else {
            fail(where, ": decoder \"", type,
                 "\" is not supported (tokclean reads ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace and Sequence)");
        }
        steps_.push_back(std::move(s));
    }

    std::vector<Step> steps_;
};

}  // namespace tokclean::hf
