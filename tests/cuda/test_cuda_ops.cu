// Every op of the GPU backend against the CPU backend, on fresh random inputs, in each math
// mode where products are involved; outputs are NaN-poisoned before each run and gradient
// buffers that accumulate are pre-filled with the same values on both sides.
#define BOOST_TEST_MODULE cuda_ops
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "tokclean/backend/cpu.hpp"
#include "tokclean/optim/clip.hpp"

using namespace tokclean;
using namespace tokclean::test;

namespace {

std::vector<float> filled(std::size_t n, float v) { return std::vector<float>(n, v); }

std::uint64_t seed_counter = 1000;
std::vector<float> fresh(std::size_t n, double scale = 1.0) { return random_vector(n, ++seed_counter, scale); }

}  // namespace

BOOST_AUTO_TEST_CASE(matmul_matches_the_cpu_in_every_mode_transpose_and_bias) {
    struct Dims { std::int64_t M, N, K; };
    for (const Dims d : {Dims{5, 7, 3}, Dims{37, 53, 29}, Dims{128, 96, 200}})
        for (const CudaMath mode : all_modes)
            for (int ta = 0; ta < 2; ++ta)
                for (int tb = 0; tb < 2; ++tb)
                    for (int acc = 0; acc < 2; ++acc)
                        for (int with_bias = 0; with_bias < 2; ++with_bias) {
                            BOOST_TEST_CONTEXT("M " << d.M << " N " << d.N << " K " << d.K << " mode " << cuda_math_name(mode)
                                                    << " ta " << ta << " tb " << tb << " accumulate " << acc << " bias "
                                                    << with_bias) {
                                const MathScope scope(mode);
                                const GradWrite write = acc ? GradWrite::accumulate : GradWrite::overwrite;
                                const auto a = fresh(d.M * d.K), b = fresh(d.K * d.N), bias = fresh(d.N);
                                auto c = acc ? fresh(d.M * d.N) : filled(d.M * d.N, 0.0f);
                                auto da = on_device(a), db = on_device(b), dbias = on_device(bias), dc = on_device(c);
                                if (!acc) poison(dc);
                                matmul(Cuda{}, dc.data(), da.data(), db.data(), d.M, d.N, d.K, Transpose(ta),
                                       Transpose(tb), write, with_bias ? dbias.data() : nullptr);
                                matmul(Cpu{}, c.data(), a.data(), b.data(), d.M, d.N, d.K, Transpose(ta), Transpose(tb),
                                       write, with_bias ? bias.data() : nullptr);
                                check_close("matmul", on_host(dc), c, product_tolerance(mode));
                            }
                        }
}

BOOST_AUTO_TEST_CASE(matmul_on_unaligned_slices_and_empty_depth) {
    // A parameter slice starts anywhere in the flat buffer: cuBLASLt must be told.
    const std::int64_t M = 9, N = 11, K = 6;
    const auto a = fresh(M * K + 1), b = fresh(K * N + 3), bias = fresh(N + 1);
    auto da = on_device(a), db = on_device(b), dbias = on_device(bias);
    Tensor<float, Cuda> dc(Shape{M * N + 1});
    poison(dc);
    for (const CudaMath mode : all_modes) {
        const MathScope scope(mode);
        matmul(Cuda{}, dc.data() + 1, da.data() + 1, db.data() + 3, M, N, K, Transpose::no, Transpose::no,
               GradWrite::overwrite, dbias.data() + 1);
        std::vector<float> c(M * N);
        matmul(Cpu{}, c.data(), a.data() + 1, b.data() + 3, M, N, K, Transpose::no, Transpose::no, GradWrite::overwrite,
               bias.data() + 1);
        check_close("unaligned matmul", on_host(dc.data() + 1, M * N), c, product_tolerance(mode));
    }
    // K = 0: out = bias (or out + bias).
    Tensor<float, Cuda> out(Shape{M * N});
    poison(out);
    matmul(Cuda{}, out.data(), da.data(), db.data(), M, N, 0, Transpose::no, Transpose::no, GradWrite::overwrite,
           dbias.data());
    std::vector<float> want(M * N);
    for (std::int64_t i = 0; i < M * N; ++i) want[i] = bias[i % N];
    check_close("K = 0", on_host(out), want, 0.0);
}

