#pragma once
// What every fuzz target asserts besides "no crash, no sanitizer report": bad input ends in
// a tokclean::Error whose message is one printable line naming the input. Any other
// exception escapes the target and libFuzzer reports it as a crash.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tokclean/core/error.hpp"

namespace tokclean::fuzz {

[[noreturn]] inline void violated(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz invariant violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
                 detail.data());
    std::abort();
}

// The message of a rejected input: one line that starts with `name` (an internal check's
// message starts with a source file name instead).
inline void check_error(const Error& e, std::string_view name) {
    const std::string_view m = e.what();
    if (!m.starts_with(name)) violated("the error does not name the input", m);
    if (m.find('\n') != std::string_view::npos || m.find('\r') != std::string_view::npos)
        violated("the error is not one line", m);
}

}  // namespace tokclean::fuzz
