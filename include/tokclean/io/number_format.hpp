#pragma once
// Shortest text that reads back as the same float (std::to_chars), for JSON outputs: losses
// written by `tokclean score` keep every bit without 17-digit noise.
#include <charconv>
#include <cmath>
#include <string>

namespace tokclean {

// Appends x to out; non-finite values become JSON null.
inline void append_float_json(std::string& out, float x) {
    if (!std::isfinite(x)) {
        out += "null";
        return;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    out.append(buf, r.ptr);
}

}  // namespace tokclean
