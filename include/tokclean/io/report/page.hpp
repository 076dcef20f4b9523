#pragma once
// The page, section by section: totals, notes on what the file can and cannot tell, the
// histogram, the kinds table, the legend and the examples token by token.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tokclean/io/number_format.hpp"
#include "tokclean/io/report/cleaned_reader.hpp"
#include "tokclean/io/report/html_text.hpp"
#include "tokclean/io/report/kinds.hpp"
#include "tokclean/io/report/options.hpp"
#include "tokclean/io/report/statistics.hpp"
#include "tokclean/io/report/style.hpp"
#include "tokclean/io/report/svg.hpp"

namespace tokclean::detail::report {

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
         std::to_string(l.line) + " \xC2\xB7 " + thousands(static_cast<std::int64_t>(l.ids.size())) + " tokens \xC2\xB7 ";
    if (l.scores.empty())
        o += thousands(targets) + " targets";
    else
        o += thousands(scored) + " scored \xC2\xB7 " + thousands(kept) + " kept (" + percent(kept, scored) + ")";
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
        if (scored_here) title += "score " + display_number(l.scores[j], 6) + " \xC2\xB7 ";
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
        o += "<span class=\"more\"> \xE2\x80\xA6 " + thousands(static_cast<std::int64_t>(l.ids.size() - shown)) +
             " more tokens not shown</span>";
    o += "</div></section>\n";
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
    if (s.threshold) o += " data-threshold=\"" + shortest(*s.threshold) + "\"";
    o += ">";
    o += card("examples", thousands(static_cast<std::int64_t>(s.examples)));
    o += card("tokens", thousands(s.tokens));
    if (s.has_scores) {
        o += card("scored tokens", thousands(s.scored));
        o += card("kept tokens", thousands(s.kept));
        o += card("dropped tokens", thousands(s.dropped));
        o += card("kept fraction", percent(s.kept, s.scored));
        o += card("threshold <em>\xCF\x84</em>", s.threshold ? display_number(*s.threshold, 5) : std::string("\xE2\x80\x94"), "thr");
    } else {
        o += card("targets (kept)", thousands(s.targets));
        o += card("context tokens", thousands(s.tokens - s.targets));
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
        notes.push_back(thousands(s.dropped_above_threshold) +
                        (s.dropped_above_threshold == 1 ? " dropped score is" : " dropped scores are") +
                        " above \xCF\x84 (largest " + display_number(*s.max_dropped, 5) +
                        "): the selection was not a single global cut (per-example or per-batch ranking, "
                        "random selection, or guards); \xCF\x84 is still the smallest kept score.");
    if (s.dropped_at_threshold > 0)
        notes.push_back(thousands(s.dropped_at_threshold) +
                        (s.dropped_at_threshold == 1 ? " dropped score equals" : " dropped scores equal") +
                        " \xCF\x84 exactly: ties at the threshold, which a ranking breaks by position (the earlier "
                        "token is kept).");
    if (s.unscored_targets > 0)
        notes.push_back(thousands(s.unscored_targets) +
                        " targets have no score (e.g. a warm-up chunk passed through unchanged); they are "
                        "outlined with a dashed line and not counted as scored.");
    if (h.clipped)
        notes.push_back("The histogram shows [" + display_number(h.lo) + ", " + display_number(h.hi) + "]; " + thousands(h.below + h.above) +
                        " outlying scores (full range [" + display_number(sc.min) + ", " + display_number(sc.max) +
                        "]) are counted in its end bins.");
    if (s.examples > s.rendered)
        notes.push_back("Totals, histogram and tables cover all " + thousands(static_cast<std::int64_t>(s.examples)) +
                        " examples; the first " + thousands(static_cast<std::int64_t>(s.rendered)) +
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
        return "<td><span class=\"bar\"><i style=\"width:" + shortest(std::round(f * 1000) / 10) + "%\"></i></span>" +
               percent(part, whole) + "</td>";
    };
    for (const auto& k : kinds_in_order(sc.kinds)) {
        const KindStats& ks = sc.kinds.at(k);
        const auto name = kind_name(k);
        o += "<tr><td><span class=\"kind " + kind_class(k) + "\">" + html_escaped(k) + "</span></td><td>" +
             (name.empty() ? std::string("(unknown)") : std::string(name)) + "</td><td>" + thousands(ks.tokens) + "</td>";
        if (scores)
            o += "<td>" + thousands(ks.scored) + "</td><td>" + thousands(ks.kept) + "</td><td>" + thousands(ks.dropped) + "</td>" +
                 fraction(ks.kept, ks.scored) + "<td>" +
                 (ks.scored ? display_number(ks.score_sum / static_cast<double>(ks.scored)) : std::string("\xE2\x80\x94")) +
                 "</td>";
        else
            o += "<td>" + thousands(ks.targets) + "</td>" + fraction(ks.targets, ks.tokens);
        o += "</tr>\n";
    }
    o += "</table>\n";
}

inline void append_legend(std::string& o, const Scan& sc) {
    const HtmlReportSummary& s = sc.summary;
    o += "<h2>Legend</h2>\n<div class=\"legend\">";
    if (s.scored > 0)
        o += "<div><span>score</span><div><div class=\"grad\" style=\"background:" + gradient() +
             "\"></div><div class=\"scale\"><span>\xE2\x89\xA4 " + display_number(-s.color_scale, 3) +
             "</span><span>0</span><span>\xE2\x89\xA5 " + display_number(s.color_scale, 3) +
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
        o += "<p class=\"sub\">" + thousands(s.scored) + " scores, range [" + display_number(sc.min) + ", " + display_number(sc.max) + "]; " +
             std::to_string(opt.bins) + " bins";
        if (sc.sampled) o += "; colour scale from a sample of " + thousands(static_cast<std::int64_t>(sc.sample_size));
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

}  // namespace tokclean::detail::report
