// tokclean side of the GPT-2 benchmark; the same shapes and modes as pytorch_baseline.py:
//   bench_model --shape tiny|gpt2-small --mode train|score --reps N --warmup W --threads T
// train: forward + mean loss + backward + AdamW step; score: a scoring forward (no
// activations kept, as PyTorch's no_grad) + per-token losses with the first quarter of every
// sequence as prompt (label -100). One JSON line on stdout, with the CPU kernels that ran
// (cpu_kernels: avx512, or generic where the CPU lacks AVX-512 or TOKCLEAN_CPU=generic).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tokclean/core/cpu_features.hpp"
#include "tokclean/core/threads.hpp"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/nn/gpt_init.hpp"
#include "tokclean/optim/adamw.hpp"

using namespace tokclean;

struct BenchShape {
    GptConfig config;
    std::int64_t batch, seq;
};

BenchShape bench_shape(const std::string& name) {
    if (name == "tiny") return {GptConfig::pretokenized(4, 4, 256, 512, 256), 8, 256};
    return {GptConfig::gpt2_small(), 4, 128};
}

// Model FLOPs of one step (matmuls only, the convention of MFU): forward 2·N_matmul per
// token, plus causal attention (QKᵀ and PV over the T(T+1)/2 pairs s <= t: 2·2·C per pair
// per layer); the LM head counts only the rows that are targets. Backward is twice the
// forward. Work a kernel does beyond this (the masked half of diagonal blocks) is not counted.
double step_flops(const BenchShape& s, std::int64_t targets, bool train) {
    const double L = s.config.n_layer, C = s.config.n_embd, V = s.config.vocab_size;
    const double T = static_cast<double>(s.seq), tokens = static_cast<double>(s.batch * s.seq);
    const double pairs = static_cast<double>(s.batch) * T * (T + 1.0) / 2.0;
    const double fwd = tokens * 2.0 * L * (12.0 * C * C) + L * pairs * 4.0 * C +
                       2.0 * static_cast<double>(targets) * C * V;
    return train ? 3.0 * fwd : fwd;
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int main(int argc, char** argv) {
    CLI::App app{"tokclean GPT-2 benchmark"};
    std::string shape = "tiny", mode = "train";
    int reps = 5, warmup = 1, threads = 2;
    app.add_option("--shape", shape)->check(CLI::IsMember({"tiny", "gpt2-small"}));
    app.add_option("--mode", mode)->check(CLI::IsMember({"train", "score"}));
    app.add_option("--reps", reps);
    app.add_option("--warmup", warmup);
    app.add_option("--threads", threads);
    CLI11_PARSE(app, argc, argv);
    set_cpu_threads(threads);

    const BenchShape s = bench_shape(shape);
    Gpt<Cpu> model(s.config, gpt_init(s.config, 0));
    const bool train = mode == "train";
    Rng rng(1);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(s.batch * s.seq));
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(s.config.vocab_size)));
    std::vector<std::int32_t> labels = ids;
    if (!train)
        for (std::int64_t b = 0; b < s.batch; ++b)
            for (std::int64_t t = 0; t < s.seq / 4; ++t) labels[static_cast<std::size_t>(b * s.seq + t)] = ignore_label;
    // The optimizer's moments (2 x the parameters) only when training, as on PyTorch's side.
    AdamW<Cpu> optimizer;
    if (train) optimizer = AdamW<Cpu>(model.params().numel(), AdamWHyper{});

    std::vector<double> times, cpu_times;
    for (int r = 0; r < warmup + reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        if (train) {
            model.forward(ids.data(), labels.data(), s.batch, s.seq);
            model.zero_grad();
            model.backward();
            optimizer.step(model.params().flat(), model.grads().flat(), 1e-4f);
        } else {
            model.forward(ids.data(), labels.data(), s.batch, s.seq, ForwardFor::scoring);
        }
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r >= warmup) {
            times.push_back(dt);
            cpu_times.push_back(cpu_seconds() - c0);
        }
    }
    std::sort(times.begin(), times.end());
    std::sort(cpu_times.begin(), cpu_times.end());
    const double median = times[times.size() / 2];
    // CPU seconds of all threads per rep: on a loaded machine wall time suffers, this less so.
    const double cpu_median = cpu_times[cpu_times.size() / 2];
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double flops = step_flops(s, model.num_targets(), train);
    std::printf("{\"impl\": \"tokclean\", \"shape\": \"%s\", \"mode\": \"%s\", \"batch\": %lld, \"seq\": %lld, "
                "\"reps\": %d, \"median_s\": %.6f, \"tokens_per_s\": %.1f, \"gflops\": %.1f, "
                "\"cpu_s\": %.6f, \"peak_rss_mb\": %.1f, \"threads\": %d, \"cpu_kernels\": \"%s\"}\n",
                shape.c_str(), mode.c_str(), static_cast<long long>(s.batch), static_cast<long long>(s.seq), reps,
                median, static_cast<double>(s.batch * s.seq) / median, flops / median * 1e-9,
                cpu_median, static_cast<double>(ru.ru_maxrss) / 1024.0, threads, cpu_kernels_name(cpu_kernels()));
    return 0;
}
