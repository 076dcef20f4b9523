#pragma once
// What the page shows about the whole file, from one pass over it (two when the scores
// outnumber the reservoir): totals, per-kind counts, the colour scale (from a reservoir
// sample of the scores) and the histogram with its range.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/io/report/cleaned_reader.hpp"
#include "tokclean/io/report/kinds.hpp"
#include "tokclean/io/report/options.hpp"

namespace tokclean::detail::report {

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
        Line l = parse_line(text, reader.where(), scores_mode, first_line, opt.vocab_size);
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
            const Line l = parse_line(text, again.where(), mode, first, opt.vocab_size);
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

}  // namespace tokclean::detail::report
