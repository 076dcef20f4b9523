#pragma once
// tokenizer.json's "pre_tokenizer": Split (a regex or a string; behaviours Isolated, Removed,
// MergedWithPrevious, MergedWithNext, Contiguous; invert), ByteLevel (add_prefix_space,
// use_regex: GPT-2's pattern on data/hf/regex.hpp), Metaspace (replacement, prepend_scheme always / first / never,
// split), Digits (individual_digits) and Sequence, or null — with Hugging Face tokenizers'
// semantics. Each step maps every piece to the pieces it splits into; empty pieces are
// dropped. ByteLevel must come last (what follows it would see mapped characters, which
// tokclean does not build). Other types are refused by name.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/hf/normalizer.hpp"  // field_where, pattern_of, for_each_occurrence
#include "tokclean/data/hf/piece.hpp"
#include "tokclean/data/hf/regex.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean::hf {

class PreTokenizer {
public:
    PreTokenizer() = default;  // null: the text is one piece

    static PreTokenizer from_json(const nlohmann::json* j, const std::string& file) {
        PreTokenizer p;
        if (j && !j->is_null()) p.add(*j, file, "pre_tokenizer");
        return p;
    }

    // The pieces of one stretch of normalized text.
    std::vector<Piece> apply(Piece whole) const {
        std::vector<Piece> pieces;
        if (!whole.text.empty()) pieces.push_back(std::move(whole));
        for (const auto& step : steps_) {
            std::vector<Piece> next;
            next.reserve(pieces.size() * 2);
            for (auto& p : pieces) step.apply(std::move(p), next);
            pieces = std::move(next);
        }
        return pieces;
    }

private:
    enum class Behavior { isolated, removed, merged_with_previous, merged_with_next, contiguous };

    struct Step {
        enum Kind { split, byte_level, metaspace, digits } kind;
        std::shared_ptr<Regex> regex;  // split by regex
        std::string literal;           // split by string; metaspace: the replacement
        Behavior behavior = Behavior::isolated;
        bool invert = false;
        bool add_prefix_space = false, use_regex = true;  // byte_level
        enum class Prepend { always, first, never } prepend = Prepend::always;  // metaspace
        bool metaspace_split = true;
        bool individual_digits = false;  // digits

        void apply(Piece p, std::vector<Piece>& out) const {
            switch (kind) {
                case split: {
                    std::vector<Range> ranges;
                    if (regex) ranges = regex_matches(*regex, p.text);
                    else for_each_occurrence(p.text, literal, [&](std::size_t b, std::size_t e) { ranges.push_back({b, e, true}); });
                    emit(p, fill_gaps(std::move(ranges), p.text.size(), invert), behavior, out);
                    break;
                }
                case digits: {
                    std::vector<Range> ranges;
                    for (std::size_t i = 0, len = 0; i < p.text.size(); i += len) {
                        const char32_t c = tokclean::detail::decode_utf8(p.text, i, len);
                        if (c != tokclean::detail::invalid_code_point &&
                            tokclean::detail::unicode::char_class(c) == tokclean::detail::unicode::CharClass::number)
                            ranges.push_back({i, i + len, true});
                    }
                    emit(p, fill_gaps(std::move(ranges), p.text.size(), false),
                         individual_digits ? Behavior::isolated : Behavior::contiguous, out);
                    break;
                }
                case metaspace: {
                    std::string s;
                    s.reserve(p.text.size() + literal.size());
                    const bool prefix = prepend == Prepend::always || (prepend == Prepend::first && p.at_text_start);
                    if (prefix && p.text.compare(0, literal.size(), literal) != 0 && p.text.compare(0, 1, " ") != 0)
                        s += literal;
                    for (char c : p.text) {
                        if (c == ' ') s += literal;
                        else s += c;
                    }
                    p.text = std::move(s);
                    if (!metaspace_split) {
                        out.push_back(std::move(p));
                        break;
                    }
                    std::vector<Range> ranges;
                    for_each_occurrence(p.text, literal, [&](std::size_t b, std::size_t e) { ranges.push_back({b, e, true}); });
                    emit(p, fill_gaps(std::move(ranges), p.text.size(), false), Behavior::merged_with_next, out);
                    break;
                }
                case byte_level: {
                    if (add_prefix_space && p.text.compare(0, 1, " ") != 0) p.text.insert(0, 1, ' ');
                    if (!use_regex) {
                        p.byte_level = true;
                        out.push_back(std::move(p));
                        break;
                    }
                    p.byte_level = true;
                    emit(p, fill_gaps(regex_matches(gpt2_regex(), p.text), p.text.size(), false), Behavior::isolated, out);
                    break;
                }
            }
        }
    };

    struct Range {
        std::size_t begin, end;
        bool is_match;
    };

    static std::vector<Range> regex_matches(const Regex& re, std::string_view text) {
        std::vector<Range> ranges;
        re.for_each_match(text, [&](std::size_t b, std::size_t e) { ranges.push_back({b, e, true}); });
        return ranges;
    }

    // ByteLevel's use_regex: GPT-2's pattern, matched as the Rust library matches it.
    static const Regex& gpt2_regex() {
        static const Regex re(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
                              "ByteLevel's pattern");
        return re;
    }

    // The matches and the gaps between them, covering [0, size); with `invert`, the gaps are
    // the matches (tokenizers' Split invert).
    static std::vector<Range> fill_gaps(std::vector<Range> matches, std::size_t size, bool invert) {
        std::vector<Range> all;
        all.reserve(matches.size() * 2 + 1);
        std::size_t prev = 0;
        for (const auto& m : matches) {
            if (m.begin != prev) all.push_back({prev, m.begin, invert});
            all.push_back({m.begin, m.end, !invert});
            prev = m.end;
        }
        if (prev != size) all.push_back({prev, size, invert});
        return all;
    }

