// Every CPU kernel's backward against finite differences of its forward, and forward
// values against direct formulas. Backward passes accumulate, so each check pre-fills the
// gradient buffers with a known value and subtracts it.
#define BOOST_TEST_MODULE backend_cpu
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "gradcheck.hpp"
#include "tokclean/backend/cpu.hpp"

using namespace tokclean;
using tokclean::test::check_gradient;
using tokclean::test::random_vector;
using tokclean::test::weighted_sum;

namespace {
constexpr float prefill = 0.25f;  // backward must add to this, not overwrite it

std::vector<float> minus_prefill(std::vector<float> g) {
    for (auto& x : g) x -= prefill;
    return g;
}
}  // namespace

BOOST_AUTO_TEST_CASE(matmul_all_transpose_combinations_and_accumulate) {
    const std::int64_t M = 5, N = 7, K = 3;
    const auto a = random_vector(M * K, 1), b = random_vector(K * N, 2);
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
            // Stored layouts: a is (M,K) or (K,M); b is (K,N) or (N,K).
            auto A = [&](std::int64_t i, std::int64_t k) { return ta ? a[k * M + i] : a[i * K + k]; };
            auto Bm = [&](std::int64_t k, std::int64_t j) { return tb ? b[j * K + k] : b[k * N + j]; };
            std::vector<float> out(M * N, 1.5f);
            matmul(Cpu{}, out.data(), a.data(), b.data(), M, N, K, Transpose(ta), Transpose(tb), true);
            for (std::int64_t i = 0; i < M; ++i)
                for (std::int64_t j = 0; j < N; ++j) {
                    double ref = 1.5;
                    for (std::int64_t k = 0; k < K; ++k) ref += double(A(i, k)) * Bm(k, j);
                    BOOST_TEST(out[i * N + j] == ref, boost::test_tools::tolerance(1e-5));
                }
            matmul(Cpu{}, out.data(), a.data(), b.data(), M, N, K, Transpose(ta), Transpose(tb), false);
            double ref00 = 0.0;
            for (std::int64_t k = 0; k < K; ++k) ref00 += double(A(0, k)) * Bm(k, 0);
            BOOST_TEST(out[0] == ref00, boost::test_tools::tolerance(1e-5));
        }
}

BOOST_AUTO_TEST_CASE(linear_backward_matches_finite_differences) {
    const std::int64_t N = 4, IC = 5, OC = 3;
    auto inp = random_vector(N * IC, 3), w = random_vector(IC * OC, 4), bias = random_vector(OC, 5);
    const auto R = random_vector(N * OC, 6);
    std::vector<float> out(N * OC);
    auto loss = [&] {
        linear_forward(Cpu{}, out.data(), inp.data(), w.data(), bias.data(), N, IC, OC);
        return weighted_sum(out, R);
    };
    std::vector<float> dinp(N * IC, prefill), dw(IC * OC, prefill), db(OC, prefill);
    linear_backward(Cpu{}, dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(), N, IC, OC);
    check_gradient("dinp", inp, minus_prefill(dinp), loss);
    check_gradient("dweight", w, minus_prefill(dw), loss);
    check_gradient("dbias", bias, minus_prefill(db), loss);
}

BOOST_AUTO_TEST_CASE(embedding_backward_matches_finite_differences) {
    const std::int64_t B = 2, T = 3, C = 4, V = 5, maxT = 6;
    const std::vector<std::int32_t> ids = {1, 3, 1, 4, 1, 0};  // token 1 repeats: sums must add
    auto wte = random_vector(V * C, 7), wpe = random_vector(maxT * C, 8);
    const auto R = random_vector(B * T * C, 9);
    std::vector<float> out(B * T * C);
    auto loss = [&] {
        embedding_forward(Cpu{}, out.data(), ids.data(), wte.data(), wpe.data(), B, T, C);
        return weighted_sum(out, R);
    };
    std::vector<float> dwte(V * C, prefill), dwpe(maxT * C, prefill);
    embedding_backward(Cpu{}, dwte.data(), dwpe.data(), R.data(), ids.data(), B, T, C);
    check_gradient("dwte", wte, minus_prefill(dwte), loss);
    check_gradient("dwpe", wpe, minus_prefill(dwpe), loss);
}

