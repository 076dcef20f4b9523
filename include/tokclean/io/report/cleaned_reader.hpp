#pragma once
// Reading a cleaned file (`tokclean clean --with-scores` output) line by line: each line
// parsed and checked (ids, labels, scores, and the kinds file's line beside it), and the
// role of each position (context, target, kept, dropped, unscored target).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/utf8.hpp"

namespace tokclean::detail::report {

struct Line {
    std::size_t line = 0;
    std::vector<std::int32_t> ids, labels;
    std::vector<double> scores;  // NaN: not scored; empty: the file has no scores
    std::vector<std::string> kinds;  // one per token, or empty
};

inline std::vector<std::int32_t> read_ints(const nlohmann::json& v, std::string_view field, const JsonWhere& w,
                                           std::int64_t vocab_size, bool allow_ignore) {
    if (!v.is_array()) fail(w.str(), ": field '", field, "': expected an array of integers, got ", json_describe(v));
    std::vector<std::int32_t> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string name = "'" + std::string(field) + "'[" + std::to_string(i) + "]";
        const std::int64_t x = json_to_int(v[i], name, w);
        if (allow_ignore && x == ignore_label) {
            out.push_back(ignore_label);
            continue;
        }
        if (x < 0)
            fail(w.str(), ": field ", name, ": expected a token id", allow_ignore ? " or -100" : "", ", got ", x);
        if (vocab_size > 0 && x >= vocab_size)
            fail(w.str(), ": field ", name, ": token id ", x, " is >= vocab_size ", vocab_size);
        if (x > std::numeric_limits<std::int32_t>::max()) fail(w.str(), ": field ", name, ": ", x, " is too large");
        out.push_back(static_cast<std::int32_t>(x));
    }
    return out;
}

inline void require_entries(std::size_t got, std::size_t want, std::string_view field, const JsonWhere& w,
                            std::string_view unit = "entries") {
    if (got != want)
        fail(w.str(), ": field '", field, "': expected ", want, " ", unit, " (one per input id), got ", got);
}

// parse_json, with nlohmann's other parse-time errors (a number too large for a double:
// "1e999") turned into the same one-line form.
inline nlohmann::json parse_line_json(std::string_view text, const JsonWhere& w) {
    try {
        return parse_json(text, w);
    } catch (const nlohmann::json::exception& e) {
        std::string what = e.what();
        if (auto p = what.find("] "); p != std::string::npos && what.starts_with("[json.exception")) what.erase(0, p + 2);
        fail(w.str(), ": not valid JSON: ", tokclean::detail::one_line(what));
    }
}

// Parses and checks one data line. `scores_mode`: -1 unknown (first line), 0 none, 1 present.
inline Line parse_line(std::string_view text, const JsonWhere& w, int& scores_mode, std::size_t& first_line,
                       std::int64_t vocab_size) {
    const nlohmann::json obj = parse_line_json(text, w);
    require_object(obj, w);
    Line l;
    l.line = w.line;
    l.ids = read_ints(require_field(obj, "input_ids", w), "input_ids", w, vocab_size, false);
    if (l.ids.empty()) fail(w.str(), ": field 'input_ids': empty sequence");
    if (const auto* labels = find_field(obj, "labels")) {
        l.labels = read_ints(*labels, "labels", w, vocab_size, true);
        require_entries(l.labels.size(), l.ids.size(), "labels", w);
    } else {
        l.labels = l.ids;
    }
    const auto it = obj.find("scores");
    const bool has = it != obj.end();
    if (scores_mode < 0) {
        scores_mode = has ? 1 : 0;
        first_line = w.line;
    } else if (has != (scores_mode == 1)) {
        fail(w.str(), ": field 'scores': ", has ? "present, but line " : "missing, but line ", first_line,
             has ? " has none" : " has it", " (every line needs scores, or none)");
    }
    if (has) {
        const auto& v = *it;
        if (!v.is_array())
            fail(w.str(), ": field 'scores': expected an array of numbers and nulls, got ", json_describe(v));
        require_entries(v.size(), l.ids.size(), "scores", w);
        l.scores.resize(v.size());
        for (std::size_t j = 0; j < v.size(); ++j) {
            if (v[j].is_null()) {
                l.scores[j] = std::numeric_limits<double>::quiet_NaN();
            } else if (v[j].is_number()) {
                l.scores[j] = v[j].get<double>();
                if (!std::isfinite(l.scores[j]))
                    fail(w.str(), ": field 'scores'[", j, "]: ", v[j].dump(), " is not a finite number");
            } else {
                fail(w.str(), ": field 'scores'[", j, "]: expected a number or null, got ", json_describe(v[j]));
            }
        }
    }
    return l;
}

inline void parse_kinds(Line& l, std::string_view text, const JsonWhere& w) {
    const nlohmann::json obj = parse_line_json(text, w);
    require_object(obj, w);
    l.kinds = utf8_chars(require_string(obj, "kinds", w));
    require_entries(l.kinds.size(), l.ids.size(), "kinds", w, "characters");
}

// Lines of a JSONL file: blank lines skipped but counted, "\r\n" accepted.
class LineReader {
public:
    explicit LineReader(const std::filesystem::path& path) : file_(path.string()), in_(path, std::ios::binary) {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) fail(file_, ": is a directory, not a file");
        if (!in_) fail(file_, ": cannot open the file");
    }
    // The next non-blank line, or false at the end.
    bool next(std::string& line) {
        while (std::getline(in_, line)) {
            ++line_;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t\r\f\v") != std::string::npos) return true;
        }
        if (in_.bad()) fail(file_, ":", line_ + 1, ": read error");
        return false;
    }
    JsonWhere where() const { return {file_, line_}; }
    const std::string& file() const { return file_; }

private:
    std::string file_;
    std::ifstream in_;
    std::size_t line_ = 0;
};

// Position j's role.
enum class Role { context, target, kept, dropped, unscored_target };

inline Role role(const Line& l, std::size_t j) {
    const bool label = j > 0 && l.labels[j] != ignore_label;
    if (l.scores.empty()) return label ? Role::target : Role::context;
    if (std::isnan(l.scores[j])) return label ? Role::unscored_target : Role::context;
    return l.labels[j] != ignore_label ? Role::kept : Role::dropped;
}

}  // namespace tokclean::detail::report
