#pragma once
// The histogram of the scores as inline SVG: kept stacked on dropped, the colour scale under
// the axis, the threshold marked.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tokclean/io/number_format.hpp"
#include "tokclean/io/report/options.hpp"
#include "tokclean/io/report/statistics.hpp"
#include "tokclean/io/report/style.hpp"

namespace tokclean::detail::report {

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
    const auto num = [](double v) { return shortest(std::round(v * 100) / 100); };
    std::string o = "<svg viewBox=\"0 0 1000 300\" role=\"img\" aria-label=\"histogram of scores\">\n";
    // grid and y axis
    for (double y = 0; y <= ytop + 1e-9; y += ystep) {
        o += "<line x1=\"" + num(L) + "\" x2=\"" + num(W - R) + "\" y1=\"" + num(Y(y)) + "\" y2=\"" + num(Y(y)) +
             "\" stroke=\"" + std::string(y == 0 ? "#9aa3ad" : "#eceff2") + "\"/>";
        o += "<text x=\"" + num(L - 8) + "\" y=\"" + num(Y(y) + 4) + "\" text-anchor=\"end\">" +
             thousands(static_cast<std::int64_t>(y)) + "</text>\n";
    }
    o += "<text transform=\"translate(16 " + num(T + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">tokens</text>\n";
    // bars: dropped below, kept stacked on top
    const double bw = pw / n;
    for (int i = 0; i < n; ++i) {
        const auto k = h.kept[static_cast<std::size_t>(i)], d = h.dropped[static_cast<std::size_t>(i)];
        if (k + d == 0) continue;
        const double a = h.lo + (h.hi - h.lo) * i / n, b = h.lo + (h.hi - h.lo) * (i + 1) / n;
        const double x = L + bw * i + 0.6, w = bw - 1.2;
        o += "<g><title>[" + display_number(a) + ", " + display_number(b) + "): " + thousands(k) + " kept, " + thousands(d) + " dropped</title>";
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
             "\" text-anchor=\"middle\">" + display_number(vv, 3) + "</text>";
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
             "\" text-anchor=\"" + (right ? "end" : "start") + "\">threshold \xCF\x84 = " + display_number(*s.threshold, 5) +
             " (smallest kept score)</text>\n";
    }
    // key
    o += "<rect x=\"" + num(L + 4) + "\" y=\"6\" width=\"12\" height=\"12\" fill=\"var(--kept)\"/><text x=\"" +
         num(L + 21) + "\" y=\"16\">kept</text><rect x=\"" + num(L + 64) +
         "\" y=\"6\" width=\"12\" height=\"12\" fill=\"var(--drop)\"/><text x=\"" + num(L + 81) +
         "\" y=\"16\">dropped</text>\n";
    return o + "</svg>\n";
}

}  // namespace tokclean::detail::report
