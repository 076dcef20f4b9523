#pragma once
// tokenizer.json's "normalizer": NFC, NFKC, NFD, NFKD, Prepend, Replace (a string or a
// regex), Sequence, or null, applied as Hugging Face tokenizers applies them to
// each stretch of text between added tokens. Other types are refused by name.
#include <memory>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/hf/regex.hpp"
#include "tokclean/data/unicode_normalization.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean::hf {

// `where` of a tokenizer.json field: "tokenizer.json: field 'normalizer.normalizers'[1]".
inline std::string field_where(const std::string& file, const std::string& field) {
    return file + ": field '" + field + "'";
}

// The string of a {"String": s} or {"Regex": r} pattern object; `is_regex` says which.
inline std::string pattern_of(const nlohmann::json& pattern, const std::string& where, bool& is_regex) {
    if (pattern.is_object() && pattern.size() == 1) {
        if (const auto* s = find_field(pattern, "String"); s && s->is_string()) {
            is_regex = false;
            return s->get<std::string>();
        }
        if (const auto* r = find_field(pattern, "Regex"); r && r->is_string()) {
            is_regex = true;
            return r->get<std::string>();
        }
    }
    fail(where, ": expected {\"String\": ...} or {\"Regex\": ...}, got ", json_describe(pattern));
}

// Calls on_match(begin, end) for each non-overlapping occurrence of `needle`, left to right.
template <class OnMatch>
void for_each_occurrence(std::string_view text, std::string_view needle, OnMatch&& on_match) {
    if (needle.empty()) return;
    for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + needle.size()))
        on_match(at, at + needle.size());
}

class Normalizer {
public:
    Normalizer() = default;  // null: the identity

    static Normalizer from_json(const nlohmann::json* j, const std::string& file) {
        Normalizer n;
        if (j && !j->is_null()) n.add(*j, file, "normalizer");
        return n;
    }

    bool identity() const { return steps_.empty(); }

    std::string apply(std::string_view text) const {
        std::string s(text);
        for (const auto& step : steps_) s = step.apply(s);
        return s;
    }

private:
    struct Step {
        enum Kind { nfc, nfkc, nfd, nfkd, prepend, replace } kind;
        explicit Step(Kind k, std::string a_ = {}, std::string b_ = {}) : kind(k), a(std::move(a_)), b(std::move(b_)) {}
        std::string a, b;               // prepend: a; replace: a -> b
        std::shared_ptr<Regex> regex;   // replace by regex
        std::string apply(std::string_view s) const {
            switch (kind) {
                case nfc: return tokclean::nfc(s);
                case nfkc: return tokclean::nfkc(s);
                case nfd: return tokclean::nfd(s);
                case nfkd: return tokclean::nfkd(s);
                case prepend: return s.empty() ? std::string() : a + std::string(s);
                case replace: {
                    std::string out;
                    std::size_t prev = 0;
                    const auto put = [&](std::size_t begin, std::size_t end) {
                        out.append(s.substr(prev, begin - prev)).append(b);
                        prev = end;
                    };
                    if (regex) regex->for_each_match(s, put);
                    else for_each_occurrence(s, a, put);
                    out.append(s.substr(prev));
                    return out;
                }
            }
            return std::string(s);
        }
    };

    void add(const nlohmann::json& j, const std::string& file, const std::string& field) {
        const std::string where = field_where(file, field);
        if (!j.is_object()) fail(where, ": expected an object, got ", json_describe(j));
        const std::string type = require_string(j, "type", JsonWhere{where});
        if (type == "Sequence") {
            const auto& list = require_field(j, "normalizers", JsonWhere{where});
            if (!list.is_array()) fail(field_where(file, field + ".normalizers"), ": expected an array, got ", json_describe(list));
            for (std::size_t k = 0; k < list.size(); ++k)
                add(list[k], file, field + ".normalizers[" + std::to_string(k) + "]");
        } else if (type == "NFC") {
            steps_.emplace_back(Step::nfc);
        } else if (type == "NFKC") {
            steps_.emplace_back(Step::nfkc);
        } else if (type == "NFD") {
            steps_.emplace_back(Step::nfd);
        } else if (type == "NFKD") {
            steps_.emplace_back(Step::nfkd);
        } else if (type == "Prepend") {
            steps_.emplace_back(Step::prepend, require_string(j, "prepend", JsonWhere{where}));
        } else if (type == "Replace") {
            bool is_regex = false;
            const std::string pattern =
                pattern_of(require_field(j, "pattern", JsonWhere{where}), field_where(file, field + ".pattern"), is_regex);
            Step s{Step::replace, pattern, require_string(j, "content", JsonWhere{where})};
            if (is_regex) s.regex = std::make_shared<Regex>(pattern, field_where(file, field + ".pattern.Regex"));
            steps_.push_back(std::move(s));
        } else {
            fail(where, ": normalizer \"", type,
                 "\" is not supported (tokclean reads NFC, NFKC, NFD, NFKD, Prepend, Replace and Sequence)");
        }
    }

    std::vector<Step> steps_;
};

}  // namespace tokclean::hf
