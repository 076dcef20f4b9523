// tokclean side of the GPU benchmark (bench/gpu/pytorch_gpu.py is the other side): GPT-2
// small (12 layers, 12 heads, d 768, vocab 50257) on random tokens, for each math mode:
//   train: forward + mean loss + backward + global-norm clipping + AdamW step
//   score: a scoring forward + per-token losses, the first quarter of every row as prompt
// Prints one JSON line per (mode, task): median seconds per step, tokens/s, model TFLOP/s and
// MFU against the GPU's dense peak for that mode.
//   bench_gpu [--batch 16] [--score-batch 32] [--seq 1024] [--steps 20] [--warmup 3]
//             [--modes fp32,tf32,bf16] [--tasks train,score] [--peak-tflops X]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "tokclean/backend/cuda.cuh"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/nn/gpt_init.hpp"
#include "tokclean/optim/adamw.hpp"

using namespace tokclean;

namespace {

struct Options {
    std::int64_t batch = 16, score_batch = 32, seq = 1024;
    int steps = 20, warmup = 3;
    std::vector<std::string> modes = {"fp32", "tf32", "bf16"}, tasks = {"train", "score"};
    double peak_tflops = 0.0;  // 0: from the device name and the mode
};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');) out.push_back(item);
    return out;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) fail("bench_gpu: ", a, " needs a value");
        const std::string v = argv[++i];
        if (a == "--batch") o.batch = std::stoll(v);
        else if (a == "--score-batch") o.score_batch = std::stoll(v);
        else if (a == "--seq") o.seq = std::stoll(v);
        else if (a == "--steps") o.steps = std::stoi(v);
        else if (a == "--warmup") o.warmup = std::stoi(v);
        else if (a == "--modes") o.modes = split(v);
        else if (a == "--tasks") o.tasks = split(v);
        else if (a == "--peak-tflops") o.peak_tflops = std::stod(v);
        else fail("bench_gpu: unknown option ", a);
    }
    return o;
}

CudaMath parse_mode(const std::string& m) {
    if (m == "fp32") return CudaMath::fp32;
    if (m == "tf32") return CudaMath::tf32;
    if (m == "bf16") return CudaMath::bf16;
    fail("bench_gpu: --modes: expected fp32, tf32 or bf16, got '", m, "'");
}

// Dense peak TFLOP/s of the products in a mode (NVIDIA's datasheets, without sparsity): the
// denominator of MFU. Unknown GPUs need --peak-tflops.
double peak_tflops(const std::string& name, CudaMath m) {
    struct Row { const char* match; double fp32, tf32, bf16; };
    static const Row rows[] = {{"H100 PCIe", 51.0, 378.0, 756.0},  {"H100 NVL", 60.0, 418.0, 835.0},
                               {"H100", 67.0, 494.0, 989.0},       {"H200", 67.0, 494.0, 989.0},
                               {"A100", 19.5, 156.0, 312.0}};
    for (const Row& r : rows)
        if (name.find(r.match) != std::string::npos)
            return m == CudaMath::fp32 ? r.fp32 : m == CudaMath::tf32 ? r.tf32 : r.bf16;
    return 0.0;
}

// Model FLOPs of one step, the convention of bench/bench_model.cpp: matmuls 2 per
// multiply-add, causal attention over the T(T+1)/2 pairs, the LM head over target rows only,
// backward twice the forward.
double step_flops(const GptConfig& c, std::int64_t B, std::int64_t T, std::int64_t targets, bool train) {
    const double L = c.n_layer, C = c.n_embd, V = c.vocab_size, tokens = static_cast<double>(B * T);
    const double pairs = static_cast<double>(B) * static_cast<double>(T) * (static_cast<double>(T) + 1.0) / 2.0;
    const double fwd = tokens * 2.0 * L * 12.0 * C * C + L * pairs * 4.0 * C + 2.0 * static_cast<double>(targets) * C * V;
    return train ? 3.0 * fwd : fwd;
}

}  // namespace

int main(int argc, char** argv) try {
    const Options o = parse(argc, argv);
    if (!cuda_device_available()) {
        std::fprintf(stderr, "bench_gpu: no CUDA device\n");
        return 77;
    }
    const GptConfig c = GptConfig::gpt2_small();
    const std::string device = cuda_detail::context().properties().name;
    const GptParams<Cpu> init = gpt_init(c, 0);
    for (const std::string& mode_name : o.modes) {
        const CudaMath mode = parse_mode(mode_name);
        set_cuda_math(mode);
        for (const std::string& task : o.tasks) {
            const bool train = task == "train";
            if (!train && task != "score") fail("bench_gpu: --tasks: expected train or score, got '", task, "'");
            const std::int64_t B = train ? o.batch : o.score_batch, T = o.seq;
            cuda_detail::allocator().reset_peak();
            Gpt<Cuda> model(c, copy_to(Cuda{}, init));
            AdamW<Cuda> optimizer;
            if (train) optimizer = AdamW<Cuda>(model.params().numel(), AdamWHyper{});
            Rng rng(1);
            std::vector<std::int32_t> ids(static_cast<std::size_t>(B * T));
            for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(c.vocab_size)));
            std::vector<std::int32_t> labels = ids;
            if (!train)
                for (std::int64_t b = 0; b < B; ++b)
                    for (std::int64_t t = 0; t < T / 4; ++t) labels[static_cast<std::size_t>(b * T + t)] = ignore_label;
            std::vector<double> times;
            float loss = 0.0f;
            for (int r = 0; r < o.warmup + o.steps; ++r) {
                cuda_synchronize();
                const auto t0 = std::chrono::steady_clock::now();
                if (train) {
                    loss = model.forward(ids.data(), labels.data(), B, T);
                    model.zero_grad();
                    model.backward();
                    clip_grad_norm(model.grads().flat(), 1.0);
                    optimizer.step(model.params().flat(), model.grads().flat(), 1e-4f);
                } else {
                    loss = model.forward(ids.data(), labels.data(), B, T, ForwardFor::scoring);
                }
                cuda_synchronize();
                if (r >= o.warmup) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            }
            std::sort(times.begin(), times.end());
            const double median = times[times.size() / 2];
            const double tflops = step_flops(c, B, T, model.num_targets(), train) / median * 1e-12;
            const double peak = o.peak_tflops > 0 ? o.peak_tflops : peak_tflops(device, mode);
            const bool fused = cuda_detail::fused_attention_applies(B, T, c.n_embd, c.n_head, train);
            std::printf("{\"impl\": \"tokclean\", \"device\": \"%s\", \"mode\": \"%s\", \"task\": \"%s\", \"batch\": %lld, "
                        "\"seq\": %lld, \"steps\": %d, \"median_s\": %.6f, \"tokens_per_s\": %.1f, \"tflops\": %.2f, "
                        "\"mfu\": %.4f, \"peak_tflops\": %.1f, \"fused_attention\": %s, \"loss\": %.4f, "
                        "\"peak_mem_gib\": %.2f}\n",
                        device.c_str(), mode_name.c_str(), task.c_str(), static_cast<long long>(B),
                        static_cast<long long>(T), o.steps, median, static_cast<double>(B * T) / median, tflops,
                        peak > 0 ? tflops / peak : 0.0, peak, fused ? "true" : "false", loss,
                        static_cast<double>(cuda_detail::allocator().bytes_peak()) / (1 << 30));
            std::fflush(stdout);
        }
        cuda_detail::allocator().release_cached();
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: error: %s\n", e.what());
    return 1;
}
