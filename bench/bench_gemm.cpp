// Single-precision GEMM throughput on GPT-2's shapes: tokclean's matmul (the packed AVX-512
// kernel on AVX-512 CPUs, Eigen's in fixed tiles elsewhere or with TOKCLEAN_CPU=generic: the
// "kernels" field), Eigen's own product (its threading), and OpenBLAS's cblas_sgemm when
// libopenblas.so.0 can be loaded at run time (no build dependency). On the products with a
// weight as B stored (N, K), also tokclean's matmul with that weight in bf16 ("tokclean_bf16":
// bf16 dot products where the CPU has AVX512_BF16, the weight widened otherwise; TOKCLEAN_CPU=
// avx512 forces the widening), on TinyLlama-1.1B's forward shapes among others.
//   bench_gemm --threads 2 [--reps 5] [--only SUBSTRING] [--impl tokclean|tokclean_bf16|eigen|openblas]
// One JSON line per (shape, library) on stdout: median GFLOP/s over the repetitions.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <Eigen/Core>

#include "tokclean/backend/cpu/matmul.hpp"
#include "tokclean/core/cpu_features.hpp"
#include "tokclean/core/rng.hpp"
#include "tokclean/core/threads.hpp"

using namespace tokclean;
using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

struct GemmShape {
    const char* name;  // where GPT-2 runs it
    std::int64_t M, N, K;
    bool ta, tb;
};

// gpt2-small (batch 4 x 128 = 512 positions, 508 targets) and tiny (8 x 256 = 2048), plus a
// large square product for the library's best case.
const GemmShape shapes[] = {
    {"gpt2 qkv fwd", 512, 2304, 768, false, false},
    {"gpt2 fc fwd", 512, 3072, 768, false, false},
    {"gpt2 fc_proj fwd", 512, 768, 3072, false, false},
    {"gpt2 fc dinp", 512, 768, 3072, false, true},
    {"gpt2 fc dweight", 768, 3072, 512, true, false},
    {"gpt2 lm head fwd", 508, 50257, 768, false, true},
    {"gpt2 lm head dinp", 508, 768, 50257, false, false},
    {"gpt2 lm head dwte", 50257, 768, 508, true, false},
    {"tiny fc fwd", 2048, 1024, 256, false, false},
    {"tiny fc_proj fwd", 2048, 256, 1024, false, false},
    {"square 2048", 2048, 2048, 2048, false, false},
    // TinyLlama-1.1B (hidden 2048, 4 KV heads of 64, intermediate 5632, vocabulary 32000), a
    // batch of 8 x 128 positions (900 targets): the forward's products, weights (out, in).
    {"tinyllama qkv fwd", 1024, 2560, 2048, false, true},
    {"tinyllama gate_up fwd", 1024, 11264, 2048, false, true},
    {"tinyllama down fwd", 1024, 2048, 5632, false, true},
    {"tinyllama lm head fwd", 900, 32000, 2048, false, true},
};

using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                            int, float, float*, int);

template <class F>
double median_seconds(F&& f, int reps) {
    f();  // warm-up: packing buffers, page faults
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

RowMajor random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
    Rng rng(seed);
    RowMajor m(rows, cols);
    for (std::int64_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(rng.normal());
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"sgemm throughput: tokclean, Eigen, OpenBLAS"};
    int threads = 2, reps = 5;
    std::string only, impl;
    app.add_option("--threads", threads);
    app.add_option("--reps", reps);
    app.add_option("--only", only, "run the shapes whose name contains this");
    app.add_option("--impl", impl, "run this library only");
    CLI11_PARSE(app, argc, argv);
    set_cpu_threads(threads);

    CblasSgemm openblas = nullptr;
    if (void* lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL)) {
        openblas = reinterpret_cast<CblasSgemm>(dlsym(lib, "cblas_sgemm"));
        if (auto set = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads")))
            set(threads);
    }

    for (const auto& s : shapes) {
        if (!only.empty() && std::string(s.name).find(only) == std::string::npos) continue;
        const RowMajor a = random_matrix(s.ta ? s.K : s.M, s.ta ? s.M : s.K, 1);
        const RowMajor b = random_matrix(s.tb ? s.N : s.K, s.tb ? s.K : s.N, 2);
        RowMajor c(s.M, s.N);
        const double flops = 2.0 * static_cast<double>(s.M) * static_cast<double>(s.N) * static_cast<double>(s.K);
        const int n = flops > 2e10 ? std::max(1, reps / 2) : reps;
        auto report = [&](const char* impl, double seconds) {
            std::printf("{\"impl\": \"%s\", \"shape\": \"%s\", \"M\": %lld, \"N\": %lld, \"K\": %lld, "
                        "\"threads\": %d, \"gflops\": %.1f, \"kernels\": \"%s\"}\n",
                        impl, s.name, static_cast<long long>(s.M), static_cast<long long>(s.N),
                        static_cast<long long>(s.K), threads, flops / seconds * 1e-9,
                        std::string(impl).starts_with("tokclean") ? cpu_kernels_name(cpu_kernels()) : "-");
            std::fflush(stdout);
        };
        auto wanted = [&](const char* name) { return impl.empty() || impl == name; };
        if (wanted("tokclean"))
        report("tokclean", median_seconds([&] {
                   matmul(Cpu{}, c.data(), a.data(), b.data(), s.M, s.N, s.K, Transpose(s.ta), Transpose(s.tb));
               }, n));
        if (s.tb && wanted("tokclean_bf16")) {
            std::vector<bfloat16> b16(static_cast<std::size_t>(b.size()));
            for (std::size_t i = 0; i < b16.size(); ++i) b16[i] = to_bfloat16(b.data()[i]);
            report("tokclean_bf16", median_seconds([&] {
                       matmul(Cpu{}, c.data(), a.data(), b16.data(), s.M, s.N, s.K, Transpose(s.ta), Transpose::yes);
                   }, n));
        }
        if (wanted("eigen"))
        report("eigen", median_seconds([&] {
                   if (s.ta) c.noalias() = a.transpose() * b;
                   else if (s.tb) c.noalias() = a * b.transpose();
                   else c.noalias() = a * b;
               }, n));
        if (openblas && wanted("openblas"))
            report("openblas", median_seconds([&] {
                       // CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112.
                       openblas(101, s.ta ? 112 : 111, s.tb ? 112 : 111, static_cast<int>(s.M),
                                static_cast<int>(s.N), static_cast<int>(s.K), 1.0f, a.data(),
                                static_cast<int>(a.cols()), b.data(), static_cast<int>(b.cols()), 0.0f,
                                c.data(), static_cast<int>(s.N));
                   }, n));
    }
    return 0;
}
