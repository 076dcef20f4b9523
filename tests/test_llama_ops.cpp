// The CPU ops of the Llama family (RMSNorm, RoPE, SwiGLU, grouped-query attention): forward
// values against direct formulas in double, every backward against finite differences of its
// forward, the RoPE tables against numbers made by torch as Hugging Face transformers makes
// them, results independent of the thread count, and the AVX-512 kernels against the portable
// ones. Backward passes that accumulate are checked over a pre-filled buffer.
#define BOOST_TEST_MODULE llama_ops
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <omp.h>

#include "gradcheck.hpp"
#include "tokclean/backend/cpu.hpp"
#include "tokclean/core/cpu_features.hpp"
#include "tokclean/nn/rope.hpp"

using namespace tokclean;
using tokclean::test::check_gradient;
using tokclean::test::random_vector;
using tokclean::test::weighted_sum;
using tokclean::test::bit_identical;
using tokclean::test::minus_prefill;
using tokclean::test::prefill;
using tokclean::test::with_threads;

namespace {

// |x - y| <= rel · |y| + abs for every element.
bool close(const std::vector<float>& x, const std::vector<float>& y, double rel, double abs = 0.0) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (!(std::abs(double(x[i]) - y[i]) <= rel * std::abs(double(y[i])) + abs)) return false;
    return true;
}

// Distance in units in the last place of `expect`.
double ulps(float got, float expect) {
    const float a = std::abs(expect);
    const float ulp = std::nextafter(a, std::numeric_limits<float>::infinity()) - a;
    return std::abs(double(got) - expect) / ulp;
}
}  // namespace

// --- RMSNorm --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(rmsnorm_normalises_and_backward_matches) {
    const std::int64_t N = 4, C = 19;  // a partial last vector
    auto inp = random_vector(N * C, 1, 2.0), w = random_vector(C, 2);
    const auto R = random_vector(N * C, 3);
    const float eps = 1e-6f;
    std::vector<float> out(N * C), rstd(N);
    auto loss = [&] {
        rmsnorm_forward(Cpu{}, out.data(), rstd.data(), inp.data(), w.data(), N, C, eps);
        return weighted_sum(out, R);
    };
    loss();
    for (std::int64_t n = 0; n < N; ++n) {  // x / sqrt(mean(x²) + eps) · w in double
        double ms = 0;
        for (std::int64_t c = 0; c < C; ++c) ms += double(inp[n * C + c]) * inp[n * C + c];
        const double r = 1.0 / std::sqrt(ms / C + eps);
        BOOST_TEST(rstd[n] == r, boost::test_tools::tolerance(1e-6));
        for (std::int64_t c = 0; c < C; ++c)
            BOOST_TEST(out[n * C + c] == inp[n * C + c] * r * w[c], boost::test_tools::tolerance(1e-5));
    }
    std::vector<float> dinp(N * C, prefill), dw(C, prefill);
    rmsnorm_backward(Cpu{}, dinp.data(), dw.data(), R.data(), inp.data(), w.data(), rstd.data(), N, C);
    check_gradient("dinp", inp, minus_prefill(dinp), loss);
    check_gradient("dweight", w, minus_prefill(dw), loss);
    // dinp written over: the accumulated gradient's increment; dweight accumulates regardless.
    std::vector<float> over(N * C, 123.0f), dw2 = dw;
    rmsnorm_backward(Cpu{}, over.data(), dw2.data(), R.data(), inp.data(), w.data(), rstd.data(), N, C, 1, -1,
                     GradWrite::overwrite);
    BOOST_TEST(close(over, minus_prefill(dinp), 1e-5, 1e-6));
    for (std::int64_t c = 0; c < C; ++c)
        BOOST_TEST(dw2[c] - dw[c] == dw[c] - prefill, boost::test_tools::tolerance(1e-4f));
}