BOOST_AUTO_TEST_CASE(layernorm_forward_normalises_and_backward_matches) {
    const std::int64_t N = 3, C = 8;
    auto inp = random_vector(N * C, 10, 2.0), w = random_vector(C, 11), b = random_vector(C, 12);
    const auto R = random_vector(N * C, 13);
    std::vector<float> out(N * C), mean(N), rstd(N);
    auto loss = [&] {
        layernorm_forward(Cpu{}, out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5f);
        return weighted_sum(out, R);
    };
    loss();
    for (std::int64_t i = 0; i < N; ++i) {  // forward against the textbook formula in double
        double m = 0, v = 0;
        for (std::int64_t c = 0; c < C; ++c) m += inp[i * C + c];
        m /= C;
        for (std::int64_t c = 0; c < C; ++c) v += (inp[i * C + c] - m) * (inp[i * C + c] - m);
        v /= C;
        for (std::int64_t c = 0; c < C; ++c) {
            const double ref = (inp[i * C + c] - m) / std::sqrt(v + 1e-5) * w[c] + b[c];
            BOOST_TEST(out[i * C + c] == ref, boost::test_tools::tolerance(1e-4));
        }
    }
    std::vector<float> dinp(N * C, prefill), dw(C, prefill), db(C, prefill);
    layernorm_backward(Cpu{}, dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(),
                       mean.data(), rstd.data(), N, C);
    check_gradient("dinp", inp, minus_prefill(dinp), loss);
    check_gradient("dweight", w, minus_prefill(dw), loss);
    check_gradient("dbias", b, minus_prefill(db), loss);
}

BOOST_AUTO_TEST_CASE(gelu_is_the_tanh_form_and_backward_matches) {
    const std::int64_t N = 16;
    auto inp = random_vector(N, 14, 2.0);
    const auto R = random_vector(N, 15);
    std::vector<float> out(N);
    auto loss = [&] {
        gelu_forward(Cpu{}, out.data(), inp.data(), N);
        return weighted_sum(out, R);
    };
    loss();
    for (std::int64_t i = 0; i < N; ++i) {
        const double x = inp[i];
        const double ref = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        BOOST_TEST(out[i] == ref, boost::test_tools::tolerance(1e-5));
    }
    std::vector<float> dinp(N, prefill);
    gelu_backward(Cpu{}, dinp.data(), inp.data(), R.data(), N);
    check_gradient("dinp", inp, minus_prefill(dinp), loss);
}

BOOST_AUTO_TEST_CASE(residual_backward_matches_finite_differences) {
    const std::int64_t N = 6;
    auto a = random_vector(N, 16), b = random_vector(N, 17);
    const auto R = random_vector(N, 18);
    std::vector<float> out(N);
    auto loss = [&] {
        residual_forward(Cpu{}, out.data(), a.data(), b.data(), N);
        return weighted_sum(out, R);
    };
    std::vector<float> da(N, prefill), db(N, prefill);
    residual_backward(Cpu{}, da.data(), db.data(), R.data(), N);
    check_gradient("da", a, minus_prefill(da), loss);
    check_gradient("db", b, minus_prefill(db), loss);
}

