#pragma once
// Numbers as text, once for the whole library and the program: the shortest text that reads
// back as the same float (std::to_chars), for JSON outputs and data-* attributes (losses
// written by `tokclean score` keep every bit without 17-digit noise); fixed and significant
// digits (printf's %f and %g); and the forms a page people read shows (a true minus sign,
// thousands separators, percentages).
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <string>

namespace tokclean {

// Appends the shortest text that reads back as the same x (float or double).
template <std::floating_point T>
void append_shortest(std::string& out, T x) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    out.append(buf, r.ptr);
}

template <std::floating_point T>
std::string shortest(T x) {
    std::string out;
    append_shortest(out, x);
    return out;
}

// Appends x to out; non-finite values become JSON null.
inline void append_float_json(std::string& out, float x) {
    if (!std::isfinite(x)) {
        out += "null";
        return;
    }
    append_shortest(out, x);
}

// `digits` digits after the point (%.*f): fixed(0.5, 3) == "0.500".
inline std::string fixed(double x, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, x);
    return buf;
}

// `digits` significant digits (%.*g), in exponent form when small (a probability may be 1e-13).
inline std::string significant(double x, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    return buf;
}

// significant() for a page people read: a true minus sign (U+2212), and 0 for -0.
inline std::string display_number(double x, int digits = 4) {
    if (x == 0.0) return "0";
    std::string s = significant(x, digits);
    if (s.starts_with("-")) s = "\xE2\x88\x92" + s.substr(1);
    return s;
}

// An integer with thousands separators: "-1,234,567".
inline std::string thousands(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

// part / whole as a percentage with one decimal ("12.5%"); an em dash when whole <= 0.
inline std::string percent(std::int64_t part, std::int64_t whole) {
    if (whole <= 0) return "\xE2\x80\x94";  // —
    return fixed(100.0 * static_cast<double>(part) / static_cast<double>(whole), 1) + "%";
}

}  // namespace tokclean
