// The Llama family on the GPU against the CPU backend: each op (RMSNorm over rows and over
// heads inside qkv rows, RoPE and its adjoint, SwiGLU, grouped-query attention, the repeated-row
// scatter and the row sums) on fresh random inputs, then the whole model (llama with fewer kv
// heads, mistral with one, qwen2 with biases and tied embeddings, qwen3 with its q / k norm and
// a head_dim override): per-token losses, the flat gradient, scoring.
//
// Tolerances: cuda_test_support.hpp (elementwise ops and norms 1e-5: float32 both sides, sums
// in another order; the whole model: model_tolerance, as for GPT-2, the same depth of products).
#define BOOST_TEST_MODULE cuda_llama
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "tokclean/backend/cpu.hpp"
#include "tokclean/nn/llama.hpp"
#include "tokclean/nn/llama_init.hpp"

using namespace tokclean;
using namespace tokclean::test;

namespace {

std::uint64_t seed_counter = 5000;
std::vector<float> fresh(std::size_t n, double scale = 1.0) { return random_vector(n, ++seed_counter, scale); }

}  // namespace

BOOST_AUTO_TEST_CASE(rmsnorm_over_rows_and_over_heads_inside_qkv_rows) {
    struct Case { std::int64_t N, C, heads, stride; };
    // Per position (heads 1); Qwen3's q norm: 4 heads of 24 inside rows of 160 (q 96 | k 32 | v 32).
    for (const Case k : {Case{37, 64, 1, 64}, Case{5, 300, 1, 300}, Case{29, 24, 4, 160}})
        for (const GradWrite write : {GradWrite::overwrite, GradWrite::accumulate}) {
            BOOST_TEST_CONTEXT("N " << k.N << " C " << k.C << " heads " << k.heads << " accumulate "
                                    << (write == GradWrite::accumulate)) {
                const std::int64_t n = k.N * k.stride, rows = k.N * k.heads;
                const auto x = fresh(n, 2.0), w = fresh(k.C), dout = fresh(n);
                std::vector<float> out = fresh(n), rstd(rows);  // floats outside the heads stay as they are
                auto g_x = on_device(x), g_w = on_device(w), g_dout = on_device(dout), g_out = on_device(out);
                Tensor<float, Cuda> g_rstd(Shape{rows});
                poison(g_rstd);
                rmsnorm_forward(Cuda{}, g_out.data(), g_rstd.data(), g_x.data(), g_w.data(), k.N, k.C, 1e-6f, k.heads,
                                k.stride);
                rmsnorm_forward(Cpu{}, out.data(), rstd.data(), x.data(), w.data(), k.N, k.C, 1e-6f, k.heads, k.stride);
                check_close("out", on_host(g_out), out, 1e-5);
                check_close("rstd", on_host(g_rstd), rstd, 1e-5);

                auto dx = fresh(n), dw = fresh(k.C);
                auto g_dx = on_device(dx), g_dw = on_device(dw);
                rmsnorm_backward(Cuda{}, g_dx.data(), g_dw.data(), g_dout.data(), g_x.data(), g_w.data(),
                                 g_rstd.data(), k.N, k.C, k.heads, k.stride, write);
                rmsnorm_backward(Cpu{}, dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), k.N, k.C,
                                 k.heads, k.stride, write);
                check_close("dinp", on_host(g_dx), dx, 1e-5);
                check_close("dweight (accumulates)", on_host(g_dw), dw, 1e-5);
            }
        }
}

