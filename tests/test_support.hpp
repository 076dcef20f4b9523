#pragma once
// What the library's unit tests share: the scratch directory (temp_dir.hpp), and the check that
// a call fails with tokclean::Error's one-line message.
#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "tokclean/core/error.hpp"

namespace test_support {

// Runs `fn`, which must throw tokclean::Error with a one-line message containing every one of
// `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
    try {
        fn();
    } catch (const tokclean::Error& e) {
        const std::string msg = e.what();
        BOOST_TEST_MESSAGE("error: " << msg);
        BOOST_CHECK_MESSAGE(msg.find('\n') == std::string::npos, "message is not one line: " << msg);
        for (const auto& p : parts)
            BOOST_CHECK_MESSAGE(msg.find(p) != std::string::npos, "message '" << msg << "' lacks '" << p << "'");
        return;
    }
    BOOST_ERROR("no tokclean::Error thrown; expected one with '" << (parts.empty() ? "" : parts[0]) << "'");
}

}  // namespace test_support