BOOST_AUTO_TEST_CASE(rmsnorm_over_heads_inside_qkv_rows) {
    // Qwen3's q norm: NH = 3 heads of hd = 20 at the start of qkv rows of (NH + 2·KVH)·hd
    // floats (KVH = 1); its k norm: the next KVH heads. The other floats of out stay as they
    // were, and their gradient is 0.
    const std::int64_t N = 5, NH = 3, KVH = 1, hd = 20, stride = (NH + 2 * KVH) * hd;
    auto qkv = random_vector(N * stride, 4, 1.5);
    auto w = random_vector(hd, 5);
    const auto R = random_vector(N * stride, 6);
    constexpr float stale = 7.0f;
    std::vector<float> out(N * stride, stale), rstd(N * NH);
    auto loss = [&] {
        rmsnorm_forward(Cpu{}, out.data(), rstd.data(), qkv.data(), w.data(), N, hd, 1e-6f, NH, stride);
        return weighted_sum(out, R);
    };
    loss();
    for (std::int64_t n = 0; n < N; ++n) {
        for (std::int64_t h = 0; h < NH; ++h) {
            const float* x = qkv.data() + n * stride + h * hd;
            double ms = 0;
            for (std::int64_t i = 0; i < hd; ++i) ms += double(x[i]) * x[i];
            const double r = 1.0 / std::sqrt(ms / hd + 1e-6);
            BOOST_TEST(rstd[n * NH + h] == r, boost::test_tools::tolerance(1e-6));
            for (std::int64_t i = 0; i < hd; ++i)
                BOOST_TEST(out[n * stride + h * hd + i] == x[i] * r * w[i], boost::test_tools::tolerance(1e-5));
        }
        for (std::int64_t i = NH * hd; i < stride; ++i) BOOST_TEST(out[n * stride + i] == stale);
    }
    std::vector<float> dqkv(N * stride, prefill), dw(hd, prefill);
    rmsnorm_backward(Cpu{}, dqkv.data(), dw.data(), R.data(), qkv.data(), w.data(), rstd.data(), N, hd, NH, stride);
    check_gradient("dqkv", qkv, minus_prefill(dqkv), loss);
    check_gradient("dweight", w, minus_prefill(dw), loss);
    // The k heads, with the pointer offset to them and overwriting: the other floats untouched.
    std::vector<float> kout(N * stride, stale), krstd(N * KVH), dk(N * stride, stale), dwk(hd, 0.0f);
    rmsnorm_forward(Cpu{}, kout.data() + NH * hd, krstd.data(), qkv.data() + NH * hd, w.data(), N, hd, 1e-6f, KVH,
                    stride);
    rmsnorm_backward(Cpu{}, dk.data() + NH * hd, dwk.data(), R.data() + NH * hd, qkv.data() + NH * hd, w.data(),
                     krstd.data(), N, hd, KVH, stride, GradWrite::overwrite);
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < stride; ++i) {
            const bool k_head = i >= NH * hd && i < (NH + KVH) * hd;
            BOOST_TEST((kout[n * stride + i] != stale) == k_head);
            BOOST_TEST((dk[n * stride + i] != stale) == k_head);
        }
}

// --- RoPE -----------------------------------------------------------------------------------

namespace {
// x (B, T, stride) with the heads from column `off` rotated in double as rope_forward documents.
std::vector<double> rope_reference(const std::vector<float>& x, const RopeTables& tab, std::int64_t B,
                                   std::int64_t T, std::int64_t heads, std::int64_t hd, std::int64_t stride,
                                   std::int64_t off) {
    std::vector<double> y(x.begin(), x.end());
    const std::int64_t half = hd / 2;
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t h = 0; h < heads; ++h)
                for (std::int64_t i = 0; i < half; ++i) {
                    const std::int64_t at = (b * T + t) * stride + off + h * hd + i;
                    const double a = x[at], bb = x[at + half];
                    const double c = tab.cos[t * half + i], s = tab.sin[t * half + i];
                    y[at] = a * c - bb * s;
                    y[at + half] = bb * c + a * s;
                }
    return y;
}
}  // namespace

