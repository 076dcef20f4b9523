#pragma once
// A self-contained HTML page about a cleaned file (`tokclean clean --with-scores` output):
// totals, a histogram of the scores split into kept and dropped with the selection threshold
// marked, a table per token kind (optional), and the first examples token by token, each
// coloured by its score. One file: inline CSS and SVG, no script, no external resource.
//
// Input: one JSON object per line, {"input_ids": [...], "labels": [...], "scores": [...]}.
// Position j is "scored" when scores[j] is a number; scored and labels[j] != -100 is "kept",
// scored and labels[j] == -100 "dropped"; unscored positions are context. "scores" may be
// absent from every line (then only targets and context are known); "labels" defaults to
// input_ids. Blank lines are skipped but counted; every error is one line naming the file,
// the line and the field.
//
// The file is streamed: totals, the kinds table and the histogram cover every line, and only
// the first `max_examples` examples are kept in memory. Scores go into a fixed-size
// reservoir sample (the robust colour scale and histogram range come from it); when a file
// has more scores than the reservoir holds, a second pass counts the histogram exactly.
// The page is written through AtomicFile, after all input has been read and checked, so a
// bad input leaves no output file behind.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean {

// What a token id shows as: its bytes (any bytes; they are made visible and escaped), and
// whether it is a special token (EOS, an id without text), drawn boxed.
struct ReportToken {
    std::string bytes;
    bool special = false;
};

struct HtmlReportOptions {
    std::size_t max_examples = 50;             // examples rendered token by token
    std::size_t max_tokens_per_example = 2048;  // tokens rendered per example (the rest counted)
    std::size_t sample_capacity = 1u << 20;     // scores held in memory (reservoir sample)
    int bins = 40;                              // histogram bins
    std::int64_t vocab_size = 0;                // > 0: ids and labels must be < vocab_size
    // Token text; empty: ids 0..255 are bytes (the built-in byte tokenizer), others "⟨id⟩".
    std::function<ReportToken(std::int32_t)> token_text;
    std::string tokenizer_label = "built-in bytes (ids 0-255), other ids as \xE2\x9F\xA8id\xE2\x9F\xA9";
    std::string title = "tokclean report";
};

struct HtmlReportSummary {
    std::size_t examples = 0;
    std::size_t rendered = 0;      // examples shown token by token
    std::int64_t tokens = 0;       // all positions
    std::int64_t targets = 0;      // positions j >= 1 with a label (kept targets when unscored)
    bool has_scores = false;
    std::int64_t scored = 0, kept = 0, dropped = 0;
    std::int64_t unscored_targets = 0;  // j >= 1, label set, score null (e.g. a warm-up chunk)
    std::optional<double> threshold;    // the smallest kept score
    std::optional<double> max_dropped;  // the largest dropped score
    std::int64_t dropped_above_threshold = 0;  // dropped scores > τ: not one global cut
    std::int64_t dropped_at_threshold = 0;     // dropped scores == τ: ties broken by position
    double color_scale = 1.0;           // |score| at full colour (robust maximum)
    double kept_fraction() const {
        return scored > 0 ? static_cast<double>(kept) / static_cast<double>(scored) : 0.0;
    }
};

namespace detail::report {

// ---- text ------------------------------------------------------------------------------

inline void append_html_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
}

inline std::string html_escaped(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_html_escaped(out, s);
    return out;
}

// One piece of a token's visible text: plain UTF-8, or a stand-in for something invisible
// or unsafe to show (a newline, a control character, a byte that is not UTF-8).
struct Piece {
    std::string text;
    enum Kind { plain, escape, newline } kind = plain;
};

inline std::string hex_byte(unsigned char b) {
    static constexpr char digits[] = "0123456789ABCDEF";
    return std::string("\\x") + digits[b >> 4] + digits[b & 15];
}

inline std::string hex_code_point(char32_t c) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(c));
    return buf;
}

// Length of the well-formed UTF-8 sequence at s[i] and its code point; 0 if ill-formed
// (overlong forms, surrogates and values above U+10FFFF included).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    std::size_t len;
    if (c < 0x80) {
        cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

// Code points shown as \uXXXX: C1 controls, invisible format characters, line/paragraph
// separators and bidirectional overrides (which would reorder the text around them).
inline bool hidden_code_point(char32_t c) {
    return (c >= 0x80 && c <= 0x9F) || c == 0xAD || (c >= 0x200B && c <= 0x200F) ||
           (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2069) || c == 0xFEFF;
}

inline std::vector<Piece> visible_pieces(std::string_view s) {
    std::vector<Piece> out;
    const auto add = [&](std::string text, Piece::Kind kind) {
        if (kind == Piece::plain && !out.empty() && out.back().kind == Piece::plain)
            out.back().text += text;
        else
            out.push_back({std::move(text), kind});
    };
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t len = utf8_sequence(s, i, cp);
        if (len == 0) {
            add(hex_byte(static_cast<unsigned char>(s[i])), Piece::escape);
            ++i;
            continue;
        }
        if (cp == '\n') add("\xE2\x86\xB5", Piece::newline);       // ↵
        else if (cp == '\t') add("\xE2\x87\xA5", Piece::escape);   // ⇥
        else if (cp == '\r') add("\\r", Piece::escape);
        else if (cp < 0x20 || cp == 0x7F) add(hex_byte(static_cast<unsigned char>(cp)), Piece::escape);
        else if (hidden_code_point(cp)) add(hex_code_point(cp), Piece::escape);
        else add(std::string(s.substr(i, len)), Piece::plain);
        i += len;
    }
    return out;
}

