#pragma once
// The one error type of tokclean. Its message is a single line that names where the problem
// is (file, line, field, tensor) and what was expected, so the CLI can print it as is.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tokclean {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
    std::ostringstream out;
    (out << ... << std::forward<Parts>(parts));
    return out.str();
}
}  // namespace detail

// Throws Error with the parts streamed together: fail(path, ":", line, ": field 'x': ...").
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
    throw Error(detail::concat(std::forward<Parts>(parts)...));
}

// Checks an internal precondition (a caller's bug, not bad user input).
#define TOKCLEAN_CHECK(cond, ...)                                                          \
    do {                                                                                   \
        if (!(cond)) ::tokclean::fail(__FILE__, ":", __LINE__, ": check failed: " #cond ": ", \
                                      __VA_ARGS__);                                        \
    } while (0)

}  // namespace tokclean
