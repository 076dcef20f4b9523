// tokclean side of the model benchmark; the same shapes and modes as pytorch_baseline.py:
//   bench_model --shape tiny|gpt2-small|smollm-135m|tinyllama-1.1b --mode train|score
//               --reps N --warmup W --threads T [--dtype fp32|bf16]
// --dtype bf16 (Llama shapes, score): the weights held in bfloat16, as --dtype bf16 holds them.
// GPT-2 shapes (tiny, gpt2-small) and Llama shapes (SmolLM-135M: hidden 576, 30 layers, 9 heads,
// 3 key/value heads, MLP 1536, vocab 49152, tied; TinyLlama-1.1B: hidden 2048, 22 layers, 32
// heads, 4 key/value heads, MLP 5632, vocab 32000), random weights.
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
#include "tokclean/nn/llama.hpp"
#include "tokclean/nn/llama_init.hpp"
#include "tokclean/optim/adamw.hpp"

using namespace tokclean;

// A benchmark shape: the model, its batch, and the sizes its FLOPs are counted from.
struct BenchShape {
    std::unique_ptr<CausalLm<Cpu>> model;
    std::int64_t batch, seq;
    double layers, block_weights, attention_width, vocab, width;  // per layer: matmul weights; NH·hd
};

BenchShape bench_shape(const std::string& name, WeightDtype dtype) {
    if (name == "tiny" || name == "gpt2-small") {
        const GptConfig c = name == "tiny" ? GptConfig::pretokenized(4, 4, 256, 512, 256) : GptConfig::gpt2_small();
        const double C = c.n_embd;
        return {std::make_unique<Gpt<Cpu>>(c, gpt_init(c, 0)), name == "tiny" ? 8 : 4, name == "tiny" ? 256 : 128,
                static_cast<double>(c.n_layer), 12.0 * C * C, C, static_cast<double>(c.vocab_size), C};
    }
    LlamaShape s;
    s.tokenizer = "";
    s.max_positions = 2048;
    if (name == "smollm-135m") {
        s.n_layer = 30, s.hidden = 576, s.heads = 9, s.kv_heads = 3, s.intermediate = 1536, s.vocab_size = 49152;
        s.tied = true;
    } else {  // tinyllama-1.1b
        s.n_layer = 22, s.hidden = 2048, s.heads = 32, s.kv_heads = 4, s.intermediate = 5632, s.vocab_size = 32000;
    }
    s.eos_token_id = 0;
    const LlamaConfig c = llama_config(s, name);
    const double C = static_cast<double>(c.hidden);
    const double weights = C * static_cast<double>(c.qkv_width() + c.q_width()) + 3.0 * C * static_cast<double>(c.intermediate);
    std::unique_ptr<CausalLm<Cpu>> model;  // bf16: the same values rounded, never held in float32
    if (dtype == WeightDtype::bf16) model = std::make_unique<Llama<Cpu>>(c, std::make_shared<const LlamaBf16Weights>(llama_init_bf16(c, 0)));
    else model = std::make_unique<Llama<Cpu>>(c, llama_init(c, 0));
    return {std::move(model), 4, 128, static_cast<double>(c.n_layer), weights, static_cast<double>(c.q_width()),
            static_cast<double>(c.vocab_size), C};
}

// Model FLOPs of one step (matmuls only, the convention of MFU): forward 2 FLOPs per block
// weight per token, plus causal attention (QKᵀ and PV over the T(T+1)/2 pairs s <= t: 2·2·NH·hd
// per pair per layer); the LM head counts only the rows that are targets. Backward is twice the
// forward. Work a kernel does beyond this (the masked half of diagonal blocks) is not counted.
double step_flops(const BenchShape& s, std::int64_t targets, bool train) {
    const double T = static_cast<double>(s.seq), tokens = static_cast<double>(s.batch * s.seq);
    const double pairs = static_cast<double>(s.batch) * T * (T + 1.0) / 2.0;
    const double fwd = tokens * 2.0 * s.layers * s.block_weights + s.layers * pairs * 4.0 * s.attention_width +
                       2.0 * static_cast<double>(targets) * s.width * s.vocab;
    return train ? 3.0 * fwd : fwd;
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int main(int argc, char** argv) {
    CLI::App app{"tokclean model benchmark"};
    std::string shape = "tiny", mode = "train";
    int reps = 5, warmup = 1, threads = 2;
    app.add_option("--shape", shape)->check(CLI::IsMember({"tiny", "gpt2-small", "smollm-135m", "tinyllama-1.1b"}));
    app.add_option("--mode", mode)->check(CLI::IsMember({"train", "score"}));
    app.add_option("--reps", reps);
    app.add_option("--warmup", warmup);
    app.add_option("--threads", threads);
    std::string dtype = "fp32";
    app.add_option("--dtype", dtype)->check(CLI::IsMember({"fp32", "bf16"}));
    CLI11_PARSE(app, argc, argv);
    set_cpu_threads(threads);
    if (dtype == "bf16" && (mode != "score" || shape == "tiny" || shape == "gpt2-small")) {
        std::fprintf(stderr, "--dtype bf16: Llama shapes, --mode score\n");
        return 2;
    }

    const BenchShape s = bench_shape(shape, dtype == "bf16" ? WeightDtype::bf16 : WeightDtype::f32);
    CausalLm<Cpu>& model = *s.model;
    const std::int64_t vocab = model.info().vocab_size;
    const bool train = mode == "train";
    Rng rng(1);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(s.batch * s.seq));
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab)));
    std::vector<std::int32_t> labels = ids;
    if (!train)
        for (std::int64_t b = 0; b < s.batch; ++b)
            for (std::int64_t t = 0; t < s.seq / 4; ++t) labels[static_cast<std::size_t>(b * s.seq + t)] = ignore_label;
    // The optimizer's moments (2 x the parameters) only when training, as on PyTorch's side.
    AdamW<Cpu> optimizer;
    if (train) optimizer = AdamW<Cpu>(model.flat_params().numel(), AdamWHyper{});
    std::int64_t targets = 0;  // labels after position 0 that are not -100
    for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t t = 1; t < s.seq; ++t) targets += labels[static_cast<std::size_t>(b * s.seq + t)] != ignore_label;

    std::vector<double> times, cpu_times;
    for (int r = 0; r < warmup + reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        if (train) {
            model.forward(ids.data(), labels.data(), s.batch, s.seq);
            model.zero_grad();
            model.backward();
            optimizer.step(model.flat_params(), model.flat_grads(), 1e-4f);
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
    const double flops = step_flops(s, targets, train);
    std::printf("{\"impl\": \"tokclean\", \"shape\": \"%s\", \"mode\": \"%s\", \"batch\": %lld, \"seq\": %lld, "
                "\"reps\": %d, \"median_s\": %.6f, \"tokens_per_s\": %.1f, \"gflops\": %.1f, "
                "\"cpu_s\": %.6f, \"peak_rss_mb\": %.1f, \"threads\": %d, \"cpu_kernels\": \"%s\", \"dtype\": \"%s\"}\n",
                shape.c_str(), mode.c_str(), static_cast<long long>(s.batch), static_cast<long long>(s.seq), reps,
                median, static_cast<double>(s.batch * s.seq) / median, flops / median * 1e-9,
                cpu_median, static_cast<double>(ru.ru_maxrss) / 1024.0, threads, cpu_kernels_name(cpu_kernels()),
                dtype.c_str());
    return 0;
}