    // tokenizers' SplitDelimiterBehavior, applied to the ranges of one piece.
    static void emit(const Piece& p, const std::vector<Range>& ranges, Behavior behavior, std::vector<Piece>& out) {
        std::vector<std::pair<std::size_t, std::size_t>> spans;
        switch (behavior) {
            case Behavior::isolated:
                for (const auto& r : ranges) spans.emplace_back(r.begin, r.end);
                break;
            case Behavior::removed:
                for (const auto& r : ranges)
                    if (!r.is_match) spans.emplace_back(r.begin, r.end);
                break;
            case Behavior::merged_with_previous: {
                bool previous_match = false;
                for (const auto& r : ranges) {
                    if (r.is_match && !previous_match && !spans.empty()) spans.back().second = r.end;
                    else spans.emplace_back(r.begin, r.end);
                    previous_match = r.is_match;
                }
                break;
            }
            case Behavior::merged_with_next: {
                bool previous_match = false;  // walking from the end
                for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
                    if (it->is_match && !previous_match && !spans.empty()) spans.back().first = it->begin;
                    else spans.emplace_back(it->begin, it->end);
                    previous_match = it->is_match;
                }
                std::reverse(spans.begin(), spans.end());
                break;
            }
            case Behavior::contiguous: {
                int previous = -1;  // -1: none yet; else the last range's is_match
                for (const auto& r : ranges) {
                    if (previous == static_cast<int>(r.is_match)) spans.back().second = r.end;
                    else spans.emplace_back(r.begin, r.end);
                    previous = r.is_match;
                }
                break;
            }
        }
        for (const auto& [b, e] : spans)
            if (e > b) out.push_back(Piece{p.text.substr(b, e - b), p.byte_level, p.at_text_start && b == 0});
    }

    void add(const nlohmann::json& j, const std::string& file, const std::string& field) {
        const std::string where = field_where(file, field);
        const JsonWhere w{where};
        if (!j.is_object()) fail(where, ": expected an object, got ", json_describe(j));
        if (!steps_.empty() && steps_.back().kind == Step::byte_level)
            fail(where, ": a pre-tokenizer after ByteLevel is not supported (ByteLevel must come last)");
        const std::string type = require_string(j, "type", w);
        Step s{};
        if (type == "Sequence") {
            const auto& list = require_field(j, "pretokenizers", w);
            if (!list.is_array()) fail(field_where(file, field + ".pretokenizers"), ": expected an array, got ", json_describe(list));
            for (std::size_t k = 0; k < list.size(); ++k) add(list[k], file, field + ".pretokenizers[" + std::to_string(k) + "]");
            return;
        }
        if (type == "Split") {
            s.kind = Step::split;
            bool is_regex = false;
            const std::string pattern = pattern_of(require_field(j, "pattern", w), field_where(file, field + ".pattern"), is_regex);
            if (is_regex) s.regex = std::make_shared<Regex>(pattern, field_where(file, field + ".pattern.Regex"));
            else s.literal = pattern;
            const std::string b = require_string(j, "behavior", w);
            if (b == "Isolated") s.behavior = Behavior::isolated;
            else if (b == "Removed") s.behavior = Behavior::removed;
            else if (b == "MergedWithPrevious") s.behavior = Behavior::merged_with_previous;
            else if (b == "MergedWithNext") s.behavior = Behavior::merged_with_next;
            else if (b == "Contiguous") s.behavior = Behavior::contiguous;
            else fail(field_where(file, field + ".behavior"), ": expected Isolated, Removed, MergedWithPrevious, MergedWithNext or Contiguous, got \"", b, "\"");
            s.invert = optional_bool(j, "invert", false, w);
        } else if (type == "ByteLevel") {
            s.kind = Step::byte_level;
            s.add_prefix_space = optional_bool(j, "add_prefix_space", false, w);
            s.use_regex = optional_bool(j, "use_regex", true, w);
        } else if (type == "Metaspace") {
            s.kind = Step::metaspace;
            s.literal = optional_string(j, "replacement", "\u2581", w);
            if (s.literal.empty()) fail(field_where(file, field + ".replacement"), ": must not be empty");
            if (find_field(j, "prepend_scheme")) {
                const std::string scheme = require_string(j, "prepend_scheme", w);
                if (scheme == "always") s.prepend = Step::Prepend::always;
                else if (scheme == "first") s.prepend = Step::Prepend::first;
                else if (scheme == "never") s.prepend = Step::Prepend::never;
                else fail(field_where(file, field + ".prepend_scheme"), ": expected always, first or never, got \"", scheme, "\"");
            } else {  // the older form
                s.prepend = optional_bool(j, "add_prefix_space", true, w) ? Step::Prepend::always : Step::Prepend::never;
            }
            s.metaspace_split = optional_bool(j, "split", true, w);
        } else if (type == "Digits") {
            s.kind = Step::digits;
            s.individual_digits = optional_bool(j, "individual_digits", false, w);
        } else {
            fail(where, ": pre-tokenizer \"", type,
                 "\" is not supported (tokclean reads Split, ByteLevel, Metaspace, Digits and Sequence)");
        }
        steps_.push_back(std::move(s));
    }

    std::vector<Step> steps_;
};

}  // namespace tokclean::hf