// The visible text as plain UTF-8 (for tooltips).
inline std::string visible_text(std::string_view s) {
    std::string out;
    for (const auto& p : visible_pieces(s)) out += p.text;
    return out;
}

// The visible text as HTML: stand-ins in <i> (styled apart), a newline after ↵ so the text
// keeps its lines (the token area is white-space: pre-wrap).
inline void append_visible_html(std::string& out, std::string_view s) {
    for (const auto& p : visible_pieces(s)) {
        if (p.kind == Piece::plain) {
            append_html_escaped(out, p.text);
        } else {
            out += "<i>";
            append_html_escaped(out, p.text);
            out += "</i>";
            if (p.kind == Piece::newline) out += '\n';
        }
    }
}

// Splits valid UTF-8 (a parsed JSON string) into code points.
inline std::vector<std::string> utf8_chars(std::string_view s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        std::size_t len = utf8_sequence(s, i, cp);
        if (len == 0) len = 1;
        out.emplace_back(s.substr(i, len));
        i += len;
    }
    return out;
}

// ---- numbers ---------------------------------------------------------------------------

inline std::string fmt(double x, int significant = 4) {
    if (x == 0.0) return "0";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", significant, x);
    std::string s = buf;
    if (s.starts_with("-")) s = "\xE2\x88\x92" + s.substr(1);  // a real minus sign
    return s;
}

// Shortest text that reads back as the same double (for data-* attributes and tests).
inline std::string exact(double x) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    return std::string(buf, r.ptr);
}

