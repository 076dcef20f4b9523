#pragma once
// A scratch directory for a test case: the one the library's unit tests (test_support.hpp)
// and the program's tests (cli_support.hpp) share.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace test_support {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, named after the running test
// case (and `tag`), removed at the end of the test.
struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& tag = "") {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("tokclean_" + std::to_string(::getpid()) + "_" +
                boost::unit_test::framework::current_test_case().p_name.get() + tag + "_" + std::to_string(counter++));
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
    std::string str(const std::string& name) const { return (path / name).string(); }
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

}  // namespace test_support
