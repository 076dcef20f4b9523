#pragma once
// What the library's unit tests share: a scratch directory, and the check that a call fails
// with tokclean::Error's one-line message. (The program's tests have cli_support.hpp.)
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "tokclean/core/error.hpp"

namespace test_support {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, removed at the end of a test.
struct TempDir {
    fs::path path;
    TempDir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("tokclean_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    fs::path operator/(const std::string& name) const { return path / name; }
    // Writes `text` to the file `name` in the directory; returns its path.
    fs::path write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
        return path / name;
    }
    // The names in the directory, sorted.
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }
};

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