BOOST_AUTO_TEST_CASE(linear_backward_matches_the_cpu_for_both_write_modes) {
    const std::int64_t N = 70, IC = 48, OC = 80;
    for (const CudaMath mode : all_modes)
        for (const GradWrite w : {GradWrite::accumulate, GradWrite::overwrite}) {
            BOOST_TEST_CONTEXT("mode " << cuda_math_name(mode) << " overwrite " << (w == GradWrite::overwrite)) {
                const MathScope scope(mode);
                const auto inp = fresh(N * IC), weight = fresh(IC * OC, 0.1), bias = fresh(OC), dout = fresh(N * OC);
                auto dinp = fresh(N * IC), dweight = fresh(IC * OC), dbias = fresh(OC);
                auto g_inp = on_device(inp), g_w = on_device(weight), g_b = on_device(bias), g_dout = on_device(dout);
                auto g_dinp = on_device(dinp), g_dw = on_device(dweight), g_db = on_device(dbias);
                if (w == GradWrite::overwrite) poison(g_dinp), poison(g_dw), poison(g_db);
                linear_backward(Cuda{}, g_dinp.data(), g_dw.data(), g_db.data(), g_dout.data(), g_inp.data(), g_w.data(),
                                N, IC, OC, w, w);
                linear_backward(Cpu{}, dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                                weight.data(), N, IC, OC, w, w);
                const double tol = product_tolerance(mode);
                check_close("dinp", on_host(g_dinp), dinp, tol);
                check_close("dweight", on_host(g_dw), dweight, tol);
                check_close("dbias", on_host(g_db), dbias, 1e-5);  // plain float32 sums in every mode

                // Forward, onto a residual stream.
                auto out = fresh(N * OC);
                auto g_out = on_device(out);
                linear_forward(Cuda{}, g_out.data(), g_inp.data(), g_w.data(), g_b.data(), N, IC, OC,
                               GradWrite::accumulate);
                linear_forward(Cpu{}, out.data(), inp.data(), weight.data(), bias.data(), N, IC, OC,
                               GradWrite::accumulate);
                check_close("linear_forward", on_host(g_out), out, tol);
            }
        }
}

BOOST_AUTO_TEST_CASE(layernorm_forward_and_backward_match_the_cpu) {
    for (const std::int64_t C : {8, 64, 771})
        for (const GradWrite w : {GradWrite::accumulate, GradWrite::overwrite}) {
            BOOST_TEST_CONTEXT("C " << C << " overwrite " << (w == GradWrite::overwrite)) {
                const std::int64_t N = 33;
                const auto inp = fresh(N * C, 2.0), weight = fresh(C), bias = fresh(C), dout = fresh(N * C);
                std::vector<float> out(N * C), mean(N), rstd(N);
                auto g_inp = on_device(inp), g_w = on_device(weight), g_b = on_device(bias), g_dout = on_device(dout);
                Tensor<float, Cuda> g_out(Shape{N * C}), g_mean(Shape{N}), g_rstd(Shape{N});
                poison(g_out), poison(g_mean), poison(g_rstd);
                layernorm_forward(Cuda{}, g_out.data(), g_mean.data(), g_rstd.data(), g_inp.data(), g_w.data(),
                                  g_b.data(), N, C, 1e-5f);
                layernorm_forward(Cpu{}, out.data(), mean.data(), rstd.data(), inp.data(), weight.data(), bias.data(), N,
                                  C, 1e-5f);
                check_close("out", on_host(g_out), out, 1e-5);
                check_close("mean", on_host(g_mean), mean, 1e-5);
                check_close("rstd", on_host(g_rstd), rstd, 1e-5);

                auto dinp = fresh(N * C), dweight = fresh(C), dbias = fresh(C);
                auto g_dinp = on_device(dinp), g_dw = on_device(dweight), g_db = on_device(dbias);
                if (w == GradWrite::overwrite) poison(g_dw), poison(g_db);
                layernorm_backward(Cuda{}, g_dinp.data(), g_dw.data(), g_db.data(), g_dout.data(), g_inp.data(),
                                   g_w.data(), g_mean.data(), g_rstd.data(), N, C, w);
                layernorm_backward(Cpu{}, dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(),
                                   weight.data(), mean.data(), rstd.data(), N, C, w);
                check_close("dinp", on_host(g_dinp), dinp, 1e-5);
                check_close("dweight", on_host(g_dw), dweight, 1e-5);
                check_close("dbias", on_host(g_db), dbias, 1e-5);
            }
        }
}