BOOST_AUTO_TEST_CASE(rope_and_its_adjoint_match_the_cpu_on_q_and_k_blocks) {
    // qkv rows of (6 q + 2 k + 2 v) heads of 16: rotate the 8 q and k heads, leave v alone.
    const std::int64_t B = 2, T = 33, heads = 8, hd = 16, stride = 10 * hd, half = hd / 2;
    std::vector<float> cos(T * half), sin(T * half);
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t i = 0; i < half; ++i) {
            const double angle = static_cast<double>(t) * std::pow(10000.0, -2.0 * static_cast<double>(i) / hd);
            cos[t * half + i] = static_cast<float>(std::cos(angle));
            sin[t * half + i] = static_cast<float>(std::sin(angle));
        }
    auto g_cos = on_device(cos), g_sin = on_device(sin);
    auto x = fresh(B * T * stride);
    auto g_x = on_device(x);
    rope_forward(Cuda{}, g_x.data(), g_cos.data(), g_sin.data(), B, T, heads, hd, stride);
    rope_forward(Cpu{}, x.data(), cos.data(), sin.data(), B, T, heads, hd, stride);
    check_close("rope forward", on_host(g_x), x, 1e-6);
    rope_backward(Cuda{}, g_x.data(), g_cos.data(), g_sin.data(), B, T, heads, hd, stride);
    rope_backward(Cpu{}, x.data(), cos.data(), sin.data(), B, T, heads, hd, stride);
    check_close("rope adjoint", on_host(g_x), x, 1e-6);
}

BOOST_AUTO_TEST_CASE(swiglu_forward_and_backward_in_both_write_modes) {
    const std::int64_t N = 45, I = 70;
    const auto gate_up = fresh(N * 2 * I, 4.0), dout = fresh(N * I);  // gates into silu's tails
    auto g_gu = on_device(gate_up), g_dout = on_device(dout);
    Tensor<float, Cuda> g_out(Shape{N * I});
    poison(g_out);
    std::vector<float> out(N * I);
    swiglu_forward(Cuda{}, g_out.data(), g_gu.data(), N, I);
    swiglu_forward(Cpu{}, out.data(), gate_up.data(), N, I);
    check_close("swiglu", on_host(g_out), out, 1e-5);
    for (const GradWrite write : {GradWrite::overwrite, GradWrite::accumulate}) {
        auto d = fresh(N * 2 * I);
        auto g_d = on_device(d);
        if (write == GradWrite::overwrite) poison(g_d);
        swiglu_backward(Cuda{}, g_d.data(), g_gu.data(), g_dout.data(), N, I, write);
        swiglu_backward(Cpu{}, d.data(), gate_up.data(), dout.data(), N, I, write);
        check_close(write == GradWrite::overwrite ? "dgate_up (overwrite)" : "dgate_up (accumulate)", on_host(g_d), d,
                    1e-5);
    }
}

BOOST_AUTO_TEST_CASE(grouped_query_attention_matches_the_cpu_in_every_mode) {
    struct Case { std::int64_t B, T; AttentionHeads h; };
    // 3 query heads a kv head; one kv head (Mistral's test shape); every head its own (the
    // multi-head form, cuDNN's fused kernel in bf16 where it applies).
    for (const Case k : {Case{2, 19, {6, 2, 16}}, Case{1, 70, {4, 1, 32}}, Case{2, 40, {4, 4, 64}}})
        for (const CudaMath mode : all_modes) {
            BOOST_TEST_CONTEXT("B " << k.B << " T " << k.T << " heads " << k.h.query << "/" << k.h.kv << "x" << k.h.dim
                                    << " mode " << cuda_math_name(mode)) {
                const MathScope scope(mode);
                const std::int64_t BT = k.B * k.T, W = (k.h.query + 2 * k.h.kv) * k.h.dim, O = k.h.query * k.h.dim;
                const auto qkv = fresh(BT * W), dout = fresh(BT * O);
                std::vector<float> out(BT * O), att(attention_state_size(Cpu{}, k.B, k.T, k.h));
                attention_forward(Cpu{}, out.data(), att.data(), qkv.data(), k.B, k.T, k.h);
                auto g_qkv = on_device(qkv), g_dout = on_device(dout);
                Tensor<float, Cuda> g_out(Shape{BT * O}), g_att(Shape{attention_state_size(Cuda{}, k.B, k.T, k.h)});
                poison(g_out), poison(g_att);
                attention_forward(Cuda{}, g_out.data(), g_att.data(), g_qkv.data(), k.B, k.T, k.h);
                const double tol = product_tolerance(mode);
                check_close("out", on_host(g_out), out, tol);
                poison(g_out);  // scoring: nothing kept
                attention_forward(Cuda{}, g_out.data(), nullptr, g_qkv.data(), k.B, k.T, k.h);
                check_close("out without att", on_host(g_out), out, tol);

                auto dqkv = fresh(BT * W);  // accumulates: pre-filled alike
                auto g_dqkv = on_device(dqkv);
                attention_backward(Cuda{}, g_dqkv.data(), g_dout.data(), g_qkv.data(), g_att.data(), k.B, k.T, k.h);
                attention_backward(Cpu{}, dqkv.data(), dout.data(), qkv.data(), att.data(), k.B, k.T, k.h);
                check_close("dqkv", on_host(g_dqkv), dqkv, 2 * tol);  // two products deep
            }
        }
}