BOOST_AUTO_TEST_CASE(rope_rotates_pairs_and_backward_is_its_adjoint) {
    // Heads of hd = 40 (a partial vector of 20 pairs) inside wider rows: 3 heads from column
    // 2·hd of 7-head rows, as the k heads of a qkv row.
    const std::int64_t B = 2, T = 6, heads = 3, hd = 40, stride = 7 * hd, off = 2 * hd;
    const RopeTables tab = rope_tables(rope_inv_freq(hd, 10000.0, {}), T);
    auto x = random_vector(B * T * stride, 7);
    const auto y = random_vector(B * T * stride, 8);
    std::vector<float> rx = x;
    rope_forward(Cpu{}, rx.data() + off, tab.cos.data(), tab.sin.data(), B, T, heads, hd, stride);
    const auto ref = rope_reference(x, tab, B, T, heads, hd, stride, off);
    for (std::int64_t i = 0; i < B * T * stride; ++i) {
        const std::int64_t col = i % stride;
        if (col < off || col >= off + heads * hd) BOOST_TEST(rx[i] == x[i]);  // outside the heads: untouched
        else BOOST_TEST(std::abs(rx[i] - ref[i]) <= 1e-6 * (1.0 + std::abs(ref[i])));
    }
    // <rope(x), y> = <x, rope_backward(y)>, and rope_backward undoes rope_forward (a rotation).
    std::vector<float> ry = y;
    rope_backward(Cpu{}, ry.data() + off, tab.cos.data(), tab.sin.data(), B, T, heads, hd, stride);
    double lhs = 0, rhs = 0, scale = 0;
    for (std::int64_t i = 0; i < B * T * stride; ++i) {
        lhs += double(rx[i]) * y[i];
        rhs += double(x[i]) * ry[i];
        scale += std::abs(double(x[i]) * y[i]);
    }
    BOOST_TEST(std::abs(lhs - rhs) <= 1e-6 * scale);
    std::vector<float> back = rx;
    rope_backward(Cpu{}, back.data() + off, tab.cos.data(), tab.sin.data(), B, T, heads, hd, stride);
    BOOST_TEST(close(back, x, 1e-6, 1e-6));
    // And against finite differences of the forward, as every backward.
    auto loss = [&] {
        std::vector<float> r = x;
        rope_forward(Cpu{}, r.data() + off, tab.cos.data(), tab.sin.data(), B, T, heads, hd, stride);
        return weighted_sum(r, y);
    };
    check_gradient("dx", x, ry, loss);
}

// Expected values made with torch 1.13 (float32, CPU) by the formulas of transformers'
// modeling_rope_utils.py and LlamaRotaryEmbedding.forward:
//   def inv_freq(dim, base, factor=None, low=1.0, high=4.0, old=8192):
//       inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
//       if factor is None: return inv
//       wavelen = 2 * math.pi / inv
//       llama = torch.where(wavelen > old / low, inv / factor, inv)
//       smooth = (old / wavelen - low) / (high - low)
//       smoothed = (1 - smooth) * llama / factor + smooth * llama
//       medium = ~(wavelen < old / high) * ~(wavelen > old / low)
//       return torch.where(medium, smoothed, llama)
//   def table(inv, t):  # row t of cos, sin
//       freqs = (inv[None, :, None] @ torch.tensor([[float(t)]])[:, None, :]).transpose(1, 2)[0, 0]
//       return freqs.cos(), freqs.sin()
//   print(", ".join("%.9gf" % x for x in inv_freq(64, 10000.0).tolist()))   # and so on
namespace {
// inv_freq(64, 10000.0): Llama 2's theta, Llama 3.2 1B's head size.
const std::vector<float> torch_plain = {
    1.f,           0.749894202f,  0.562341332f,  0.421696514f,  0.316227764f,  0.237137362f,  0.177827939f,
    0.133352146f,  0.100000001f,  0.0749894157f, 0.0562341288f, 0.0421696492f, 0.0316227786f, 0.0237137359f,
    0.0177827943f, 0.0133352149f, 0.00999999978f, 0.00749894232f, 0.00562341325f, 0.00421696482f, 0.00316227786f,
    0.00237137382f, 0.00177827943f, 0.00133352145f, 0.00100000005f, 0.000749894185f, 0.000562341302f,
    0.000421696488f, 0.000316227786f, 0.000237137385f, 0.00017782794f, 0.00013335215f};
// inv_freq(64, 500000.0, 8.0): Llama 3.1's rule on a 64-wide head.
const std::vector<float> torch_llama3_factor8 = {
    1.f,           0.663601279f,  0.440366626f,  0.292227834f,  0.193922758f,  0.128687382f,  0.0853971019f,
    0.0566696189f, 0.0376060307f, 0.0249554086f, 0.0165604409f, 0.0109895291f, 0.00729266508f, 0.00483942125f,
    0.00321144611f, 0.00137189368f, 0.000524846022f, 0.000178507791f, 7.78465546e-05f, 5.16590699e-05f,
    3.42810235e-05f, 2.2748929e-05f, 1.50962178e-05f, 1.00178686e-05f, 6.64786967e-06f, 4.41153452e-06f,
    2.92749974e-06f, 1.94269251e-06f, 1.28917316e-06f, 8.55496921e-07f, 5.6770881e-07f, 3.7673226e-07f};
// inv_freq(64, 500000.0, 32.0): Llama 3.2 1B.
const std::vector<float> torch_llama3_factor32 = {
    1.f,           0.663601279f,  0.440366626f,  0.292227834f,  0.193922758f,  0.128687382f,  0.0853971019f,
    0.0566696189f, 0.0376060307f, 0.0249554086f, 0.0165604409f, 0.0109895291f, 0.00729266508f, 0.00483942125f,
    0.00321144611f, 0.00129054801f, 0.000429556705f, 9.70828623e-05f, 1.94616387e-05f, 1.29147675e-05f,
    8.57025589e-06f, 5.68723226e-06f, 3.77405445e-06f, 2.50446715e-06f, 1.66196742e-06f, 1.10288363e-06f,
    7.31874934e-07f, 4.85673127e-07f, 3.22293289e-07f, 2.1387423e-07f, 1.41927202e-07f, 9.41830649e-08f};
// inv_freq(32, 10000.0, 4.0, low=2.0, high=8.0, old=256): every field of the rule off its default.
const std::vector<float> torch_llama3_other = {
    1.f,           0.562341332f,  0.316227764f,  0.161053479f,  0.0509295836f, 0.0161053445f, 0.00790569466f,
    0.00444569858f, 0.00249999994f, 0.00140585331f, 0.000790569466f, 0.000444569858f, 0.000250000012f,
    0.000140585325f, 7.90569466e-05f, 4.44569851e-05f};

// Within 1 ulp of torch: its vectorised pow and cos (SLEEF, 1-ulp functions) may round the
// other way from the C library's where the exact value is close to half-way.
void check_within_one_ulp(const char* what, const std::vector<float>& got, const std::vector<float>& expect) {
    BOOST_TEST_CONTEXT(what) {
        BOOST_REQUIRE_EQUAL(got.size(), expect.size());
        for (std::size_t j = 0; j < got.size(); ++j)
            BOOST_TEST(ulps(got[j], expect[j]) <= 1.0, "j " << j << ": " << got[j] << " vs torch " << expect[j]);
    }
}
}  // namespace