BOOST_AUTO_TEST_CASE(gelu_forward_and_backward_match_the_cpu_in_place_too) {
    const std::int64_t N = 10007;
    auto x = fresh(N, 3.0);
    x[0] = -30.0f, x[1] = 30.0f, x[2] = 0.0f;  // the tails
    const auto dout = fresh(N);
    std::vector<float> out(N);
    auto g_x = on_device(x), g_dout = on_device(dout);
    Tensor<float, Cuda> g_out(Shape{N});
    poison(g_out);
    gelu_forward(Cuda{}, g_out.data(), g_x.data(), N);
    gelu_forward(Cpu{}, out.data(), x.data(), N);
    check_close("gelu", on_host(g_out), out, 1e-5);

    auto dinp = fresh(N);
    auto g_dinp = on_device(dinp);
    gelu_backward(Cuda{}, g_dinp.data(), g_x.data(), g_dout.data(), N, GradWrite::accumulate);
    gelu_backward(Cpu{}, dinp.data(), x.data(), dout.data(), N, GradWrite::accumulate);
    check_close("gelu backward (accumulate)", on_host(g_dinp), dinp, 1e-5);

    auto inplace = dout;  // overwrite, in place: dinp is dout
    auto g_inplace = on_device(inplace);
    gelu_backward(Cuda{}, g_inplace.data(), g_x.data(), g_inplace.data(), N, GradWrite::overwrite);
    gelu_backward(Cpu{}, inplace.data(), x.data(), inplace.data(), N, GradWrite::overwrite);
    check_close("gelu backward (in place)", on_host(g_inplace), inplace, 1e-5);
}

BOOST_AUTO_TEST_CASE(embedding_forward_and_backward_with_repeated_tokens) {
    const std::int64_t B = 3, T = 17, C = 40, V = 9, maxT = 20;
    Rng rng(5);
    std::vector<std::int32_t> ids(B * T);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(V));  // many repeats
    const auto wte = fresh(V * C), wpe = fresh(maxT * C), dout = fresh(B * T * C);
    auto g_ids = on_device(ids);
    auto g_wte = on_device(wte), g_wpe = on_device(wpe), g_dout = on_device(dout);
    Tensor<float, Cuda> g_out(Shape{B * T * C});
    poison(g_out);
    std::vector<float> out(B * T * C);
    embedding_forward(Cuda{}, g_out.data(), g_ids.data(), g_wte.data(), g_wpe.data(), B, T, C);
    embedding_forward(Cpu{}, out.data(), ids.data(), wte.data(), wpe.data(), B, T, C);
    check_close("embedding", on_host(g_out), out, 0.0);

    auto dwte = fresh(V * C), dwpe = fresh(maxT * C);
    auto g_dwte = on_device(dwte), g_dwpe = on_device(dwpe);
    embedding_backward(Cuda{}, g_dwte.data(), g_dwpe.data(), g_dout.data(), g_ids.data(), B, T, C);
    embedding_backward(Cpu{}, dwte.data(), dwpe.data(), dout.data(), ids.data(), B, T, C);
    check_close("dwte", on_host(g_dwte), dwte, 1e-5);
    check_close("dwpe", on_host(g_dwpe), dwpe, 1e-5);
}