BOOST_AUTO_TEST_CASE(repeated_row_scatter_and_row_sums_match_the_cpu_and_repeat_bit_for_bit) {
    const std::int64_t M = 300, C = 48, V = 7;
    Rng rng(9);
    std::vector<std::int64_t> rows(M);
    for (auto& r : rows) r = static_cast<std::int64_t>(rng.below(V));  // every row many times
    const auto in = fresh(M * C);
    auto out = fresh(V * C);
    auto g_rows = on_device(rows);
    auto g_in = on_device(in);
    std::vector<float> first;
    for (int run = 0; run < 2; ++run) {
        auto g_out = on_device(out);
        scatter_add_repeated_rows(Cuda{}, g_out.data(), g_in.data(), g_rows.data(), M, C);
        const auto got = on_host(g_out);
        if (run == 0) first = got;
        BOOST_TEST(std::memcmp(got.data(), first.data(), got.size() * sizeof(float)) == 0);
    }
    scatter_add_repeated_rows(Cpu{}, out.data(), in.data(), rows.data(), M, C);
    check_close("scatter_add_repeated_rows", first, out, 1e-5);

    auto sums = fresh(C);
    auto g_sums = on_device(sums);
    sum_rows(Cuda{}, g_sums.data(), g_in.data(), M, C);
    sum_rows(Cpu{}, sums.data(), in.data(), M, C);
    check_close("sum_rows (accumulates)", on_host(g_sums), sums, 1e-5);
}

namespace {

// Tiny models of each architecture: hidden 64, 2 layers, head_dim 16 unless overridden.
LlamaConfig tiny(const std::string& arch) {
    LlamaShape s;
    s.model_type = arch;
    s.n_layer = 2;
    s.hidden = 64;
    s.heads = 4;
    s.kv_heads = arch == "mistral" ? 1 : arch == "llama" ? 2 : 4;
    s.head_dim = arch == "qwen3" ? 24 : 0;
    s.intermediate = 96;
    s.vocab_size = 300;
    s.tied = arch == "qwen2";
    s.tokenizer = "";
    return llama_config(s);
}

std::vector<float> span_values(std::span<const float> s) { return {s.begin(), s.end()}; }

}  // namespace