BOOST_AUTO_TEST_CASE(rope_inv_freq_is_transformers_default_and_llama3_rule) {
    check_within_one_ulp("theta 1e4", rope_inv_freq(64, 10000.0, {}), torch_plain);
    RopeScaling s8{true, 8.0, 1.0, 4.0, 8192}, s32 = s8;
    s32.factor = 32.0;
    const auto f8 = rope_inv_freq(64, 500000.0, s8), f32 = rope_inv_freq(64, 500000.0, s32);
    check_within_one_ulp("llama3 factor 8", f8, torch_llama3_factor8);
    check_within_one_ulp("llama3 factor 32", f32, torch_llama3_factor32);
    check_within_one_ulp("llama3 low 2 high 8 original 256 factor 4",
                         rope_inv_freq(32, 10000.0, RopeScaling{true, 4.0, 2.0, 8.0, 256}), torch_llama3_other);
    // How 32 differs from 8: the same short wavelengths, the long ones 4 times slower (exact:
    // division by a power of 2), the band between neither.
    const auto plain = rope_inv_freq(64, 500000.0, {});
    int same = 0, quarter = 0, between = 0;
    for (std::size_t j = 0; j < plain.size(); ++j) {
        const double wavelen = 2 * M_PI / plain[j];
        if (wavelen < 8192.0 / 4.0) {
            same += f8[j] == plain[j] && f32[j] == plain[j];
        } else if (wavelen > 8192.0) {
            quarter += f32[j] == f8[j] / 4.0f && f8[j] == plain[j] / 8.0f;
        } else {
            between += f32[j] < f8[j] && f8[j] < plain[j] && f32[j] > plain[j] / 32.0f;
        }
    }
    // 2π · 500000^(j/32) against 2048 and 8192: j <= 14 short, j >= 18 long.
    BOOST_TEST(same == 15);
    BOOST_TEST(quarter == 14);
    BOOST_TEST(between == 3);
}