BOOST_AUTO_TEST_CASE(embedding_backward_is_deterministic) {
    const std::int64_t B = 8, T = 64, C = 96, V = 5;
    Rng rng(6);
    std::vector<std::int32_t> ids(B * T);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(V));
    auto g_ids = on_device(ids);
    auto g_dout = on_device(fresh(B * T * C));
    std::vector<float> first;
    for (int run = 0; run < 3; ++run) {
        Tensor<float, Cuda> dwte(Shape{V * C}), dwpe(Shape{T * C});
        embedding_backward(Cuda{}, dwte.data(), dwpe.data(), g_dout.data(), g_ids.data(), B, T, C);
        const auto got = on_host(dwte);
        if (run == 0) first = got;
        BOOST_TEST(std::memcmp(got.data(), first.data(), got.size() * sizeof(float)) == 0);
    }
}

BOOST_AUTO_TEST_CASE(attention_matches_the_cpu_with_and_without_kept_probabilities) {
    struct Shape4 { std::int64_t B, T, C, NH; };
    for (const Shape4 s : {Shape4{2, 5, 8, 2}, Shape4{2, 70, 64, 4}, Shape4{1, 129, 256, 4}})
        for (const CudaMath mode : all_modes)
            for (const bool fused : {true, false}) {
                if (mode != CudaMath::bf16 && !fused) continue;  // the switch only matters in bf16 mode
                BOOST_TEST_CONTEXT("B " << s.B << " T " << s.T << " C " << s.C << " NH " << s.NH << " mode "
                                        << cuda_math_name(mode) << " fused allowed " << fused) {
                    const MathScope scope(mode);
                    set_cuda_fused_attention(fused);
                    const std::int64_t BT = s.B * s.T;
                    const auto qkv = fresh(BT * 3 * s.C), dout = fresh(BT * s.C);
                    std::vector<float> out(BT * s.C), att(s.B * s.NH * s.T * s.T);
                    attention_forward(Cpu{}, out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
                    auto g_qkv = on_device(qkv), g_dout = on_device(dout);
                    Tensor<float, Cuda> g_out(Shape{BT * s.C});
                    Tensor<float, Cuda> g_att(Shape{attention_state_size(Cuda{}, s.B, s.T, s.C, s.NH)});
                    poison(g_out), poison(g_att);
                    attention_forward(Cuda{}, g_out.data(), g_att.data(), g_qkv.data(), s.B, s.T, s.C, s.NH);
                    const double tol = product_tolerance(mode);
                    check_close("out", on_host(g_out), out, tol);
                    if (!cuda_detail::fused_attention_applies(s.B, s.T, s.C, s.NH, true))
                        check_close("probabilities", on_host(g_att), att, tol);

                    poison(g_out);  // scoring: nothing kept
                    attention_forward(Cuda{}, g_out.data(), nullptr, g_qkv.data(), s.B, s.T, s.C, s.NH);
                    check_close("out without att", on_host(g_out), out, tol);

                    auto dqkv = fresh(BT * 3 * s.C);
                    auto g_dqkv = on_device(dqkv);
                    attention_backward(Cuda{}, g_dqkv.data(), g_dout.data(), g_qkv.data(), g_att.data(), s.B, s.T, s.C,
                                       s.NH);
                    attention_backward(Cpu{}, dqkv.data(), dout.data(), qkv.data(), att.data(), s.B, s.T, s.C, s.NH);
                    check_close("dqkv", on_host(g_dqkv), dqkv, 2 * tol);  // two products deep
                }
            }
    set_cuda_fused_attention(true);
}

BOOST_AUTO_TEST_CASE(bf16_attention_runs_on_the_cudnn_fused_kernel_on_hopper) {
    // GPT-2 small's heads (64 wide): the shape the benchmark trains. On sm_90 cuDNN 9 has a
    // fused kernel for it; a graph it does not recognise would silently fall back, so fail.
    const MathScope scope(CudaMath::bf16);
    const bool training = cuda_detail::fused_attention_applies(2, 256, 768, 12, true);
    const bool scoring = cuda_detail::fused_attention_applies(2, 256, 768, 12, false);
    BOOST_TEST_MESSAGE("cuDNN fused attention: training " << training << ", scoring " << scoring << "; "
                                                          << cuda_detail::fused_attention_status());
    if (cuda_detail::context().sm_version() >= 90) {
        BOOST_TEST(training, cuda_detail::fused_attention_status());
        BOOST_TEST(scoring, cuda_detail::fused_attention_status());
    }
}

BOOST_AUTO_TEST_CASE(cross_entropy_matches_the_cpu_with_ignored_rows_and_in_place_gradient) {
    const std::int64_t M = 41, V = 50257;  // GPT-2's vocabulary: many elements per thread
    const auto logits = fresh(M * V, 4.0), dlosses = fresh(M);
    std::vector<std::int32_t> targets(M);
    Rng rng(8);
    for (auto& t : targets) t = static_cast<std::int32_t>(rng.below(V));
    targets[3] = targets[17] = -100;
    std::vector<float> losses(M), lse(M);
    cross_entropy_forward(Cpu{}, losses.data(), logits.data(), targets.data(), M, V, lse.data());
    auto g_logits = on_device(logits), g_dl = on_device(dlosses);
    auto g_targets = on_device(targets);
    Tensor<float, Cuda> g_losses(Shape{M}), g_lse(Shape{M});
    poison(g_losses), poison(g_lse);
    cross_entropy_forward(Cuda{}, g_losses.data(), g_logits.data(), g_targets.data(), M, V, g_lse.data());
    check_close("losses", on_host(g_losses), losses, 1e-5);
    check_close("lse", on_host(g_lse), lse, 1e-5);

    for (const bool with_lse : {true, false}) {
        BOOST_TEST_CONTEXT("lse given " << with_lse) {
            std::vector<float> dlogits(M * V);
            cross_entropy_backward(Cpu{}, dlogits.data(), logits.data(), targets.data(), dlosses.data(), M, V,
                                   with_lse ? lse.data() : nullptr);
            auto g_in_place = on_device(logits);  // dlogits written over the logits
            cross_entropy_backward(Cuda{}, g_in_place.data(), g_in_place.data(), g_targets.data(), g_dl.data(), M, V,
                                   with_lse ? g_lse.data() : nullptr);
            check_close("dlogits", on_host(g_in_place), dlogits, 1e-5);
        }
    }
}

BOOST_AUTO_TEST_CASE(adamw_steps_and_gradient_clipping_match_the_cpu) {
    const std::int64_t N = 100003;
    auto params = fresh(N), m = filled(N, 0.0f), v = filled(N, 0.0f);
    auto g_params = on_device(params), g_m = on_device(m), g_v = on_device(v);
    AdamWHyper h;
    h.lr = 1e-2f;
    h.weight_decay = 0.1f;
    for (std::int64_t step = 1; step <= 3; ++step) {
        const auto grads = fresh(N, 0.01);
        auto g_grads = on_device(grads);
        adamw_update(Cuda{}, g_params.data(), g_m.data(), g_v.data(), g_grads.data(), N, h, step);
        adamw_update(Cpu{}, params.data(), m.data(), v.data(), grads.data(), N, h, step);
    }
    check_close("params", on_host(g_params), params, 1e-6);
    check_close("m", on_host(g_m), m, 1e-6);
    check_close("v", on_host(g_v), v, 1e-6);

    for (const double max_norm : {0.0, 1e9, 0.5}) {
        BOOST_TEST_CONTEXT("max_norm " << max_norm) {
            const auto grads = fresh(N);
            Tensor<float, Cpu> host(Shape{N});
            std::copy(grads.begin(), grads.end(), host.data());
            auto dev = copy_to(Cuda{}, host);
            const double norm_gpu = clip_grad_norm(dev, max_norm), norm_cpu = clip_grad_norm(host, max_norm);
            BOOST_TEST(std::abs(norm_gpu - norm_cpu) <= 1e-9 * norm_cpu);
            check_close("clipped", on_host(dev), std::vector<float>(host.data(), host.data() + N), 1e-7);
        }
    }
}

BOOST_AUTO_TEST_CASE(rows_fills_copies_and_residuals_match_the_cpu) {
    const std::int64_t N = 12, C = 33, M = 5;
    const auto in = fresh(N * C), rows_in = fresh(M * C);
    const std::vector<std::int64_t> rows = {7, 0, 11, 3, 4};
    auto g_in = on_device(in), g_rows_in = on_device(rows_in);
    auto g_rows = on_device(rows);
    Tensor<float, Cuda> g_out(Shape{M * C});
    poison(g_out);
    std::vector<float> out(M * C);
    gather_rows(Cuda{}, g_out.data(), g_in.data(), g_rows.data(), M, C);
    gather_rows(Cpu{}, out.data(), in.data(), rows.data(), M, C);
    check_close("gather", on_host(g_out), out, 0.0);

    auto acc = fresh(N * C);
    auto g_acc = on_device(acc);
    scatter_add_rows(Cuda{}, g_acc.data(), g_rows_in.data(), g_rows.data(), M, C);
    scatter_add_rows(Cpu{}, acc.data(), rows_in.data(), rows.data(), M, C);
    check_close("scatter_add", on_host(g_acc), acc, 0.0);

    Tensor<float, Cuda> g_sum(Shape{N * C});
    poison(g_sum);
    std::vector<float> sum(N * C);
    residual_forward(Cuda{}, g_sum.data(), g_in.data(), g_acc.data(), N * C);
    residual_forward(Cpu{}, sum.data(), in.data(), acc.data(), N * C);
    check_close("residual", on_host(g_sum), sum, 0.0);
    auto da = fresh(N * C), db = fresh(N * C);
    auto g_da = on_device(da), g_db = on_device(db);
    residual_backward(Cuda{}, g_da.data(), g_db.data(), g_in.data(), N * C);
    residual_backward(Cpu{}, da.data(), db.data(), in.data(), N * C);
    check_close("residual da", on_host(g_da), da, 0.0);
    check_close("residual db", on_host(g_db), db, 0.0);

    poison(g_sum);
    copy_values(Cuda{}, g_sum.data(), g_in.data(), N * C);
    check_close("copy", on_host(g_sum), in, 0.0);
    fill_zero(Cuda{}, g_sum.data(), N * C);
    check_close("zero", on_host(g_sum), filled(N * C, 0.0f), 0.0);
}

BOOST_AUTO_TEST_CASE(tensors_move_between_devices_and_views_share_memory) {
    Tensor<float, Cpu> h(Shape{4, 6});
    for (std::int64_t i = 0; i < h.numel(); ++i) h.data()[i] = static_cast<float>(i);
    Tensor<float, Cuda> d = copy_to(Cuda{}, h);
    BOOST_TEST((d.shape() == h.shape()));
    const Tensor<float, Cuda> rows = d.slice(1, 2), copy = d.clone();
    BOOST_TEST(rows.data() == d.data() + 6);
    const auto back = copy_to(Cpu{}, copy);
    BOOST_TEST(std::memcmp(back.data(), h.data(), 24 * sizeof(float)) == 0);
    const auto middle = on_host(rows);
    BOOST_TEST(middle.front() == 6.0f);
    BOOST_TEST(middle.back() == 17.0f);
    Tensor<float, Cuda> fresh_tensor(Shape{1000});  // zero-filled, as host tensors are
    const auto zeros = on_host(fresh_tensor);
    BOOST_TEST(std::all_of(zeros.begin(), zeros.end(), [](float x) { return x == 0.0f; }));
}

BOOST_AUTO_TEST_CASE(failed_calls_throw_errors_that_name_the_call_and_the_file) {
    try {
        TOKCLEAN_CUDA_CHECK(cudaSetDevice(1 << 20));
        BOOST_FAIL("cudaSetDevice of a device that does not exist succeeded");
    } catch (const Error& e) {
        const std::string what = e.what();
        BOOST_TEST_MESSAGE(what);
        BOOST_TEST(what.find("cudaSetDevice") != std::string::npos);
        BOOST_TEST(what.find("test_cuda_ops.cu") != std::string::npos);
    }
    try {
        Tensor<float, Cuda> huge(Shape{std::int64_t{1} << 46});  // 256 TiB
        BOOST_FAIL("a 256 TiB allocation succeeded");
    } catch (const Error& e) {
        BOOST_TEST_MESSAGE(e.what());
        BOOST_TEST(std::string(e.what()).find("cudaMalloc") != std::string::npos);
    }
    // The device is still usable afterwards.
    const auto v = on_host(on_device(std::vector<float>{1.0f, 2.0f}));
    BOOST_TEST(v[1] == 2.0f);
}
