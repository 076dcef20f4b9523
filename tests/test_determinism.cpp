// Determinism: the same inputs and seed give bit-identical outputs on CPU whatever the thread
// count. train (shuffled, clipped), score, clean (with scores) and evolve run with
// OMP_NUM_THREADS=1 and =2 on a model large enough for the parallel kernels to split their
// work (GEMMs above the parallel threshold, attention over several heads), and every output
// file must be the same bytes.
#define BOOST_TEST_MODULE determinism
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "cli_support.hpp"

using namespace cli_test;

namespace {

// Sentences of a small grammar (deterministic): text the byte tokenizer turns into a few
// dozen tokens each.
void write_text_pool(const fs::path& path, int n) {
    const char* subjects[] = {"the cat", "a dog", "my neighbour", "the old sailor", "every child", "our teacher"};
    const char* verbs[] = {"sees", "paints", "remembers", "follows", "finds", "builds"};
    const char* objects[] = {"a red boat", "the quiet river", "two small birds", "an empty house", "the morning train"};
    std::ofstream out(path);
    std::uint64_t x = 42;
    auto pick = [&x](std::uint64_t m) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::size_t>((x >> 33) % m);
    };
    for (int i = 0; i < n; ++i) {
        const std::string prompt = std::string("Q: what does ") + subjects[pick(6)] + " do?\nA:";
        const std::string answer = std::string(" ") + subjects[pick(6)] + " " + verbs[pick(6)] + " " + objects[pick(5)] + ".";
        if (i % 3 == 0) out << json{{"text", prompt + answer}}.dump() << "\n";
        else out << json{{"prompt", prompt}, {"completion", answer}}.dump() << "\n";
    }
}

// The safetensors header and each tensor's bytes, to name the first tensor that differs.
std::string first_difference(const std::string& a, const std::string& b) {
    if (a.size() < 8 || b.size() < 8) return "files too short";
    std::uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(a[static_cast<std::size_t>(k)]);
    const json h = json::parse(a.substr(8, n));
    for (const auto& [name, e] : h.items()) {
        if (name == "__metadata__") continue;
        const auto lo = 8 + n + e["data_offsets"][0].get<std::size_t>(), hi = 8 + n + e["data_offsets"][1].get<std::size_t>();
        if (hi > b.size() || a.compare(lo, hi - lo, b, lo, hi - lo) != 0) {
            for (std::size_t i = lo; i < hi; i += 4)
                if (a.compare(i, 4, b, i, 4) != 0) {
                    float x = 0, y = 0;
                    std::memcpy(&x, a.data() + i, 4);
                    std::memcpy(&y, b.data() + i, 4);
                    return "tensor '" + name + "' element " + std::to_string((i - lo) / 4) + ": " + std::to_string(x) +
                           " vs " + std::to_string(y);
                }
        }
    }
    return "the headers";
}

void expect_same(const fs::path& one, const fs::path& two) {
    const std::string a = slurp(one), b = slurp(two);
    BOOST_REQUIRE_MESSAGE(!a.empty(), one << " is empty or missing");
    if (one.extension() == ".safetensors")
        BOOST_TEST(a == b, one.filename() << " differs between 1 and 2 threads at " << first_difference(a, b));
    else
        BOOST_TEST(a == b, one << " and " << two << " differ");
}

}  // namespace

BOOST_AUTO_TEST_CASE(outputs_do_not_depend_on_the_thread_count) {
    Scratch s;
    write_text_pool(s / "pool.jsonl", 48);
    const Run init = tokclean("--quiet init --out " + s.str("base") + " --layers 2 --heads 4 --embd 64 --positions 64 --seed 3", s);
    BOOST_REQUIRE_MESSAGE(init.exit_code == 0, init.err);
    const std::string data = " --data " + s.str("pool.jsonl");
    for (const std::string threads : {"1", "2"}) {
        BOOST_TEST_CONTEXT("OMP_NUM_THREADS=" << threads) {
            const std::string env = "OMP_NUM_THREADS=" + threads;
            const std::string t = threads;
            const std::vector<std::string> commands = {
                "train --model " + s.str("base") + data + " --out " + s.str("trained" + t) +
                    " --steps 12 --batch-size 8 --lr 3e-3 --grad-clip 1 --weight-decay 0.01 --seed 5",
                "score --model " + s.str("trained" + t) + data + " --out " + s.str("scores" + t + ".jsonl"),
                "clean --base " + s.str("base") + " --ref " + s.str("trained" + t) + data + " --out " +
                    s.str("clean" + t + ".jsonl") + " --with-scores --batch-size 5",
                "evolve --base " + s.str("base") + data + " --out " + s.str("evolved" + t) +
                    " --chunks 3 --steps 4 --batch-size 8 --lr 3e-3 --with-scores"};
            for (const auto& c : commands) {
                const Run r = tokclean("--quiet " + c, s, env);
                BOOST_REQUIRE_MESSAGE(r.exit_code == 0, c << ": " << r.err);
            }
        }
    }
    expect_same(s / "trained1" / "model.safetensors", s / "trained2" / "model.safetensors");
    expect_same(s / "scores1.jsonl", s / "scores2.jsonl");
    expect_same(s / "clean1.jsonl", s / "clean2.jsonl");
    expect_same(s / "evolved1" / "model.safetensors", s / "evolved2" / "model.safetensors");
    expect_same(s / "evolved1" / "cleaned.jsonl", s / "evolved2" / "cleaned.jsonl");
}
