#pragma once
// Helpers for the tests that run the tokclean program (TOKCLEAN_BIN): scratch directories,
// running a command line, asserting a clean failure, starting a run in the background to
// signal it.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "temp_dir.hpp"

namespace cli_test {

namespace fs = std::filesystem;
using nlohmann::json;

inline const fs::path data_dir = fs::path(TOKCLEAN_TEST_DATA);
inline const fs::path fixtures = data_dir / "gpt2_tiny";  // vocab 97, EOS 96, 32 positions, no tokenizer

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
}

inline std::vector<json> read_jsonl(const fs::path& p) {
    std::ifstream in(p);
    std::vector<json> out;
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
}

// A scratch directory per test case (named after it), removed afterwards.
using Scratch = test_support::TempDir;

struct Run {
    int exit_code;
    std::string out;  // stdout
    std::string err;  // stderr
};

// Runs `tokclean ARGS` through the shell (with VAR=value assignments `env`, in the working
// directory `cwd` if given), capturing stdout and stderr in files of `s`.
inline Run tokclean(const std::string& args, const Scratch& s, const std::string& env = "", const fs::path& cwd = {}) {
    const fs::path out = s / "stdout.txt", err = s / "stderr.txt";
    const std::string cmd = (cwd.empty() ? "" : "cd '" + cwd.string() + "' && ") + (env.empty() ? "" : "env " + env + " ") +
                            std::string(TOKCLEAN_BIN) + " " + args + " > " + out.string() + " 2> " + err.string() +
                            (args.find(" < ") == std::string::npos ? " < /dev/null" : "");
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

inline std::size_t lines_of(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// A clean failure: non-zero exit, exactly one line on stderr (with --quiet) that contains
// every needle, nothing on stdout, and `out` not created, nor any temporary beside it.
inline void expect_failure(const Run& r, std::initializer_list<std::string> needles, const fs::path& out) {
    BOOST_TEST(r.exit_code != 0);
    BOOST_TEST(r.exit_code != -1, "killed by a signal: " << r.err);
    BOOST_TEST(lines_of(r.err) == 1u, "stderr: " << r.err);
    BOOST_TEST(r.err.starts_with("tokclean: error: "), "stderr: " << r.err);
    BOOST_TEST(r.out.empty(), "stdout: " << r.out);
    for (const auto& n : needles)
        BOOST_TEST(r.err.find(n) != std::string::npos, "'" << n << "' not in: " << r.err);
    if (out.empty()) return;
    BOOST_TEST(!fs::exists(out), out << " was created");
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(out.parent_path(), ec))
        BOOST_TEST(e.path().filename().string().find(out.filename().string()) == std::string::npos,
                   "left behind: " << e.path());
}

// `n` random pre-tokenized examples for the fixture model (vocab 97): a prompt of 1-4
// masked tokens, then 2-11 targets ending with EOS (96).
inline void write_random_pool(const fs::path& path, unsigned seed, int n) {
    std::ofstream out(path);
    std::uint64_t x = seed;
    auto next = [&x](std::uint64_t m) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        return (x >> 33) % m;
    };
    for (int e = 0; e < n; ++e) {
        const std::uint64_t prompt = 1 + next(4), response = 2 + next(10);
        json ids = json::array(), labels = json::array();
        for (std::uint64_t j = 0; j < prompt + response; ++j) {
            const int id = j + 1 == prompt + response ? 96 : static_cast<int>(next(96));
            ids.push_back(id);
            labels.push_back(j < prompt ? -100 : id);
        }
        out << json{{"input_ids", ids}, {"labels", labels}}.dump() << "\n";
    }
}

// A tokclean run in the background (stdout and stderr to files in `s`), to be signalled.
class Background {
public:
    Background(const std::string& args, const Scratch& s, const std::string& tag = "bg")
        : out_(s / (tag + ".out")), err_(s / (tag + ".err")) {
        const std::string cmd = "exec " + std::string(TOKCLEAN_BIN) + " " + args + " > " + out_.string() + " 2> " +
                                err_.string() + (args.find(" < ") == std::string::npos ? " < /dev/null" : "");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;
    ~Background() {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            wait();
        }
    }

    // Polls `ready` every millisecond until it holds (true) or the run ends or `seconds`
    // pass (false).
    bool wait_for(const std::function<bool()>& ready, double seconds = 120.0) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (std::chrono::steady_clock::now() < end) {
            if (ready()) return true;
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                reaped_ = true;
                status_ = status;
                return ready();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return false;
    }
    bool running() const { return !reaped_; }
    void signal(int sig) { ::kill(pid_, sig); }
    // The exit status: the code, or -signal when a signal ended it.
    int wait() {
        if (!reaped_) {
            ::waitpid(pid_, &status_, 0);
            reaped_ = true;
        }
        return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_);
    }
    std::string err() const { return slurp(err_); }
    std::string out() const { return slurp(out_); }

private:
    fs::path out_, err_;
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
};

}  // namespace cli_test
