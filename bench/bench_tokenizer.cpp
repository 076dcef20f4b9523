// tokclean side of the tokenizer encoding-speed comparison (bench/tokenizer_bench.sh runs it
// beside bench/tokenizer_speed.mjs, which times Hugging Face's Rust library and transformers.js):
//   bench_tokenizer --corpus /tmp/corpus.jsonl --tokenizer build/tests/hf_tokenizers/llama3_1
//                   [--check rust_ids.jsonl] [--threads 1,2] [--limit N]
// The corpus is the file written by `node bench/tokenizer_speed.mjs --write-corpus FILE`: line i
// is the JSON string of text i. Every text is encoded on its own with HfTokenizer::encode(text)
// (no special tokens). "bytes" is the sum of the texts' UTF-8 lengths, "tokens" the sum of the
// id counts, "seconds" the wall time of the encode calls only (loading the tokenizer and the
// corpus excluded; load_seconds is the tokenizer's).
// --check FILE (written by tokenizer_speed.mjs --write-ids FILE --limit N): line i is the Rust
// library's ids (JSON array) for text i; they are compared with tokclean's for the first lines
// of the file before anything is timed, and the program exits 1 on the first mismatch.
// With --threads 2 the texts are split between 2 std::threads (chunks of 256 texts taken from a
// shared counter); one tokenizer object is shared (its const methods are thread-safe).
// Prints one JSON line per thread count: {"implementation":"tokclean", "tokenizer", "threads",
// "bytes", "texts", "tokens", "seconds", "tokens_per_s", "mb_per_s", "load_seconds"}.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tokclean/data/hf_tokenizer.hpp"

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> read_corpus(const std::string& path, std::size_t limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::vector<std::string> texts;
    std::string line;
    for (std::size_t n = 1; texts.size() < limit && std::getline(in, line); ++n) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_string()) throw std::runtime_error(path + ":" + std::to_string(n) + ": expected a JSON string");
        texts.push_back(j.get<std::string>());
    }
    return texts;
}

// Returns the number of texts checked; exits 1 on the first mismatch.
std::size_t check_ids(const tokclean::HfTokenizer& tok, const std::vector<std::string>& texts, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::string line;
    std::size_t i = 0;
    for (; std::getline(in, line); ++i) {
        if (i >= texts.size()) {
            std::cerr << path << ": more lines than the corpus has texts (" << texts.size() << ")\n";
            std::exit(1);
        }
        const auto want = nlohmann::json::parse(line).get<std::vector<std::int32_t>>();
        const auto got = tok.encode(texts[i]);
        if (got != want) {
            std::size_t k = 0;
            while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
            std::cerr << "MISMATCH at text " << i << " (line " << i + 1 << " of " << path << "): first difference at id "
                      << k << ": tokclean " << (k < got.size() ? std::to_string(got[k]) : "(end)") << ", Rust "
                      << (k < want.size() ? std::to_string(want[k]) : "(end)") << "; lengths " << got.size() << " vs "
                      << want.size() << "\ntext: " << nlohmann::json(texts[i]).dump() << "\n";
            std::exit(1);
        }
    }
    return i;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tokclean HfTokenizer encoding speed"};
    std::string corpus, dir, name, check;
    std::vector<int> thread_counts{1, 2};
    std::size_t limit = SIZE_MAX;
    app.add_option("--corpus", corpus, "JSON Lines corpus (tokenizer_speed.mjs --write-corpus)")->required();
    app.add_option("--tokenizer", dir, "directory with tokenizer.json (and tokenizer_config.json)")->required();
    app.add_option("--name", name, "tokenizer name in the output (default: the directory's name)");
    app.add_option("--check", check, "Rust ids of the first texts (tokenizer_speed.mjs --write-ids); exit 1 on a mismatch");
    app.add_option("--threads", thread_counts, "thread counts to time, one JSON line each")->delimiter(',');
    app.add_option("--limit", limit, "use only the first N texts");
    CLI11_PARSE(app, argc, argv);
    if (name.empty()) name = std::filesystem::path(dir).lexically_normal().filename().string();
    if (name.empty()) name = std::filesystem::path(dir).parent_path().filename().string();

    const std::vector<std::string> texts = read_corpus(corpus, limit);
    std::int64_t bytes = 0;
    for (const auto& t : texts) bytes += static_cast<std::int64_t>(t.size());

    double t0 = now_s();
    const auto tok = tokclean::HfTokenizer::from_model_dir(dir);
    const double load_seconds = now_s() - t0;

    if (!check.empty()) {
        const std::size_t n = check_ids(tok, texts, check);
        std::cerr << "tokclean " << name << ": ids equal the Rust library's for the first " << n << " texts\n";
        std::cout << nlohmann::json{{"implementation", "tokclean"}, {"tokenizer", name}, {"checked_texts", n}, {"check", "ok"}}.dump()
                  << std::endl;
    }

    for (const int threads : thread_counts) {
        if (threads < 1) continue;
        std::vector<std::int64_t> tokens_of(static_cast<std::size_t>(threads), 0);
        constexpr std::size_t chunk = 256;
        std::atomic<std::size_t> next{0};
        auto work = [&](int w) {
            std::int64_t tokens = 0;
            for (;;) {
                const std::size_t b = next.fetch_add(chunk, std::memory_order_relaxed);
                if (b >= texts.size()) break;
                for (std::size_t i = b; i < std::min(texts.size(), b + chunk); ++i)
                    tokens += static_cast<std::int64_t>(tok.encode(texts[i]).size());
            }
            tokens_of[static_cast<std::size_t>(w)] = tokens;
        };
        t0 = now_s();
        if (threads == 1) {
            work(0);
        } else {
            std::vector<std::thread> pool;
            for (int w = 0; w < threads; ++w) pool.emplace_back(work, w);
            for (auto& th : pool) th.join();
        }
        const double seconds = now_s() - t0;
        std::int64_t tokens = 0;
        for (auto n : tokens_of) tokens += n;
        nlohmann::json out{{"implementation", "tokclean"},
                           {"tokenizer", name},
                           {"threads", threads},
                           {"bytes", bytes},
                           {"texts", texts.size()},
                           {"tokens", tokens},
                           {"seconds", std::round(seconds * 1000) / 1000},
                           {"tokens_per_s", std::llround(static_cast<double>(tokens) / seconds)},
                           {"mb_per_s", std::round(static_cast<double>(bytes) / 1e6 / seconds * 1000) / 1000},
                           {"load_seconds", std::round(load_seconds * 1000) / 1000}};
        std::cout << out.dump() << std::endl;
    }
    return 0;
}