BOOST_AUTO_TEST_CASE(every_architecture_gives_the_cpu_losses_and_gradients) {
    const std::int64_t B = 3, T = 40;
    for (const char* arch : {"llama", "mistral", "qwen2", "qwen3"})
        for (const CudaMath mode : all_modes) {
            BOOST_TEST_CONTEXT(arch << " mode " << cuda_math_name(mode)) {
                const MathScope scope(mode);
                const ModelTolerances tol = model_tolerance(mode);
                const LlamaConfig c = tiny(arch);
                Tensor<float, Cpu> init = llama_init(c, 17);
                if (c.qkv_bias)  // transformers starts biases at 0; give them values that matter
                    for (const LlamaParamKey& k : llama_param_keys(c))
                        if (k.name.ends_with(".bias"))
                            for (std::int64_t i = 0; i < k.shape.numel(); ++i) init.data()[k.offset + i] = 0.05f * (i % 7);
                Llama<Cpu> cpu(c, init.clone());
                Llama<Cuda> gpu(c, copy_to(Cuda{}, init));
                std::vector<std::int32_t> ids, labels;
                random_batch(23, B, T, c.vocab_size, ids, labels);

                const float loss_cpu = cpu.forward(ids.data(), labels.data(), B, T, ForwardFor::backward);
                const float loss_gpu = gpu.forward(ids.data(), labels.data(), B, T, ForwardFor::backward);
                BOOST_TEST(std::abs(loss_gpu - loss_cpu) <= tol.loss * std::abs(loss_cpu));
                check_close("token losses", span_values(gpu.token_losses()), span_values(cpu.token_losses()), tol.loss);

                cpu.zero_grad();
                cpu.backward();
                poison(gpu.flat_grads());  // zero_grad() then backward() must write every gradient
                gpu.zero_grad();
                gpu.backward();
                const std::vector<float> g_cpu(cpu.flat_grads().data(), cpu.flat_grads().data() + cpu.flat_grads().numel());
                for (const LlamaParamKey& k : llama_param_keys(c)) {
                    const std::vector<float> want(g_cpu.begin() + k.offset, g_cpu.begin() + k.offset + k.shape.numel());
                    check_close(k.name.c_str(), on_host(gpu.flat_grads().data() + k.offset, k.shape.numel()), want,
                                tol.grad);
                }

                // Scoring keeps one layer: the same losses as the forward that kept them all.
                gpu.forward(ids.data(), labels.data(), B, T, ForwardFor::scoring);
                check_close("scoring losses", span_values(gpu.token_losses()), span_values(cpu.token_losses()), tol.loss);
            }
        }
}

// LoRA on the GPU (matmul_strided into the fused products' columns, dropout, scale_values):
// base + adapter against the same on the CPU, with dropout (the same masks on both backends),
// the losses and every adapter gradient; the base gets no gradient.
BOOST_AUTO_TEST_CASE(lora_adapters_give_the_cpu_losses_and_adapter_gradients) {
    const std::int64_t B = 3, T = 40;
    for (const char* arch : {"llama", "qwen3"})
        for (const CudaMath mode : all_modes) {
            BOOST_TEST_CONTEXT(arch << " mode " << cuda_math_name(mode)) {
                const MathScope scope(mode);
                const ModelTolerances tol = model_tolerance(mode);
                const LlamaConfig c = tiny(arch);
                const Tensor<float, Cpu> init = llama_init(c, 19);
                const Llama<Cpu> cpu_base(c, init.clone());
                const Llama<Cuda> gpu_base(c, copy_to(Cuda{}, init));
                LoraConfig lc;
                lc.r = 4;
                lc.alpha = 8;
                lc.dropout = 0.2;
                lc.targets = {"all-linear"};
                const LoraLayout layout = cpu_base.lora_layout(lc);
                Tensor<float, Cpu> adapter = init_lora_params(layout, lc.r, 3);
                for (const LoraModule& m : layout.modules)  // B nonzero
                    for (std::int64_t i = 0; i < m.out * lc.r; ++i) adapter.data()[m.b + i] = 0.01f * static_cast<float>(i % 11);
                const auto cpu = cpu_base.with_lora(lc, adapter.clone());
                const auto gpu = gpu_base.with_lora(lc, copy_to(Cuda{}, adapter));
                std::vector<std::int32_t> ids, labels;
                random_batch(29, B, T, c.vocab_size, ids, labels);
                cpu->set_noise_seed(77);
                gpu->set_noise_seed(77);
                const float loss_cpu = cpu->forward(ids.data(), labels.data(), B, T, ForwardFor::backward);
                const float loss_gpu = gpu->forward(ids.data(), labels.data(), B, T, ForwardFor::backward);
                BOOST_TEST(std::abs(loss_gpu - loss_cpu) <= tol.loss * std::abs(loss_cpu));
                cpu->zero_grad();
                cpu->backward();
                poison(gpu->flat_grads());
                gpu->zero_grad();
                gpu->backward();
                BOOST_REQUIRE_EQUAL(gpu->flat_grads().numel(), layout.numel);
                const std::vector<float> g_cpu(cpu->flat_grads().data(), cpu->flat_grads().data() + layout.numel);
                check_close("adapter gradients", on_host(gpu->flat_grads().data(), layout.numel), g_cpu, tol.grad);
            }
        }
}