BOOST_AUTO_TEST_CASE(rope_tables_are_torchs_cos_and_sin) {
    // Rows t of table(torch_plain, t) and table(torch_llama3_factor32, 8191), columns 0, 5, .. 30.
    struct Row {
        const std::vector<float>* inv;
        std::int64_t t;
        std::vector<float> cos, sin;
    };
    const std::vector<Row> rows = {
        {&torch_plain, 1,
         {0.540302336f, 0.972014487f, 0.998419285f, 0.99991107f, 0.999994993f, 0.999999702f, 1.f},
         {0.841470957f, 0.234921068f, 0.0562044941f, 0.01333482f, 0.00316227251f, 0.000749894127f, 0.00017782794f}},
        {&torch_plain, 7,
         {0.753902256f, -0.0890471488f, 0.923519492f, 0.995646358f, 0.999755025f, 0.999986231f, 0.999999225f},
         {0.656986594f, 0.99602741f, 0.383551538f, 0.0932110026f, 0.0221341364f, 0.00524923485f, 0.00124479528f}},
        {&torch_plain, 1000,
         {0.562379062f, -0.0528610758f, 0.950938582f, 0.718714893f, -0.999786079f, 0.731760979f, 0.98423022f},
         {0.826879561f, -0.998601854f, -0.309379756f, 0.695304871f, -0.0206838083f, 0.681561351f, 0.176892191f}},
        {&torch_plain, 4095,
         {-0.0659759939f, -0.947527826f, -0.587768018f, -0.361771375f, 0.927488983f, -0.997496426f, 0.746369958f},
         {-0.997821212f, -0.31967333f, -0.80902952f, -0.932266831f, 0.373850524f, 0.0707168207f, 0.665531278f}},
        {&torch_llama3_factor32, 8191,
         {-0.646390498f, 0.0739662498f, -0.848267138f, -0.412043184f, 0.997537076f, 0.99995923f, 0.999999344f},
         {-0.763006806f, -0.997260749f, -0.529568493f, -0.911164343f, 0.0701413304f, 0.00903359707f,
          0.0011625255f}},
    };
    for (const Row& r : rows) {
        const RopeTables tab = rope_tables(*r.inv, r.t + 1);
        BOOST_TEST(tab.half == 32);
        BOOST_TEST(tab.cos.size() == std::size_t((r.t + 1) * 32));
        std::vector<float> c, s;
        for (std::int64_t j = 0; j < 32; j += 5) {
            c.push_back(tab.cos[r.t * 32 + j]);
            s.push_back(tab.sin[r.t * 32 + j]);
        }
        BOOST_TEST_CONTEXT("t " << r.t) {
            check_within_one_ulp("cos", c, r.cos);
            check_within_one_ulp("sin", s, r.sin);
        }
    }
}

// --- SwiGLU ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(swiglu_is_silu_gate_times_up_and_backward_matches) {
    const std::int64_t N = 3, I = 21;
    auto gu = random_vector(N * 2 * I, 9, 2.0);
    const auto R = random_vector(N * I, 10);
    std::vector<float> out(N * I);
    auto loss = [&] {
        swiglu_forward(Cpu{}, out.data(), gu.data(), N, I);
        return weighted_sum(out, R);
    };
    loss();
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < I; ++i) {
            const double g = gu[n * 2 * I + i], u = gu[n * 2 * I + I + i];
            BOOST_TEST(out[n * I + i] == g / (1 + std::exp(-g)) * u, boost::test_tools::tolerance(1e-6));
        }
    std::vector<float> dgu(N * 2 * I, 123.0f);  // written over by default
    swiglu_backward(Cpu{}, dgu.data(), gu.data(), R.data(), N, I);
    check_gradient("dgate_up", gu, dgu, loss);
    std::vector<float> acc(N * 2 * I, prefill);
    swiglu_backward(Cpu{}, acc.data(), gu.data(), R.data(), N, I, GradWrite::accumulate);
    BOOST_TEST(close(minus_prefill(acc), dgu, 1e-6, 1e-7));
}