inline std::string count(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

inline std::string percent(std::int64_t part, std::int64_t whole) {
    if (whole <= 0) return "\xE2\x80\x94";  // —
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
    return buf;
}

// ---- colours ---------------------------------------------------------------------------

constexpr int color_levels = 12;  // per side of 0
struct Rgb {
    int r, g, b;
};
constexpr Rgb neutral{255, 255, 255};
constexpr Rgb high_color{33, 102, 172};  // high scores (informative): blue
constexpr Rgb low_color{196, 78, 28};    // low scores: orange-red

inline std::string hex(Rgb c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
    return buf;
}

inline Rgb mix(Rgb a, Rgb b, double t) {
    const auto m = [t](int x, int y) { return static_cast<int>(std::lround(x + (y - x) * t)); };
    return {m(a.r, b.r), m(a.g, b.g), m(a.b, b.b)};
}

// Level in [-color_levels, color_levels]: the score relative to the scale, clipped.
inline int color_level(double score, double scale) {
    const double t = std::clamp(score / scale, -1.0, 1.0);
    return static_cast<int>(std::lround(t * color_levels));
}

inline Rgb level_color(int level) {
    const double t = std::abs(level) / static_cast<double>(color_levels);
    return mix(neutral, level < 0 ? low_color : high_color, t);
}

inline std::string level_class(int level) {
    if (level == 0) return "z";
    return (level < 0 ? "n" : "p") + std::to_string(std::abs(level));
}

// ---- kinds -----------------------------------------------------------------------------

inline std::string_view kind_name(std::string_view k) {
    if (k == "P") return "prompt";
    if (k == "B") return "boilerplate";
    if (k == "I") return "informative";
    if (k == "J") return "junk";
    if (k == "W") return "wrong answer";
    if (k == "E") return "end of sequence";
    return {};
}

inline std::string kind_class(std::string_view k) {
    return kind_name(k).empty() ? "kX" : "k" + std::string(k);
}

struct KindStats {
    std::int64_t tokens = 0, targets = 0, scored = 0, kept = 0, dropped = 0;
    double score_sum = 0.0;
};

// Known kinds in legend order, then the others in code-point order.
inline std::vector<std::string> kinds_in_order(const std::map<std::string, KindStats>& m) {
    std::vector<std::string> out;
    for (const char* k : {"P", "B", "I", "J", "W", "E"})
        if (m.count(k)) out.push_back(k);
    for (const auto& [k, _] : m)
        if (kind_name(k).empty()) out.push_back(k);
    return out;
}

// ---- one line of the file ----------------------------------------------------------------

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
                       const HtmlReportOptions& opt) {
    const nlohmann::json obj = parse_line_json(text, w);
    require_object(obj, w);
    Line l;
    l.line = w.line;
    l.ids = read_ints(require_field(obj, "input_ids", w), "input_ids", w, opt.vocab_size, false);
    if (l.ids.empty()) fail(w.str(), ": field 'input_ids': empty sequence");
    if (const auto* labels = find_field(obj, "labels")) {
        l.labels = read_ints(*labels, "labels", w, opt.vocab_size, true);
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

// Deterministic reservoir sample of (score, kept).
class Reservoir {
public:
    explicit Reservoir(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}
    void add(double score, bool kept) {
        ++seen_;
        if (scores_.size() < capacity_) {
            scores_.push_back(score);
            kept_.push_back(kept);
            return;
        }
        const std::uint64_t j = next() % seen_;
        if (j < capacity_) {
            scores_[j] = score;
            kept_[j] = kept;
        }
    }
    bool complete() const { return seen_ == scores_.size(); }
    const std::vector<double>& scores() const { return scores_; }
    const std::vector<bool>& kept() const { return kept_; }

private:
    std::uint64_t next() {  // splitmix64
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    std::size_t capacity_;
    std::uint64_t seen_ = 0, state_ = 0x5EED;
    std::vector<double> scores_;
    std::vector<bool> kept_;
};

inline double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    const auto k = static_cast<std::size_t>(std::floor(q * static_cast<double>(v.size() - 1)));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

struct Histogram {
    double lo = 0.0, hi = 1.0;
    std::vector<std::int64_t> kept, dropped;
    std::int64_t below = 0, above = 0;  // scores outside [lo, hi] (counted in the end bins)
    bool clipped = false;
    std::int64_t dropped_above = 0, dropped_at = 0;  // dropped scores > and == the threshold

    void add(double s, bool is_kept, const std::optional<double>& threshold) {
        const int n = static_cast<int>(kept.size());
        int b = static_cast<int>(std::floor((s - lo) / (hi - lo) * n));
        if (s < lo) ++below;
        if (s > hi) ++above;
        b = std::clamp(b, 0, n - 1);
        (is_kept ? kept : dropped)[static_cast<std::size_t>(b)]++;
        if (!is_kept && threshold) {
            dropped_above += s > *threshold;
            dropped_at += s == *threshold;
        }
    }
};

// The histogram's range: all scores, unless a few outliers would squeeze the rest into a
// few bins; then the 0.5%..99.5% range (widened a little) with the outliers counted
// in the end bins. The threshold is always inside.
inline Histogram histogram_range(const std::vector<double>& sample, double min, double max,
                                 const std::optional<double>& threshold, int bins) {
    Histogram h;
    h.lo = min;
    h.hi = max;
    if (sample.size() >= 50) {
        const double qlo = quantile(sample, 0.005), qhi = quantile(sample, 0.995);
        if (qhi > qlo && (qhi - qlo) < 0.5 * (max - min)) {
            const double pad = 0.05 * (qhi - qlo);
            h.lo = std::max(min, qlo - pad);
            h.hi = std::min(max, qhi + pad);
            h.clipped = true;
        }
    }
    if (threshold) {
        h.lo = std::min(h.lo, *threshold);
        h.hi = std::max(h.hi, *threshold);
    }
    if (!(h.hi > h.lo)) {
        const double pad = std::max(0.5, std::abs(h.lo) * 0.1);
        h.lo -= pad;
        h.hi += pad;
    }
    h.kept.assign(static_cast<std::size_t>(bins), 0);
    h.dropped.assign(static_cast<std::size_t>(bins), 0);
    return h;
}

// ---- HTML pieces -------------------------------------------------------------------------

inline std::string css() {
    std::string s = R"CSS(
:root{--fg:#1f2933;--muted:#69737d;--panel:#f5f7f9;--line:#e1e5ea;--kept:#2f6db5;--drop:#c3c9d0;--thr:#d03a3a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:#fff}
main{max-width:1160px;margin:0 auto;padding:22px 28px 56px}
h1{font-size:22px;margin:0}
.sub{color:var(--muted);margin:2px 0 16px;font-size:13px;overflow-wrap:anywhere}
.sub code{font-size:12px;background:var(--panel);padding:1px 5px;border-radius:4px}
h2{font-size:16px;margin:26px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:7px 14px;min-width:118px}
.card b{display:block;font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.card span{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
.card.thr b{color:var(--thr)}
.card span em{text-transform:none;font-style:normal}
.note{background:#fff8e5;border:1px solid #efd9a0;border-radius:6px;padding:6px 11px;margin:10px 0 0;font-size:13px}
svg{display:block;width:100%;height:auto}
svg text{font:12px system-ui,-apple-system,"DejaVu Sans",sans-serif;fill:#4a5560}
svg .thrl{fill:var(--thr);font-weight:600}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:4px 12px;border-bottom:1px solid var(--line);text-align:right}
th{font-weight:600;background:var(--panel)}
th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}
.bar{display:inline-block;width:90px;height:9px;background:#e9ecef;border-radius:5px;overflow:hidden;vertical-align:middle;margin-right:6px}
.bar i{display:block;height:100%;background:var(--kept)}
.legend{display:flex;flex-wrap:wrap;gap:8px 26px;align-items:center;font-size:13px}
.legend>div{display:flex;align-items:center;gap:8px}
.grad{width:220px;height:14px;border-radius:3px;border:1px solid var(--line)}
.scale{display:flex;justify-content:space-between;width:220px;font-size:11px;color:var(--muted)}
.ex{border:1px solid var(--line);border-radius:8px;margin:12px 0;overflow:hidden}
.ex h3{margin:0;padding:6px 12px;font-size:13px;font-weight:600;background:var(--panel);border-bottom:1px solid var(--line)}
.ex h3 small{font-weight:400;color:var(--muted);margin-left:8px}
.toks{padding:9px 12px;font:14px/1.95 ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.toks span,.legend .tok{border-radius:2px;padding:2px 0;box-shadow:inset -1px 0 0 rgba(255,255,255,.75)}
.legend .tok{font:13px ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace;padding:2px 4px}
.toks i,.legend i{font-style:normal;opacity:.62;font-size:.85em}
.c{color:#9aa3ad}
.t{color:var(--fg);background-color:#e8eef5}
.u{color:var(--fg);outline:1px dashed #b5bcc4;outline-offset:-1px}
.d{text-decoration:line-through;text-decoration-thickness:1px;text-decoration-color:rgba(20,20,20,.6);background-image:repeating-linear-gradient(135deg,rgba(255,255,255,.6) 0 1.5px,transparent 1.5px 4.5px)}
.sp{font-size:.8em;outline:1px solid #8f99a3;outline-offset:-1px;padding:2px 3px!important}
.more{color:var(--muted);font-style:italic}
.kP{border-bottom:3px solid #e3e6ea}.kB{border-bottom:3px solid #d8a93b}.kI{border-bottom:3px solid #2f9e5b}
.kJ{border-bottom:3px solid #9b59b6}.kW{border-bottom:3px solid #d03a3a}.kE{border-bottom:3px solid #3d4852}
.kX{border-bottom:3px dotted #7d8790}
.kind{display:inline-block;min-width:18px;text-align:center;font-weight:600}
footer{margin-top:30px;color:var(--muted);font-size:12px}
)CSS";
    for (int level = -color_levels; level <= color_levels; ++level) {
        if (level == 0) continue;
        s += "." + level_class(level) + "{background-color:" + hex(level_color(level)) + "}";
        if (std::abs(level) * 3 > color_levels * 2) s += "." + level_class(level) + ".k,." + level_class(level) +
                                                         ".d{color:#fff}";
        s += "\n";
    }
    return s;
}

// A CSS linear-gradient of the colour scale, low to high.
inline std::string gradient() {
    std::string g = "linear-gradient(90deg";
    for (int level = -color_levels; level <= color_levels; level += 3) {
        g += ',';
        g += hex(level_color(level));
    }
    return g + ")";
}

inline double nice_step(double range, int target) {
    const double raw = range / target;
    const double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * p >= raw) return m * p;
    return 10 * p;
}

inline std::string svg_histogram(const Histogram& h, const HtmlReportSummary& s, double scale) {
    constexpr double W = 1000, H = 300, L = 64, R = 18, T = 34, B = 58;
    const double pw = W - L - R, ph = H - T - B;
    const int n = static_cast<int>(h.kept.size());
    std::int64_t ymax = 1;
    for (int i = 0; i < n; ++i) ymax = std::max(ymax, h.kept[static_cast<std::size_t>(i)] + h.dropped[static_cast<std::size_t>(i)]);
    const double ystep = nice_step(static_cast<double>(ymax), 4);
    const double ytop = std::max(static_cast<double>(ymax), std::ceil(static_cast<double>(ymax) / ystep) * ystep);
    const auto X = [&](double v) { return L + (v - h.lo) / (h.hi - h.lo) * pw; };
    const auto Y = [&](double c) { return T + ph - c / ytop * ph; };
    const auto num = [](double v) { return exact(std::round(v * 100) / 100); };
    std::string o = "<svg viewBox=\"0 0 1000 300\" role=\"img\" aria-label=\"histogram of scores\">\n";
    // grid and y axis
    for (double y = 0; y <= ytop + 1e-9; y += ystep) {
        o += "<line x1=\"" + num(L) + "\" x2=\"" + num(W - R) + "\" y1=\"" + num(Y(y)) + "\" y2=\"" + num(Y(y)) +
             "\" stroke=\"" + std::string(y == 0 ? "#9aa3ad" : "#eceff2") + "\"/>";
        o += "<text x=\"" + num(L - 8) + "\" y=\"" + num(Y(y) + 4) + "\" text-anchor=\"end\">" +
             count(static_cast<std::int64_t>(y)) + "</text>\n";
    }
    o += "<text transform=\"translate(16 " + num(T + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">tokens</text>\n";
    // bars: dropped below, kept stacked on top
    const double bw = pw / n;
    for (int i = 0; i < n; ++i) {
        const auto k = h.kept[static_cast<std::size_t>(i)], d = h.dropped[static_cast<std::size_t>(i)];
        if (k + d == 0) continue;
        const double a = h.lo + (h.hi - h.lo) * i / n, b = h.lo + (h.hi - h.lo) * (i + 1) / n;
        const double x = L + bw * i + 0.6, w = bw - 1.2;
        o += "<g><title>[" + fmt(a) + ", " + fmt(b) + "): " + count(k) + " kept, " + count(d) + " dropped</title>";
        // a bar of 1 token stays visible next to one of thousands
        const double hd = d > 0 ? std::max(1.5, Y(0) - Y(static_cast<double>(d))) : 0.0;
        const double hk = k > 0 ? std::max(1.5, Y(static_cast<double>(d)) - Y(static_cast<double>(k + d))) : 0.0;
        if (d > 0)
            o += "<rect x=\"" + num(x) + "\" width=\"" + num(w) + "\" y=\"" + num(Y(0) - hd) + "\" height=\"" +
                 num(hd) + "\" fill=\"var(--drop)\"/>";
        if (k > 0)
            o += "<rect x=\"" + num(x) + "\" width=\"" + num(w) + "\" y=\"" + num(Y(0) - hd - hk) + "\" height=\"" +
                 num(hk) + "\" fill=\"var(--kept)\"/>";
        o += "</g>\n";
    }
    // the colour scale under the axis
    const double cy = T + ph + 6;
    for (int i = 0; i < n; ++i) {
        const double mid = h.lo + (h.hi - h.lo) * (i + 0.5) / n;
        o += "<rect x=\"" + num(L + bw * i) + "\" width=\"" + num(bw + 0.3) + "\" y=\"" + num(cy) +
             "\" height=\"7\" fill=\"" + hex(level_color(color_level(mid, scale))) + "\"/>";
    }
    o += "\n";
    // x ticks
    const double xstep = nice_step(h.hi - h.lo, 8);
    for (double v = std::ceil(h.lo / xstep) * xstep; v <= h.hi + 1e-9 * xstep; v += xstep) {
        const double vv = std::abs(v) < 1e-9 * xstep ? 0.0 : v;
        o += "<line x1=\"" + num(X(vv)) + "\" x2=\"" + num(X(vv)) + "\" y1=\"" + num(cy + 7) + "\" y2=\"" +
             num(cy + 12) + "\" stroke=\"#9aa3ad\"/><text x=\"" + num(X(vv)) + "\" y=\"" + num(cy + 25) +
             "\" text-anchor=\"middle\">" + fmt(vv, 3) + "</text>";
    }
    o += "<text x=\"" + num(L + pw / 2) + "\" y=\"" + num(H - 4) +
         "\" text-anchor=\"middle\">score (L_base \xE2\x88\x92 L_ref, or the scorer's value)</text>\n";
    // threshold
    if (s.threshold) {
        const double x = X(*s.threshold);
        o += "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(T - 8) + "\" y2=\"" + num(T + ph) +
             "\" stroke=\"var(--thr)\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>";
        const bool right = x > L + pw * 0.7;
        o += "<text class=\"thrl\" x=\"" + num(right ? x - 6 : x + 6) + "\" y=\"" + num(T - 12) +
             "\" text-anchor=\"" + (right ? "end" : "start") + "\">threshold \xCF\x84 = " + fmt(*s.threshold, 5) +
             " (smallest kept score)</text>\n";
    }
    // key
    o += "<rect x=\"" + num(L + 4) + "\" y=\"6\" width=\"12\" height=\"12\" fill=\"var(--kept)\"/><text x=\"" +
         num(L + 21) + "\" y=\"16\">kept</text><rect x=\"" + num(L + 64) +
         "\" y=\"6\" width=\"12\" height=\"12\" fill=\"var(--drop)\"/><text x=\"" + num(L + 81) +
         "\" y=\"16\">dropped</text>\n";
    return o + "</svg>\n";
}

inline std::string card(std::string_view label, const std::string& value, std::string_view cls = "") {
    return "<div class=\"card" + std::string(cls.empty() ? "" : " ") + std::string(cls) + "\"><span>" +
           std::string(label) + "</span><b>" + value + "</b></div>";
}

inline ReportToken default_token(std::int32_t id) {
    if (id >= 0 && id < 256) return {std::string(1, static_cast<char>(id)), false};
    return {"\xE2\x9F\xA8" + std::to_string(id) + "\xE2\x9F\xA9", true};
}

inline std::string role_name(Role r) {
    switch (r) {
        case Role::kept: return "kept";
        case Role::dropped: return "dropped";
        case Role::target: return "target";
        case Role::unscored_target: return "target, not scored";
        default: return "context";
    }
}

inline void append_example(std::string& o, const Line& l, std::size_t index, const HtmlReportOptions& opt,
                           double scale) {
    std::int64_t scored = 0, kept = 0, targets = 0;
    for (std::size_t j = 0; j < l.ids.size(); ++j) {
        const Role r = role(l, j);
        scored += r == Role::kept || r == Role::dropped;
        kept += r == Role::kept;
        targets += r != Role::context;
    }
    o += "<section class=\"ex\"><h3>Example " + std::to_string(index + 1) + "<small>line " +
         std::to_string(l.line) + " \xC2\xB7 " + count(static_cast<std::int64_t>(l.ids.size())) + " tokens \xC2\xB7 ";
    if (l.scores.empty())
        o += count(targets) + " targets";
    else
        o += count(scored) + " scored \xC2\xB7 " + count(kept) + " kept (" + percent(kept, scored) + ")";
    o += "</small></h3><div class=\"toks\">";
    const std::size_t shown = std::min(l.ids.size(), opt.max_tokens_per_example);
    for (std::size_t j = 0; j < shown; ++j) {
        const Role r = role(l, j);
        const ReportToken tok = opt.token_text ? opt.token_text(l.ids[j]) : default_token(l.ids[j]);
        std::string cls;
        switch (r) {
            case Role::kept: cls = "k"; break;
            case Role::dropped: cls = "d"; break;
            case Role::target: cls = "t"; break;
            case Role::unscored_target: cls = "u"; break;
            default: cls = "c";
        }
        const bool scored_here = r == Role::kept || r == Role::dropped;
        if (scored_here) cls += " " + level_class(color_level(l.scores[j], scale));
        if (tok.special) cls += " sp";
        if (!l.kinds.empty()) cls += " " + kind_class(l.kinds[j]);
        std::string title = "#" + std::to_string(j) + "  id " + std::to_string(l.ids[j]) + "  \xE2\x80\x9C" +
                            visible_text(tok.bytes) + "\xE2\x80\x9D\n";
        if (scored_here) title += "score " + fmt(l.scores[j], 6) + " \xC2\xB7 ";
        title += role_name(r);
        if (!l.kinds.empty()) {
            const auto name = kind_name(l.kinds[j]);
            title += "\nkind " + l.kinds[j] + (name.empty() ? "" : " (" + std::string(name) + ")");
        }
        o += "<span class=\"" + cls + "\" title=\"";
        for (char c : html_escaped(title)) {
            if (c == '\n') o += "&#10;";
            else o += c;
        }
        o += "\">";
        append_visible_html(o, tok.bytes);
        o += "</span>";
    }
    if (shown < l.ids.size())
        o += "<span class=\"more\"> \xE2\x80\xA6 " + count(static_cast<std::int64_t>(l.ids.size() - shown)) +
             " more tokens not shown</span>";
    o += "</div></section>\n";
}

// ---- reading the file -------------------------------------------------------------------

// Everything the page shows, from one pass over the file (two when the scores outnumber the
// reservoir).
struct Scan {
    HtmlReportSummary summary;
    std::vector<Line> shown;                     // the first max_examples lines
    std::map<std::string, KindStats> kinds;      // empty without a kinds file
    Histogram histogram;
    double min = 0.0, max = 0.0;                 // of all scores
    std::size_t sample_size = 0;
    bool sampled = false;                        // the colour scale comes from a sample
};

inline Scan scan(const std::filesystem::path& data, const std::filesystem::path& kinds, const HtmlReportOptions& opt) {
    Scan sc;
    HtmlReportSummary& s = sc.summary;
    Reservoir sample(opt.sample_capacity);
    double min = std::numeric_limits<double>::infinity(), max = -min, abs_max = 0.0;
    int scores_mode = -1;
    std::size_t first_line = 0;

    // Pass 1: check every line; totals, kinds, the sample, the examples to show.
    LineReader reader(data);
    std::optional<LineReader> kinds_reader;
    if (!kinds.empty()) kinds_reader.emplace(kinds);
    for (std::string text, ktext; reader.next(text);) {
        Line l = parse_line(text, reader.where(), scores_mode, first_line, opt);
        if (kinds_reader) {
            if (!kinds_reader->next(ktext))
                fail(kinds_reader->file(), ": has fewer lines than ", reader.file(), ": none for its line ", l.line,
                     " (example ", s.examples + 1, ")");
            parse_kinds(l, ktext, kinds_reader->where());
        }
        ++s.examples;
        s.tokens += static_cast<std::int64_t>(l.ids.size());
        for (std::size_t j = 0; j < l.ids.size(); ++j) {
            const Role r = role(l, j);
            const bool scored = r == Role::kept || r == Role::dropped;
            s.targets += r == Role::kept || r == Role::target || r == Role::unscored_target;
            s.unscored_targets += r == Role::unscored_target;
            if (scored) {
                const double v = l.scores[j];
                ++s.scored;
                (r == Role::kept ? s.kept : s.dropped)++;
                min = std::min(min, v);
                max = std::max(max, v);
                abs_max = std::max(abs_max, std::abs(v));
                if (r == Role::kept && (!s.threshold || v < *s.threshold)) s.threshold = v;
                if (r == Role::dropped && (!s.max_dropped || v > *s.max_dropped)) s.max_dropped = v;
                sample.add(v, r == Role::kept);
            }
            if (!l.kinds.empty()) {
                KindStats& k = sc.kinds[l.kinds[j]];
                ++k.tokens;
                k.targets += r != Role::context;
                k.scored += scored;
                k.kept += r == Role::kept;
                k.dropped += r == Role::dropped;
                if (scored) k.score_sum += l.scores[j];
            }
        }
        if (sc.shown.size() < opt.max_examples) sc.shown.push_back(std::move(l));
    }
    if (s.examples == 0) fail(data.string(), ": no examples (the file has no non-blank line)");
    if (kinds_reader) {
        std::string extra;
        if (kinds_reader->next(extra))
            fail(kinds_reader->file(), ":", kinds_reader->where().line, ": more lines than ", reader.file(), " (",
                 s.examples, " examples)");
    }
    s.has_scores = scores_mode == 1;
    s.rendered = sc.shown.size();
    if (s.scored == 0) return sc;
    sc.min = min;
    sc.max = max;
    sc.sample_size = sample.scores().size();
    sc.sampled = !sample.complete();

    // The colour scale: the 98th percentile of |score|.
    std::vector<double> abs_scores(sample.scores());
    for (double& v : abs_scores) v = std::abs(v);
    double scale = quantile(std::move(abs_scores), 0.98);
    if (!(scale > 0)) scale = abs_max;
    s.color_scale = scale > 0 ? scale : 1.0;

    // The histogram: from the sample when it holds every score, else a second pass.
    Histogram& h = sc.histogram;
    h = histogram_range(sample.scores(), min, max, s.threshold, opt.bins);
    if (sample.complete()) {
        for (std::size_t i = 0; i < sample.scores().size(); ++i) h.add(sample.scores()[i], sample.kept()[i], s.threshold);
    } else {
        LineReader again(data);
        int mode = -1;
        std::size_t first = 0;
        for (std::string text; again.next(text);) {
            const Line l = parse_line(text, again.where(), mode, first, opt);
            for (std::size_t j = 0; j < l.ids.size(); ++j) {
                const Role r = role(l, j);
                if (r == Role::kept || r == Role::dropped) h.add(l.scores[j], r == Role::kept, s.threshold);
            }
        }
    }
    s.dropped_above_threshold = h.dropped_above;
    s.dropped_at_threshold = h.dropped_at;
    return sc;
}

// ---- the page, section by section -----------------------------------------------------------

inline void append_totals(std::string& o, const HtmlReportSummary& s) {
    o += "<div class=\"cards\" id=\"totals\" data-examples=\"" + std::to_string(s.examples) + "\" data-tokens=\"" +
         std::to_string(s.tokens) + "\"";
    if (s.has_scores)
        o += " data-scored=\"" + std::to_string(s.scored) + "\" data-kept=\"" + std::to_string(s.kept) +
             "\" data-dropped=\"" + std::to_string(s.dropped) + "\"";
    else
        o += " data-targets=\"" + std::to_string(s.targets) + "\"";
    if (s.threshold) o += " data-threshold=\"" + exact(*s.threshold) + "\"";
    o += ">";
    o += card("examples", count(static_cast<std::int64_t>(s.examples)));
    o += card("tokens", count(s.tokens));
    if (s.has_scores) {
        o += card("scored tokens", count(s.scored));
        o += card("kept tokens", count(s.kept));
        o += card("dropped tokens", count(s.dropped));
        o += card("kept fraction", percent(s.kept, s.scored));
        o += card("threshold <em>\xCF\x84</em>", s.threshold ? fmt(*s.threshold, 5) : std::string("\xE2\x80\x94"), "thr");
    } else {
        o += card("targets (kept)", count(s.targets));
        o += card("context tokens", count(s.tokens - s.targets));
    }
    o += "</div>\n";
}

// What the page can and cannot say about this file.
inline void append_notes(std::string& o, const Scan& sc) {
    const HtmlReportSummary& s = sc.summary;
    const Histogram& h = sc.histogram;
    std::vector<std::string> notes;
    if (!s.has_scores)
        notes.push_back("This file has no <code>\"scores\"</code>, so which targets the cleaning kept or dropped is "
                        "unknown: the page shows targets (labels \xE2\x89\xA0 \xE2\x88\x92" "100) against context only. "
                        "Write the file with <code>tokclean clean --with-scores</code> to see scores.");
    else if (s.scored == 0)
        notes.push_back("No position has a score.");
    if (s.scored > 0 && s.kept == 0) notes.push_back("No scored token was kept: there is no threshold.");
    if (s.scored > 0 && s.dropped == 0) notes.push_back("No scored token was dropped.");
    if (s.dropped_above_threshold > 0)
        notes.push_back(count(s.dropped_above_threshold) +
                        (s.dropped_above_threshold == 1 ? " dropped score is" : " dropped scores are") +
                        " above \xCF\x84 (largest " + fmt(*s.max_dropped, 5) +
                        "): the selection was not a single global cut (per-example or per-batch ranking, "
                        "random selection, or guards); \xCF\x84 is still the smallest kept score.");
    if (s.dropped_at_threshold > 0)
        notes.push_back(count(s.dropped_at_threshold) +
                        (s.dropped_at_threshold == 1 ? " dropped score equals" : " dropped scores equal") +
                        " \xCF\x84 exactly: ties at the threshold, which a ranking breaks by position (the earlier "
                        "token is kept).");
    if (s.unscored_targets > 0)
        notes.push_back(count(s.unscored_targets) +
                        " targets have no score (e.g. a warm-up chunk passed through unchanged); they are "
                        "outlined with a dashed line and not counted as scored.");
    if (h.clipped)
        notes.push_back("The histogram shows [" + fmt(h.lo) + ", " + fmt(h.hi) + "]; " + count(h.below + h.above) +
                        " outlying scores (full range [" + fmt(sc.min) + ", " + fmt(sc.max) +
                        "]) are counted in its end bins.");
    if (s.examples > s.rendered)
        notes.push_back("Totals, histogram and tables cover all " + count(static_cast<std::int64_t>(s.examples)) +
                        " examples; the first " + count(static_cast<std::int64_t>(s.rendered)) +
                        " are shown token by token (--max-examples).");
    for (const auto& n : notes) o += "<p class=\"note\">" + n + "</p>\n";
}

inline void append_kinds_table(std::string& o, const Scan& sc) {
    const bool scores = sc.summary.has_scores;
    o += "<h2>Token kinds</h2>\n<table><tr><th>kind</th><th>name</th><th>tokens</th>";
    if (scores) o += "<th>scored</th><th>kept</th><th>dropped</th><th>kept fraction</th><th>mean score</th>";
    else o += "<th>targets</th><th>target fraction</th>";
    o += "</tr>\n";
    const auto fraction = [](std::int64_t part, std::int64_t whole) {
        if (whole <= 0) return "<td>" + percent(part, whole) + "</td>";
        const double f = static_cast<double>(part) / static_cast<double>(whole);
        return "<td><span class=\"bar\"><i style=\"width:" + exact(std::round(f * 1000) / 10) + "%\"></i></span>" +
               percent(part, whole) + "</td>";
    };
    for (const auto& k : kinds_in_order(sc.kinds)) {
        const KindStats& ks = sc.kinds.at(k);
        const auto name = kind_name(k);
        o += "<tr><td><span class=\"kind " + kind_class(k) + "\">" + html_escaped(k) + "</span></td><td>" +
             (name.empty() ? std::string("(unknown)") : std::string(name)) + "</td><td>" + count(ks.tokens) + "</td>";
        if (scores)
            o += "<td>" + count(ks.scored) + "</td><td>" + count(ks.kept) + "</td><td>" + count(ks.dropped) + "</td>" +
                 fraction(ks.kept, ks.scored) + "<td>" +
                 (ks.scored ? fmt(ks.score_sum / static_cast<double>(ks.scored)) : std::string("\xE2\x80\x94")) +
                 "</td>";
        else
            o += "<td>" + count(ks.targets) + "</td>" + fraction(ks.targets, ks.tokens);
        o += "</tr>\n";
    }
    o += "</table>\n";
}

inline void append_legend(std::string& o, const Scan& sc) {
    const HtmlReportSummary& s = sc.summary;
    o += "<h2>Legend</h2>\n<div class=\"legend\">";
    if (s.scored > 0)
        o += "<div><span>score</span><div><div class=\"grad\" style=\"background:" + gradient() +
             "\"></div><div class=\"scale\"><span>\xE2\x89\xA4 " + fmt(-s.color_scale, 3) +
             "</span><span>0</span><span>\xE2\x89\xA5 " + fmt(s.color_scale, 3) +
             "</span></div></div><span style=\"color:var(--muted);font-size:12px\">orange: low score, "
             "blue: high score (clipped at the 98th percentile of |score|)</span></div>";
    if (s.has_scores)
        o += "<div><span class=\"tok k p6\">kept</span><span class=\"tok d n6\">dropped</span></div>";
    else
        o += "<div><span class=\"tok t\">target</span></div>";
    o += "<div><span class=\"tok c\">context (not scored)</span></div>";
    if (s.unscored_targets > 0) o += "<div><span class=\"tok u\">target, not scored</span></div>";
    o += "<div><span class=\"tok c\"><i>\xE2\x86\xB5</i> newline <i>\xE2\x87\xA5</i> tab <i>\\xNN</i> byte that is "
         "not UTF-8</span></div><div><span class=\"tok sp\">special token</span></div>";
    if (!sc.kinds.empty()) {
        o += "<div>";
        for (const auto& k : kinds_in_order(sc.kinds)) {
            const auto name = kind_name(k);
            o += "<span class=\"tok " + kind_class(k) + "\">" + html_escaped(k) + " " +
                 (name.empty() ? std::string("unknown") : std::string(name)) + "</span> ";
        }
        o += "</div>";
    }
    o += "</div>\n<p class=\"sub\" style=\"margin-top:8px\">Hover a token for its position, id, text, score and "
         "kind.</p>\n";
}

inline std::string page(const Scan& sc, const std::filesystem::path& data, const std::filesystem::path& kinds,
                        const HtmlReportOptions& opt) {
    const HtmlReportSummary& s = sc.summary;
    std::string o;
    o.reserve(1 << 16);
    o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
         "<title>" + html_escaped(opt.title) + " \xE2\x80\x94 " + html_escaped(data.filename().string()) +
         "</title>\n<style>" + css() + "</style></head><body><main>\n";
    o += "<h1>" + html_escaped(opt.title) + "</h1>\n<p class=\"sub\">data <code>" + html_escaped(data.string()) +
         "</code>";
    if (!kinds.empty()) o += " \xC2\xB7 kinds <code>" + html_escaped(kinds.string()) + "</code>";
    o += " \xC2\xB7 tokens shown as: " + html_escaped(opt.tokenizer_label) + "</p>\n";
    append_totals(o, s);
    append_notes(o, sc);
    if (s.scored > 0) {
        o += "<h2>Scores</h2>\n" + svg_histogram(sc.histogram, s, s.color_scale);
        o += "<p class=\"sub\">" + count(s.scored) + " scores, range [" + fmt(sc.min) + ", " + fmt(sc.max) + "]; " +
             std::to_string(opt.bins) + " bins";
        if (sc.sampled) o += "; colour scale from a sample of " + count(static_cast<std::int64_t>(sc.sample_size));
        o += ".</p>\n";
    }
    if (!sc.kinds.empty()) append_kinds_table(o, sc);
    append_legend(o, sc);
    o += "<h2>Examples</h2>\n";
    if (sc.shown.empty()) o += "<p class=\"sub\">None shown (--max-examples 0).</p>\n";
    for (std::size_t i = 0; i < sc.shown.size(); ++i) append_example(o, sc.shown[i], i, opt, s.color_scale);
    o += "<footer>Written by tokclean report.</footer>\n</main></body></html>\n";
    return o;
}

}  // namespace detail::report

// Reads `data` (and `kinds`, a JSONL with {"kinds": "PPBI..."} per line, aligned line by line
// with the data; empty path: none), checks every line, and writes the page to `out`. Nothing
// is written unless every line is good.
inline HtmlReportSummary write_html_report(const std::filesystem::path& data, const std::filesystem::path& out,
                                           const HtmlReportOptions& opt, const std::filesystem::path& kinds = {}) {
    if (opt.bins < 1) fail("html report: bins must be >= 1, got ", opt.bins);
    std::error_code ec;
    if (std::filesystem::equivalent(data, out, ec)) fail(out.string(), ": is the data file; choose another --out");
    if (!kinds.empty() && std::filesystem::equivalent(kinds, out, ec))
        fail(out.string(), ": is the kinds file; choose another --out");
    const detail::report::Scan sc = detail::report::scan(data, kinds, opt);
    const std::string html = detail::report::page(sc, data, kinds, opt);
    AtomicFile file(out);
    file.write(html);
    file.commit();
    return sc.summary;
}

}  // namespace tokclean