BOOST_AUTO_TEST_CASE(attention_is_causal_and_backward_matches) {
    const std::int64_t B = 2, T = 5, NH = 2, C = 6, hs = C / NH;
    auto qkv = random_vector(B * T * 3 * C, 19);
    const auto R = random_vector(B * T * C, 20);
    std::vector<float> out(B * T * C), att(B * NH * T * T);
    auto loss = [&] {
        attention_forward(Cpu{}, out.data(), att.data(), qkv.data(), B, T, C, NH);
        return weighted_sum(out, R);
    };
    loss();
    // Forward against a direct per-(b, h, t) computation in double.
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t h = 0; h < NH; ++h)
            for (std::int64_t t = 0; t < T; ++t) {
                auto at = [&](std::int64_t pos, std::int64_t part, std::int64_t d) {
                    return double(qkv[(b * T + pos) * 3 * C + part * C + h * hs + d]);
                };
                std::vector<double> p(t + 1);
                double mx = -1e30, sum = 0;
                for (std::int64_t s = 0; s <= t; ++s) {
                    double dot = 0;
                    for (std::int64_t d = 0; d < hs; ++d) dot += at(t, 0, d) * at(s, 1, d);
                    p[s] = dot / std::sqrt(double(hs));
                    mx = std::max(mx, p[s]);
                }
                for (auto& x : p) sum += (x = std::exp(x - mx));
                for (std::int64_t d = 0; d < hs; ++d) {
                    double ref = 0;
                    for (std::int64_t s = 0; s <= t; ++s) ref += p[s] / sum * at(s, 2, d);
                    BOOST_TEST(out[(b * T + t) * C + h * hs + d] == ref, boost::test_tools::tolerance(1e-4));
                }
                for (std::int64_t s = t + 1; s < T; ++s)
                    BOOST_TEST(att[((b * NH + h) * T + t) * T + s] == 0.0f);
            }
    std::vector<float> dqkv(B * T * 3 * C, prefill);
    attention_backward(Cpu{}, dqkv.data(), R.data(), qkv.data(), att.data(), B, T, C, NH);
    check_gradient("dqkv", qkv, minus_prefill(dqkv), loss);
}

BOOST_AUTO_TEST_CASE(cross_entropy_ignores_label_and_backward_matches) {
    const std::int64_t M = 4, V = 7;
    auto logits = random_vector(M * V, 21, 2.0);
    const std::vector<std::int32_t> targets = {3, -100, 0, 6};
    const std::vector<float> dlosses = {0.5f, 0.7f, -1.0f, 2.0f};
    std::vector<float> losses(M);
    auto loss = [&] {
        cross_entropy_forward(Cpu{}, losses.data(), logits.data(), targets.data(), M, V);
        return weighted_sum(losses, dlosses);
    };
    loss();
    BOOST_TEST(losses[1] == 0.0f);
    for (std::int64_t m : {0, 2, 3}) {
        double lse = 0;
        for (std::int64_t v = 0; v < V; ++v) lse += std::exp(double(logits[m * V + v]));
        BOOST_TEST(losses[m] == std::log(lse) - logits[m * V + targets[m]], boost::test_tools::tolerance(1e-5));
    }
    std::vector<float> dlogits(M * V);
    cross_entropy_backward(Cpu{}, dlogits.data(), logits.data(), targets.data(), dlosses.data(), M, V);
    for (std::int64_t v = 0; v < V; ++v) BOOST_TEST(dlogits[1 * V + v] == 0.0f);
    check_gradient("dlogits", logits, dlogits, loss);
}

BOOST_AUTO_TEST_CASE(rows_gather_and_scatter_are_adjoint) {
    const std::int64_t N = 5, C = 3, M = 2;
    const auto in = random_vector(N * C, 22);
    const std::vector<std::int64_t> rows = {4, 1};
    std::vector<float> g(M * C);
    gather_rows(Cpu{}, g.data(), in.data(), rows.data(), M, C);
    for (std::int64_t c = 0; c < C; ++c) {
        BOOST_TEST(g[c] == in[4 * C + c]);
        BOOST_TEST(g[C + c] == in[1 * C + c]);
    }
    std::vector<float> out(N * C, prefill);
    scatter_add_rows(Cpu{}, out.data(), g.data(), rows.data(), M, C);
    for (std::int64_t c = 0; c < C; ++c) {
        BOOST_TEST(out[4 * C + c] == prefill + in[4 * C + c]);
        BOOST_TEST(out[0 * C + c] == prefill);
    }
}
