// Progress and help: long verbs report on stderr (plain lines when stderr is a file, a bar
// with tok/s and ETA on a terminal), nothing with --quiet, and their results are one JSON
// line on stdout either way. Every verb's --help shows its flags and an example.
#define BOOST_TEST_MODULE progress
#include <boost/test/unit_test.hpp>

#include <pty.h>

#include "cli_support.hpp"

using namespace cli_test;

namespace {

struct Setup {
    Scratch s;
    std::string base, data;
    Setup() {
        write_random_pool(s / "pool.jsonl", 21, 30);
        base = (fixtures / "model").string();
        data = " --data " + s.str("pool.jsonl");
    }
    std::vector<std::pair<std::string, std::string>> verbs() const {  // (progress label, command)
        return {{"train: ", "train --model " + base + data + " --out " + s.str("t") + " --steps 25 --batch-size 4"},
                {"score: ", "score --model " + base + data + " --out " + s.str("l.jsonl")},
                {"clean: scoring: ", "clean --base " + base + " --ref " + (fixtures / "adamw_final").string() + data +
                                         " --out " + s.str("c.jsonl")},
                {"evolve: chunk 1/1 scoring: ", "evolve --base " + base + data + " --out " + s.str("e") +
                                                    " --chunks 2 --steps 3 --batch-size 4"}};
    }
};

// Every line of `text`.
std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(plain_lines_on_a_file_and_results_on_stdout) {
    Setup t;
    for (const auto& [label, cmd] : t.verbs()) {
        BOOST_TEST_CONTEXT(cmd) {
            const Run r = tokclean(cmd, t.s);
            BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            BOOST_TEST(lines_of(r.out) == 1u, r.out);
            BOOST_TEST(json::parse(r.out).is_object());
            BOOST_TEST(r.err.find('\r') == std::string::npos);     // no bar in a file
            BOOST_TEST(r.err.find("\x1b[") == std::string::npos);  // nor terminal escapes
            std::vector<std::string> mine;
            for (const auto& l : lines(r.err))
                if (l.starts_with(label)) mine.push_back(l);
            BOOST_REQUIRE_MESSAGE(!mine.empty(), "no line starting with '" << label << "' in:\n" << r.err);
            BOOST_TEST(mine.back().find("(100%)") != std::string::npos, mine.back());
            BOOST_TEST(mine.back().find("done in ") != std::string::npos, mine.back());
        }
    }
    // The train lines carry the rate, the time left and the loss.
    const Run r = tokclean(t.verbs()[0].second, t.s);
    const auto l = lines(r.err);
    BOOST_REQUIRE(!l.empty());
    BOOST_TEST(l.front().starts_with("train: 1/25 steps (4%), "), l.front());
    BOOST_TEST(l.front().find(" tok/s, ETA ") != std::string::npos, l.front());
    BOOST_TEST(l.front().find(", loss ") != std::string::npos, l.front());
    BOOST_TEST(l.size() <= 13u, "too many lines for a short run:\n" << r.err);  // first, <= 10 milestones, last
}

BOOST_AUTO_TEST_CASE(quiet_prints_nothing_on_stderr) {
    Setup t;
    for (const auto& [label, cmd] : t.verbs()) {
        BOOST_TEST_CONTEXT(cmd) {
            const Run r = tokclean("--quiet " + cmd, t.s);
            BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            BOOST_TEST(r.err.empty(), r.err);
            BOOST_TEST(lines_of(r.out) == 1u, r.out);
        }
    }
}

// On a terminal: the line is redrawn in place ("\r", clear to the end of line) with a bar,
// tok/s and the ETA, and ends with a newline; stdout (a file here) still gets the result.
BOOST_AUTO_TEST_CASE(a_bar_on_a_terminal) {
    Setup t;
    const fs::path out = t.s / "result.json";
    const std::string cmd = std::string(TOKCLEAN_BIN) + " train --model " + t.base + t.data + " --out " + t.s.str("bar") +
                            " --steps 200 --batch-size 4";
    int master = -1;
    const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::setenv("TERM", "xterm", 1);
        ::execl("/bin/sh", "sh", "-c", ("exec " + cmd + " > " + out.string()).c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    std::string screen;
    char buf[4096];
    for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) screen.append(buf, static_cast<std::size_t>(n));
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(master);
    BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0, screen);
    BOOST_TEST(screen.find("\rtrain [") != std::string::npos, screen);
    BOOST_TEST(screen.find("\x1b[K") != std::string::npos);
    BOOST_TEST(screen.find(" tok/s") != std::string::npos, screen);
    BOOST_TEST(screen.find("200/200 steps") != std::string::npos, screen);
    BOOST_TEST(screen.find("train: ") == std::string::npos, "plain lines on a terminal: " << screen);
    BOOST_TEST(screen.ends_with("\r\n"), "the bar is not closed by a newline");
    BOOST_TEST(json::parse(slurp(out))["steps"] == 200);
}

BOOST_AUTO_TEST_CASE(every_verb_has_help_with_an_example) {
    Scratch s;
    const std::vector<std::pair<std::string, std::vector<std::string>>> verbs = {
        {"init", {"--out", "--tokenizer", "Example"}},
        {"train", {"--model", "--data", "--checkpoint-every", "--resume", "OUT.ckpt", "Exit status"}},
        {"score", {"--model", "--out", "Example", "null"}},
        {"tokenize", {"--model", "Example"}},
        {"clean", {"--base", "--ref", "--keep", "--select", "Example"}},
        {"select", {"--data", "--keep", "--select", "Example"}},
        {"evolve", {"--chunks", "--work", "OUT.work", "Example"}},
        {"eval", {"--model", "Example"}},
        {"generate", {"--prompt", "Example"}}};
    for (const auto& [verb, needles] : verbs) {
        BOOST_TEST_CONTEXT(verb) {
            const Run r = tokclean(verb + " --help", s);
            BOOST_TEST(r.exit_code == 0);
            for (const auto& n : needles) BOOST_TEST(r.out.find(n) != std::string::npos, "'" << n << "' not in:\n" << r.out);
        }
    }
}
