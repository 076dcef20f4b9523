#pragma once
// The page's look: the colour scale of the scores (levels, colours, CSS classes) and the
// inline style sheet.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tokclean::detail::report {

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

}  // namespace tokclean::detail::report