BOOST_AUTO_TEST_CASE(swiglu_keeps_its_relative_accuracy_over_the_whole_range) {
    // silu(g) · 1 and its derivative against double over [-87, 87] (where silu is a normal
    // float), and small and finite past it; 4101 values, SIMD body and tail.
    const std::int64_t I = 4101;
    std::vector<float> gu(2 * I, 1.0f), out(I), d(2 * I), ones(I, 1.0f);
    for (std::int64_t i = 0; i < I; ++i) gu[i] = -87.0f + 174.0f * float(i) / float(I - 1);
    swiglu_forward(Cpu{}, out.data(), gu.data(), 1, I);
    swiglu_backward(Cpu{}, d.data(), gu.data(), ones.data(), 1, I);
    for (std::int64_t i = 0; i < I; ++i) {
        const double g = gu[i], s = 1 / (1 + std::exp(-g));
        BOOST_TEST_CONTEXT("g = " << g) {
            BOOST_TEST(std::abs(out[i] - g * s) <= 1e-6 * std::abs(g * s));
            BOOST_TEST(std::abs(d[I + i] - g * s) <= 1e-6 * std::abs(g * s));  // d/dup
            // silu'(g) = s (1 + g (1 - s)) crosses 0 near g = -1.28: relative to its terms' size.
            const double slope = s * (1 + g * (1 - s));
            BOOST_TEST(std::abs(d[i] - slope) <= 1e-6 * s * (1 + std::abs(g) * (1 - s)));
        }
    }
    std::vector<float> far = {-200.0f, -100.0f, -88.5f, 88.5f, 100.0f, 200.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
    std::vector<float> far_out(6);
    swiglu_forward(Cpu{}, far_out.data(), far.data(), 1, 6);
    for (int i = 0; i < 3; ++i) BOOST_TEST((far_out[i] <= 0.0f && far_out[i] > -1e-35f));
    for (int i = 3; i < 6; ++i) BOOST_TEST(far_out[i] == far[i]);
}

// --- Grouped-query attention ----------------------------------------------------------------

namespace {
// Forward against a direct double computation (query head h on kv head h / (NH / KVH)), the
// scoring form against the training form bit for bit, backward against finite differences.
void check_gqa(std::int64_t B, std::int64_t T, AttentionHeads heads) {
    const std::int64_t NH = heads.query, KVH = heads.kv, hd = heads.dim, ld = (NH + 2 * KVH) * hd, ldo = NH * hd;
    auto qkv = random_vector(B * T * ld, 11);
    const auto R = random_vector(B * T * ldo, 12);
    std::vector<float> out(B * T * ldo), att(B * NH * T * T, 7.0f);  // 7: stale values above the diagonal
    auto loss = [&] {
        attention_forward(Cpu{}, out.data(), att.data(), qkv.data(), B, T, heads);
        return weighted_sum(out, R);
    };
    loss();
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t h = 0; h < NH; ++h)
            for (std::int64_t t = 0; t < T; ++t) {
                const std::int64_t kvh = h / (NH / KVH);
                auto at = [&](std::int64_t pos, std::int64_t col) { return double(qkv[(b * T + pos) * ld + col]); };
                const std::int64_t qc = h * hd, kc = (NH + kvh) * hd, vc = (NH + KVH + kvh) * hd;
                std::vector<double> p(t + 1);
                double mx = -1e30, sum = 0;
                for (std::int64_t s = 0; s <= t; ++s) {
                    double dot = 0;
                    for (std::int64_t d = 0; d < hd; ++d) dot += at(t, qc + d) * at(s, kc + d);
                    p[s] = dot / std::sqrt(double(hd));
                    mx = std::max(mx, p[s]);
                }
                for (auto& x : p) sum += (x = std::exp(x - mx));
                for (std::int64_t d = 0; d < hd; ++d) {
                    double ref = 0, scale = 0;  // scale: Σ p |v|, against cancellation near 0
                    for (std::int64_t s = 0; s <= t; ++s) {
                        ref += p[s] / sum * at(s, vc + d);
                        scale += p[s] / sum * std::abs(at(s, vc + d));
                    }
                    BOOST_TEST(std::abs(out[(b * T + t) * ldo + h * hd + d] - ref) <= 1e-5 * scale);
                }
                for (std::int64_t s = t + 1; s < T; ++s) BOOST_TEST(att[((b * NH + h) * T + t) * T + s] == 0.0f);
            }
    std::vector<float> scored(B * T * ldo);
    attention_forward(Cpu{}, scored.data(), nullptr, qkv.data(), B, T, heads);
    BOOST_TEST(bit_identical(scored, out));
    std::vector<float> dqkv(B * T * ld, prefill);
    attention_backward(Cpu{}, dqkv.data(), R.data(), qkv.data(), att.data(), B, T, heads);
    check_gradient("dqkv", qkv, minus_prefill(dqkv), loss);
}
}  // namespace

BOOST_AUTO_TEST_CASE(grouped_query_attention_matches_reference_and_backward_matches) {
    // Head widths unrelated to any model width; two and four query heads per kv head.
    BOOST_TEST_CONTEXT("NH 4, KVH 2") { check_gqa(2, 5, {4, 2, 6}); }
    BOOST_TEST_CONTEXT("NH 4, KVH 1") { check_gqa(1, 6, {4, 1, 5}); }
    // Several query blocks of 32 rows, the last one partial.
    BOOST_TEST_CONTEXT("NH 4, KVH 2, T 40") { check_gqa(1, 40, {4, 2, 4}); }
}

