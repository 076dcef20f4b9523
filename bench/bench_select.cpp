// tokclean side of the selection benchmark (compare_select.py runs it beside select_numpy.py):
//   bench_select --n 100000000 --keep 0.6 --reps 5 --warmup 1 --threads 2 [--tie-fraction 0.3]
// Times GlobalTopK over N scores drawn from a standard normal, a tie_fraction of them rounded
// to 2 decimals (planted ties, many of them across the cut). The time includes the policy's
// whole select call: layout and finiteness checks, the radix select, writing the mask.
// Prints one JSON line: {"impl", "n", "keep", "median_s", "gb_per_s", "threads", "kept"}.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>

#include "tokclean/clean/threshold_policies.hpp"
#include "tokclean/core/rng.hpp"
#include "tokclean/core/threads.hpp"

using namespace tokclean;

// Scores in blocks, one Rng per block, so that generation is threaded and yet the same for
// every thread count.
std::vector<float> make_scores(std::int64_t n, double tie_fraction, std::uint64_t seed) {
    std::vector<float> x(static_cast<std::size_t>(n));
    constexpr std::int64_t block = std::int64_t{1} << 20;
    const std::int64_t blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t b = 0; b < blocks; ++b) {
        Rng rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(b));
        for (std::int64_t i = b * block; i < std::min(n, (b + 1) * block); ++i) {
            double v = rng.normal();
            if (rng.uniform() < tie_fraction) v = std::round(v * 100.0) / 100.0;
            x[static_cast<std::size_t>(i)] = static_cast<float>(v);
        }
    }
    return x;
}

int main(int argc, char** argv) {
    CLI::App app{"tokclean GlobalTopK selection benchmark"};
    std::int64_t n = 100'000'000, example_len = 512;
    double keep = 0.6, tie_fraction = 0.3;
    int reps = 5, warmup = 1, threads = 2;
    std::uint64_t seed = 1;
    app.add_option("--n", n, "number of scores")->check(CLI::PositiveNumber);
    app.add_option("--keep", keep, "kept fraction")->check(CLI::Range(0.0, 1.0));
    app.add_option("--tie-fraction", tie_fraction, "share of scores rounded to 2 decimals");
    app.add_option("--example-len", example_len, "tokens per example (offsets)")->check(CLI::PositiveNumber);
    app.add_option("--reps", reps)->check(CLI::PositiveNumber);
    app.add_option("--warmup", warmup);
    app.add_option("--threads", threads);
    app.add_option("--seed", seed);
    CLI11_PARSE(app, argc, argv);
    set_cpu_threads(threads);

    const std::vector<float> scores = make_scores(n, tie_fraction, seed);
    std::vector<std::int64_t> offsets;
    for (std::int64_t o = 0; o < n; o += example_len) offsets.push_back(o);
    offsets.push_back(n);
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(n));
    const TokenScores view{scores, offsets, {}};
    const GlobalTopK policy{keep};

    std::vector<double> times;
    for (int r = 0; r < warmup + reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        policy.select(view, mask);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r >= warmup) times.push_back(s);
    }
    std::sort(times.begin(), times.end());
    const double median = times.size() % 2 ? times[times.size() / 2]
                                           : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
    const auto kept = std::count(mask.begin(), mask.end(), std::uint8_t{1});
    std::printf("{\"impl\": \"tokclean\", \"n\": %lld, \"keep\": %g, \"median_s\": %.6f, \"gb_per_s\": %.3f, "
                "\"threads\": %d, \"kept\": %lld}\n",
                static_cast<long long>(n), keep, median, static_cast<double>(n) * 4.0 / median / 1e9,
                cpu_threads(), static_cast<long long>(kept));
    return kept == keep_count(n, keep) ? 0 : 1;
}
