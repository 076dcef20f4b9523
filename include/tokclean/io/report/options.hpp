#pragma once
// The public types of the HTML report (io/html_report.hpp): what the page shows a token as,
// the options, and the summary write_html_report returns.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

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

}  // namespace tokclean