BOOST_AUTO_TEST_CASE(multi_head_attention_is_the_grouped_form_with_one_head_per_group) {
    // GPT-2's signature and {NH, NH, C / NH}: one kernel, the same bytes.
    const std::int64_t B = 2, T = 37, NH = 3, C = 24;
    const auto qkv = random_vector(B * T * 3 * C, 13), dout = random_vector(B * T * C, 14);
    std::vector<float> o1(B * T * C), o2(B * T * C), a1(B * NH * T * T), a2(B * NH * T * T);
    attention_forward(Cpu{}, o1.data(), a1.data(), qkv.data(), B, T, C, NH);
    attention_forward(Cpu{}, o2.data(), a2.data(), qkv.data(), B, T, AttentionHeads{NH, NH, C / NH});
    BOOST_TEST(bit_identical(o1, o2));
    BOOST_TEST(bit_identical(a1, a2));
    std::vector<float> d1(B * T * 3 * C, prefill), d2 = d1;
    attention_backward(Cpu{}, d1.data(), dout.data(), qkv.data(), a1.data(), B, T, C, NH);
    attention_backward(Cpu{}, d2.data(), dout.data(), qkv.data(), a1.data(), B, T, AttentionHeads{NH, NH, C / NH});
    BOOST_TEST(bit_identical(d1, d2));
}

// --- Thread counts --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
    // Enough rows and heads to spread over 2 threads: bit-identical with 1 and 2.
    const std::int64_t B = 2, T = 45, NH = 6, KVH = 2, hd = 16, ld = (NH + 2 * KVH) * hd;
    const AttentionHeads heads{NH, KVH, hd};
    const auto qkv = random_vector(B * T * ld, 15), dout = random_vector(B * T * NH * hd, 16);
    const auto w = random_vector(hd, 17), dn = random_vector(B * T * ld, 18);
    const RopeTables tab = rope_tables(rope_inv_freq(hd, 10000.0, {}), T);
    struct Results {
        std::vector<float> out, att, dqkv, norm, rstd, dnorm, dw, rope, swiglu, dswiglu;
    };
    auto run = [&] {
        Results r;
        r.out.resize(B * T * NH * hd);
        r.att.resize(B * NH * T * T);
        r.dqkv.assign(B * T * ld, prefill);
        attention_forward(Cpu{}, r.out.data(), r.att.data(), qkv.data(), B, T, heads);
        attention_backward(Cpu{}, r.dqkv.data(), dout.data(), qkv.data(), r.att.data(), B, T, heads);
        const std::int64_t N = B * T;  // q and k heads of every position normed, as Qwen3
        r.norm.assign(N * ld, 0.0f);
        r.rstd.resize(N * (NH + KVH));
        r.dnorm.assign(N * ld, prefill);
        r.dw.assign(hd, prefill);
        rmsnorm_forward(Cpu{}, r.norm.data(), r.rstd.data(), qkv.data(), w.data(), N, hd, 1e-6f, NH + KVH, ld);
        rmsnorm_backward(Cpu{}, r.dnorm.data(), r.dw.data(), dn.data(), qkv.data(), w.data(), r.rstd.data(), N, hd,
                         NH + KVH, ld);
        r.rope = qkv;
        rope_forward(Cpu{}, r.rope.data(), tab.cos.data(), tab.sin.data(), B, T, NH + KVH, hd, ld);
        r.swiglu.resize(N * ld / 2);
        r.dswiglu.resize(N * ld);
        swiglu_forward(Cpu{}, r.swiglu.data(), qkv.data(), N, ld / 2);
        swiglu_backward(Cpu{}, r.dswiglu.data(), qkv.data(), dn.data(), N, ld / 2);
        return r;
    };
    Results one, two;
    with_threads(1, [&] { one = run(); });
    with_threads(2, [&] { two = run(); });
    BOOST_TEST(bit_identical(one.out, two.out));
    BOOST_TEST(bit_identical(one.att, two.att));
    BOOST_TEST(bit_identical(one.dqkv, two.dqkv));
    BOOST_TEST(bit_identical(one.norm, two.norm));
    BOOST_TEST(bit_identical(one.dnorm, two.dnorm));
    BOOST_TEST(bit_identical(one.dw, two.dw));
    BOOST_TEST(bit_identical(one.rope, two.rope));
    BOOST_TEST(bit_identical(one.swiglu, two.swiglu));
    BOOST_TEST(bit_identical(one.dswiglu, two.dswiglu));
}

// --- AVX-512 against portable ---------------------------------------------------------------

#if TOKCLEAN_HAVE_AVX512_KERNELS
namespace {
bool avx512_runs_here() { return cpu_detail::cpu_has_avx512(); }
}  // namespace

BOOST_AUTO_TEST_CASE(the_avx512_llama_kernels_match_the_portable_ones) {
    // Each new kernel in both forms side by side, whichever set the ops dispatch to; lengths
    // with and without a partial last vector.
    if (!avx512_runs_here()) {
        BOOST_TEST_MESSAGE("no AVX-512 on this CPU: the portable kernels alone run");
        return;
    }
    using namespace cpu_detail;
    for (const std::int64_t n : {2, 16, 38, 64, 128, 1000}) {
        BOOST_TEST_CONTEXT("n " << n) {
            const auto x = random_vector(n, 60, 3.0), d = random_vector(n, 61), w = random_vector(n, 62);
            // RMSNorm rows, both ways of writing dx.
            std::vector<float> o1(n), o2(n);
            float s1, s2;
            rmsnorm_forward_row(o1.data(), &s1, x.data(), w.data(), n, 1e-6f);
            rmsnorm_forward_row_avx512(o2.data(), &s2, x.data(), w.data(), n, 1e-6f);
            BOOST_TEST(close(o2, o1, 1e-5, 1e-6));
            BOOST_TEST(std::abs(s1 - s2) <= 1e-6 * s1);
            for (const GradWrite write : {GradWrite::overwrite, GradWrite::accumulate}) {
                std::vector<float> dx1(n, 0.25f), pw1(n, 0.5f), dx2 = dx1, pw2 = pw1;
                rmsnorm_backward_row(dx1.data(), pw1.data(), x.data(), d.data(), w.data(), s1, n, write);
                rmsnorm_backward_row_avx512(dx2.data(), pw2.data(), x.data(), d.data(), w.data(), s1, n, write);
                BOOST_TEST(close(dx2, dx1, 1e-4, 1e-5));
                BOOST_TEST(close(pw2, pw1, 1e-5, 1e-6));
            }
            // RoPE on one position of 3 heads of n floats (n/2 pairs), both directions.
            const std::int64_t heads = 3;
            const auto xs = random_vector(heads * n, 63), cs = random_vector(n / 2, 64), sn = random_vector(n / 2, 65);
            for (int adjoint = 0; adjoint < 2; ++adjoint) {
                std::vector<float> r1 = xs, r2 = xs;
                (adjoint ? rope_position<true> : rope_position<false>)(r1.data(), cs.data(), sn.data(), heads, n);
                (adjoint ? rope_position_avx512<true> : rope_position_avx512<false>)(r2.data(), cs.data(), sn.data(),
                                                                                     heads, n);
                BOOST_TEST(close(r2, r1, 1e-6, 1e-6));
                if (adjoint) continue;
                // The AVX-512 form rounds as torch's q · cos + rotate_half(q) · sin: each product
                // on its own, then the sum; the same bits.
                std::vector<float> r3 = xs;
                for (std::int64_t h = 0; h < heads; ++h)
                    for (std::int64_t i = 0; i < n / 2; ++i) {
                        const float a = xs[h * n + i], b = xs[h * n + n / 2 + i];
                        volatile float ac = a * cs[i], bs = b * sn[i], bc = b * cs[i], as = a * sn[i];
                        r3[h * n + i] = ac - bs;
                        r3[h * n + n / 2 + i] = bc + as;
                    }
                BOOST_TEST(bit_identical(r2, r3));
            }
            // SwiGLU blocks, both ways of writing the gradient.
            std::vector<float> y1(n), y2(n);
            swiglu_forward_block(y1.data(), x.data(), d.data(), n);
            swiglu_forward_block_avx512(y2.data(), x.data(), d.data(), n);
            BOOST_TEST(close(y2, y1, 1e-6, 1e-30));
            for (const GradWrite write : {GradWrite::overwrite, GradWrite::accumulate}) {
                std::vector<float> g1 = w, u1 = d, g2 = w, u2 = d;
                swiglu_backward_block(g1.data(), u1.data(), x.data(), d.data(), w.data(), n, write);
                swiglu_backward_block_avx512(g2.data(), u2.data(), x.data(), d.data(), w.data(), n, write);
                BOOST_TEST(close(g2, g1, 1e-5, 1e-6));
                BOOST_TEST(close(u2, u1, 1e-6, 1e-7));
            }
        }
    }
}
#endif
