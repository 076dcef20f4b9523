// Every CPU kernel's backward against finite differences of its forward, and forward
// values against direct formulas. Backward passes accumulate, so each check pre-fills the
// gradient buffers with a known value and subtracts it.
#define BOOST_TEST_MODULE backend_cpu
#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include <omp.h>

#include "gradcheck.hpp"
#include "tokclean/backend/cpu.hpp"
#include "tokclean/backend/cpu/detail/fast_exp.hpp"
#include "tokclean/backend/cpu/detail/gemm.hpp"
#include "tokclean/backend/cpu/detail/prepared_b.hpp"
#include "tokclean/core/bfloat16.hpp"
#include "tokclean/core/cpu_features.hpp"

using namespace tokclean;
using tokclean::test::check_gradient;
using tokclean::test::random_vector;
using tokclean::test::weighted_sum;
using tokclean::test::bit_identical;
using tokclean::test::minus_prefill;
using tokclean::test::prefill;
using tokclean::test::with_threads;

namespace {

// c (M, N) = [c +] op(a) op(b) [+ bias] in double, and Σ |op(a)| |op(b)| per element (the
// scale of its rounding error), for row-major a, b stored as matmul documents.
struct Reference {
    std::vector<double> value, scale;
};
Reference reference_product(const std::vector<float>& c0, const std::vector<float>& a,
                            const std::vector<float>& b, const float* bias, std::int64_t M,
                            std::int64_t N, std::int64_t K, bool ta, bool tb, GradWrite write) {
    Reference r{std::vector<double>(M * N), std::vector<double>(M * N)};
    for (std::int64_t i = 0; i < M; ++i)
        for (std::int64_t j = 0; j < N; ++j) {
            double v = write == GradWrite::accumulate ? c0[i * N + j] : 0.0, sc = std::abs(v);
            if (bias) v += bias[j], sc += std::abs(bias[j]);
            for (std::int64_t k = 0; k < K; ++k) {
                const double x = ta ? a[k * M + i] : a[i * K + k];
                const double y = tb ? b[j * K + k] : b[k * N + j];
                v += x * y;
                sc += std::abs(x * y);
            }
            r.value[i * N + j] = v;
            r.scale[i * N + j] = sc;
        }
    return r;
}

// Elements of out (M, N) farther from the double reference than matmul's documented accuracy:
// rounding grows like sqrt(K) ulps of Σ |a b|; a missing term is ~1/K of it.
std::int64_t outside_accuracy(const std::vector<float>& out, const Reference& ref, std::int64_t K) {
    const double tol = 8.0 * 6e-8 * std::sqrt(double(K + 2));
    std::int64_t bad = 0;
    for (std::size_t i = 0; i < ref.value.size(); ++i)
        bad += std::abs(out[i] - ref.value[i]) > tol * ref.scale[i];
    return bad;
}

// Whether the AVX-512 kernels can be called here (compiled in, and the CPU has AVX-512),
// whichever set cpu_kernels() chose.
bool avx512_runs_here() { return TOKCLEAN_HAVE_AVX512_KERNELS && cpu_detail::cpu_has_avx512(); }

// The portable GEMM and, where it runs, the AVX-512 one on the product that matmul wrote into
// `dispatched` (from c0): each within matmul's documented accuracy of `ref` whichever one
// matmul dispatches to, the one it dispatches to byte for byte, and the AVX-512 one the same
// bytes with op(b) packed once (PreparedB's form) as without.
void check_both_gemms(const std::vector<float>& dispatched, const std::vector<float>& c0,
                      const std::vector<float>& a, const std::vector<float>& b, const float* bias,
                      std::int64_t M, std::int64_t N, std::int64_t K, bool ta, bool tb, GradWrite write,
                      const Reference& ref) {
    const cpu_detail::GemmOperand op_a{a.data(), ta ? M : K, ta}, op_b{b.data(), tb ? K : N, !tb};
    std::vector<float> portable = c0;
    cpu_detail::gemm_eigen(M, N, K, op_a, op_b, portable.data(), N, write, bias);
    BOOST_TEST(outside_accuracy(portable, ref, K) == 0);
    if (cpu_kernels() == CpuKernels::generic) BOOST_TEST(bit_identical(portable, dispatched));
#if TOKCLEAN_HAVE_AVX512_KERNELS
    if (!avx512_runs_here()) return;
    std::vector<float> fast = c0;
    cpu_detail::gemm_avx512(M, N, K, op_a, op_b, fast.data(), N, write, bias);
    BOOST_TEST(outside_accuracy(fast, ref, K) == 0);
    if (cpu_kernels() != CpuKernels::generic) BOOST_TEST(bit_identical(fast, dispatched));
    if (bias) return;
    cpu_detail::Scratch scratch;  // 64-byte aligned
    float* panels = scratch.get(cpu_detail::packed_b_floats(N, K));
    cpu_detail::pack_b_whole(panels, op_b, N, K);
    std::vector<float> packed = c0;
    cpu_detail::gemm_avx512_packed_b(M, N, K, op_a, panels, K, packed.data(), N, write);
    BOOST_TEST(bit_identical(packed, fast));
#endif
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
            matmul(Cpu{}, out.data(), a.data(), b.data(), M, N, K, Transpose(ta), Transpose(tb),
                   GradWrite::accumulate);
            for (std::int64_t i = 0; i < M; ++i)
                for (std::int64_t j = 0; j < N; ++j) {
                    double ref = 1.5;
                    for (std::int64_t k = 0; k < K; ++k) ref += double(A(i, k)) * Bm(k, j);
                    BOOST_TEST(out[i * N + j] == ref, boost::test_tools::tolerance(1e-5));
                }
            matmul(Cpu{}, out.data(), a.data(), b.data(), M, N, K, Transpose(ta), Transpose(tb),
                   GradWrite::overwrite);
            double ref00 = 0.0;
            for (std::int64_t k = 0; k < K; ++k) ref00 += double(A(0, k)) * Bm(k, 0);
            BOOST_TEST(out[0] == ref00, boost::test_tools::tolerance(1e-5));
        }
}

BOOST_AUTO_TEST_CASE(matmul_matches_double_reference_on_edge_shapes) {
    // Edges of the 12 x 32 micro-tiles and 16-wide packing, k blocks (K > 768), tall and wide;
    // matmul, and both GEMMs side by side (check_both_gemms).
    const std::int64_t shapes[][3] = {{1, 1, 1},   {13, 33, 17}, {12, 32, 16}, {37, 70, 800},
                                      {5, 300, 3}, {300, 5, 40}, {65, 97, 1600}};
    for (const auto& sh : shapes) {
        const std::int64_t M = sh[0], N = sh[1], K = sh[2];
        const auto a = random_vector(M * K, 30), b = random_vector(K * N, 31);
        const auto bias = random_vector(N, 32), c0 = random_vector(M * N, 33);
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb)
                for (int acc = 0; acc < 2; ++acc)
                    for (int with_bias = 0; with_bias < 2; ++with_bias) {
                        BOOST_TEST_CONTEXT("M " << M << " N " << N << " K " << K << " ta " << ta << " tb "
                                                << tb << " acc " << acc << " bias " << with_bias) {
                            const float* bp = with_bias ? bias.data() : nullptr;
                            const GradWrite write = acc ? GradWrite::accumulate : GradWrite::overwrite;
                            std::vector<float> out = c0;
                            matmul(Cpu{}, out.data(), a.data(), b.data(), M, N, K, Transpose(ta),
                                   Transpose(tb), write, bp);
                            const auto ref = reference_product(c0, a, b, bp, M, N, K, ta, tb, write);
                            BOOST_TEST(outside_accuracy(out, ref, K) == 0);
                            check_both_gemms(out, c0, a, b, bp, M, N, K, ta, tb, write, ref);
                        }
                    }
    }
}

BOOST_AUTO_TEST_CASE(matmul_results_do_not_depend_on_the_thread_count) {
    // Wide (A shared) and tall (B shared) splits, several k blocks: the dispatched GEMM, the
    // portable one, and the AVX-512 one where it runs.
    const std::int64_t shapes[][3] = {{70, 900, 1000}, {900, 70, 1000}, {513, 257, 64}};
    for (const auto& sh : shapes) {
        const std::int64_t M = sh[0], N = sh[1], K = sh[2];
        const auto a = random_vector(M * K, 34), b = random_vector(K * N, 35), bias = random_vector(N, 36);
        for (int path = 0; path < 3; ++path) {
            if (path == 2 && !avx512_runs_here()) continue;
            std::vector<float> one(M * N), two(M * N);
            auto run = [&](std::vector<float>& out) {
                const auto gemm = path == 1 ? cpu_detail::gemm_eigen : cpu_detail::gemm_kernels().gemm;
#if TOKCLEAN_HAVE_AVX512_KERNELS
                if (path == 2) {
                    cpu_detail::gemm_avx512(M, N, K, {a.data(), K, false}, {b.data(), K, false}, out.data(), N,
                                            GradWrite::overwrite, bias.data());
                    return;
                }
#endif
                gemm(M, N, K, {a.data(), K, false}, {b.data(), K, false}, out.data(), N, GradWrite::overwrite,
                     bias.data());
            };
            with_threads(1, [&] { run(one); });
            with_threads(2, [&] { run(two); });
            BOOST_TEST(bit_identical(one, two), "path " << path << ", M " << M << " N " << N << " K " << K);
        }
    }
}

BOOST_AUTO_TEST_CASE(bfloat16_rounds_to_nearest_even_and_widens_exactly) {
    // Independent reference: of the two bf16 neighbours of x (truncation and the next one up in
    // magnitude), the nearer in double, the even one on a tie.
    const auto nearest = [](float x) -> std::uint16_t {
        const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
        const std::uint16_t lo = static_cast<std::uint16_t>(u >> 16), hi = static_cast<std::uint16_t>(lo + 1);
        const double dlo = std::abs(double(to_float(bfloat16{lo})) - x);
        const bool overflows = (hi & 0x7FFF) == 0x7F80;  // past the largest finite: 2^128 in the rounding
        const double dhi = std::abs((overflows ? std::copysign(0x1p128, x) : double(to_float(bfloat16{hi}))) - x);
        if (dlo != dhi) return dlo < dhi ? lo : hi;
        return (lo & 1) ? hi : lo;
    };
    std::uint32_t state = 12345;
    for (int n = 0; n < 200000; ++n) {
        state = state * 1664525u + 1013904223u;
        const float x = std::bit_cast<float>((state & 0x7F7FFFFFu) | (state & 0x80000000u));  // finite
        BOOST_TEST(to_bfloat16(x).bits == nearest(x), "x = " << x);
    }
    BOOST_TEST(to_bfloat16(1.0f + 0x1p-8f).bits == 0x3F80);  // a tie goes to the even 1.0
    BOOST_TEST(to_bfloat16(1.0f + 0x1.8p-7f).bits == 0x3F82);  // a tie goes to the even neighbour
    BOOST_TEST(to_bfloat16(std::numeric_limits<float>::max()).bits == 0x7F80);  // rounds to +inf
    BOOST_TEST(std::isnan(to_float(to_bfloat16(std::numeric_limits<float>::quiet_NaN()))));
    BOOST_TEST(std::isnan(to_float(to_bfloat16(std::bit_cast<float>(0x7F800001u)))));  // a NaN's low bits only
    BOOST_TEST(to_float(to_bfloat16(-std::numeric_limits<float>::infinity())) == -std::numeric_limits<float>::infinity());
    for (std::uint32_t bits = 0; bits < 0x10000u; bits += 7) {  // widening then narrowing is the identity
        const bfloat16 b{static_cast<std::uint16_t>(bits)};
        if (!std::isnan(to_float(b))) BOOST_TEST(to_bfloat16(to_float(b)).bits == b.bits);
    }
}

BOOST_AUTO_TEST_CASE(a_bfloat16_operand_widened_gives_the_float_product_of_its_values_bit_for_bit) {
    // Weights kept in bf16 without dot products: the GEMMs widen op(b) exactly as they pack it,
    // so the product equals the float product with b widened, bit for bit, on the edges of the
    // micro-tiles and packing (both layouts of b, k blocks): the dispatched float GEMM and the
    // portable one; and gather_rows from bf16 rows.
    const std::int64_t shapes[][3] = {{1, 1, 1}, {13, 33, 17}, {37, 70, 800}, {5, 300, 3}, {300, 5, 40}};
    for (const auto& sh : shapes) {
        const std::int64_t M = sh[0], N = sh[1], K = sh[2];
        const auto a = random_vector(M * K, 40), bias = random_vector(N, 42), c0 = random_vector(M * N, 43);
        std::vector<bfloat16> b16(K * N);
        std::vector<float> b(K * N);
        const auto raw = random_vector(K * N, 41);
        for (std::int64_t i = 0; i < K * N; ++i) b[i] = to_float(b16[i] = to_bfloat16(raw[i]));
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb)
                for (int acc = 0; acc < 2; ++acc) {
                    BOOST_TEST_CONTEXT("M " << M << " N " << N << " K " << K << " ta " << ta << " tb " << tb << " acc "
                                            << acc) {
                        const GradWrite write = acc ? GradWrite::accumulate : GradWrite::overwrite;
                        const cpu_detail::GemmOperand op_a{a.data(), ta ? M : K, bool(ta)};
                        const cpu_detail::GemmOperand wide_b{b.data(), tb ? K : N, !tb},
                            narrow_b{nullptr, tb ? K : N, !tb, b16.data()};
                        for (const auto gemm : {cpu_detail::gemm_kernels().gemm, &cpu_detail::gemm_eigen}) {
                            std::vector<float> wide = c0, narrow = c0;
                            gemm(M, N, K, op_a, wide_b, wide.data(), N, write, bias.data());
                            gemm(M, N, K, op_a, narrow_b, narrow.data(), N, write, bias.data());
                            BOOST_TEST(bit_identical(narrow, wide));
                        }
                        if (!cpu_detail::gemm_kernels().gemm_bf16) {  // matmul widens here too
                            std::vector<float> wide = c0, narrow = c0;
                            matmul(Cpu{}, wide.data(), a.data(), b.data(), M, N, K, Transpose(ta), Transpose(tb), write,
                                   bias.data());
                            matmul(Cpu{}, narrow.data(), a.data(), b16.data(), M, N, K, Transpose(ta), Transpose(tb),
                                   write, bias.data());
                            BOOST_TEST(bit_identical(narrow, wide));
                        }
                    }
                }
    }
    std::vector<bfloat16> table(5 * 3);
    std::vector<float> widened(5 * 3);
    const auto raw = random_vector(5 * 3, 44);
    for (int i = 0; i < 15; ++i) widened[i] = to_float(table[i] = to_bfloat16(raw[i]));
    const std::vector<std::int64_t> rows = {4, 1, 4};
    std::vector<float> g16(3 * 3), g32(3 * 3);
    gather_rows(Cpu{}, g16.data(), table.data(), rows.data(), 3, 3);
    gather_rows(Cpu{}, g32.data(), widened.data(), rows.data(), 3, 3);
    BOOST_TEST(bit_identical(g16, g32));
}

#if TOKCLEAN_HAVE_AVX512_KERNELS
BOOST_AUTO_TEST_CASE(bf16_dot_products_are_the_products_of_the_rounded_values_summed_in_float) {
    // Where the CPU has AVX512_BF16: A rounded to bf16 times B (bf16, stored (N, K)), against
    // the double product of the rounded values, within float32 summation's accuracy; on the
    // edges of tiles, packing (odd K, odd row strides, K < 32) and k blocks (K > 704), with
    // bias and accumulation; the same bits for 1 and 2 threads; and what matmul dispatches to.
    if (!cpu_detail::cpu_has_avx512_bf16()) {
        BOOST_TEST_MESSAGE("this CPU lacks AVX512_BF16: the dot-product GEMM is not run");
        return;
    }
    const std::int64_t shapes[][3] = {{1, 1, 1},    {13, 33, 17},  {12, 32, 32},    {37, 70, 800},
                                      {5, 300, 3},  {300, 5, 40},  {65, 97, 1601},  {70, 900, 1000}};
    for (const auto& sh : shapes) {
        const std::int64_t M = sh[0], N = sh[1], K = sh[2];
        const auto a = random_vector(M * K, 45), raw = random_vector(K * N, 46);
        const auto bias = random_vector(N, 47), c0 = random_vector(M * N, 48);
        std::vector<bfloat16> b16(N * K);  // (N, K)
        std::vector<float> b_rounded(N * K), a_rounded(M * K);
        for (std::int64_t i = 0; i < N * K; ++i) b_rounded[i] = to_float(b16[i] = to_bfloat16(raw[i]));
        for (std::int64_t i = 0; i < M * K; ++i) a_rounded[i] = to_float(to_bfloat16(a[i]));
        for (int ta = 0; ta < 2; ++ta)
            for (int acc = 0; acc < 2; ++acc) {
                BOOST_TEST_CONTEXT("M " << M << " N " << N << " K " << K << " ta " << ta << " acc " << acc) {
                    // A stored (K, M) for ta: the same values transposed.
                    std::vector<float> a_stored = a, a_ref = a_rounded;
                    if (ta)
                        for (std::int64_t i = 0; i < M; ++i)
                            for (std::int64_t k = 0; k < K; ++k) {
                                a_stored[k * M + i] = a[i * K + k];
                                a_ref[k * M + i] = a_rounded[i * K + k];
                            }
                    const GradWrite write = acc ? GradWrite::accumulate : GradWrite::overwrite;
                    const cpu_detail::GemmOperand op_a{a_stored.data(), ta ? M : K, bool(ta)},
                        op_b{nullptr, K, false, b16.data()};
                    std::vector<float> one = c0, two = c0;
                    with_threads(1, [&] { cpu_detail::gemm_avx512_bf16(M, N, K, op_a, op_b, one.data(), N, write, bias.data()); });
                    with_threads(2, [&] { cpu_detail::gemm_avx512_bf16(M, N, K, op_a, op_b, two.data(), N, write, bias.data()); });
                    BOOST_TEST(bit_identical(one, two));
                    const auto ref = reference_product(c0, a_ref, b_rounded, bias.data(), M, N, K, ta, true, write);
                    BOOST_TEST(outside_accuracy(one, ref, K) == 0);
                    std::vector<float> dispatched = c0;
                    matmul(Cpu{}, dispatched.data(), a_stored.data(), b16.data(), M, N, K, Transpose(ta), Transpose::yes,
                           write, bias.data());
                    if (cpu_kernels() == CpuKernels::avx512_bf16) BOOST_TEST(bit_identical(dispatched, one));
                }
            }
    }
}
#endif

BOOST_AUTO_TEST_CASE(strided_and_prepared_products_match_the_reference) {
    // Blocks of wider buffers (row strides larger than the block), as attention uses them.
    const std::int64_t M = 20, N = 45, K = 33, lda = 50, ldb = 70, ldc = 60;
    const auto abuf = random_vector(64 * lda, 37), bbuf = random_vector(64 * ldb, 38);
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
            // Dense copies of the blocks for the reference.
            std::vector<float> a(M * K), b(K * N);
            for (std::int64_t i = 0; i < (ta ? K : M); ++i)
                for (std::int64_t k = 0; k < (ta ? M : K); ++k) a[i * (ta ? M : K) + k] = abuf[i * lda + k];
            for (std::int64_t i = 0; i < (tb ? N : K); ++i)
                for (std::int64_t k = 0; k < (tb ? K : N); ++k) b[i * (tb ? K : N) + k] = bbuf[i * ldb + k];
            const std::vector<float> c0(M * N, 0.5f);
            const auto ref = reference_product(c0, a, b, nullptr, M, N, K, ta, tb, GradWrite::accumulate);
            std::vector<float> c(M * ldc, 0.5f);
            matmul_strided(Cpu{}, c.data(), ldc, abuf.data(), lda, Transpose(ta), bbuf.data(), ldb,
                           Transpose(tb), M, N, K, GradWrite::accumulate);
            // The prepared operand is made for (K + 5, N + 7) and used on its leading block.
            cpu_detail::PreparedB prepared;
            prepared.prepare(bbuf.data(), ldb, Transpose(tb), K + 5, N + 7);
            std::vector<float> p(M * ldc, 0.5f);
            prepared.multiply(p.data(), ldc, abuf.data(), lda, Transpose(ta), M, N, K, GradWrite::accumulate);
            for (std::int64_t i = 0; i < M; ++i)
                for (std::int64_t j = 0; j < N; ++j) {
                    const double tol = 8.0 * 6e-8 * std::sqrt(double(K + 2)) * ref.scale[i * N + j];
                    BOOST_TEST(std::abs(c[i * ldc + j] - ref.value[i * N + j]) <= tol);
                    BOOST_TEST(std::abs(p[i * ldc + j] - ref.value[i * N + j]) <= tol);
                }
            BOOST_TEST(c[M * ldc - 1] == 0.5f);  // past the block's columns: untouched
        }
}

BOOST_AUTO_TEST_CASE(the_kernel_choice_follows_the_cpu_and_tokclean_cpu) {
    using cpu_detail::choose_cpu_kernels;
    BOOST_TEST((choose_cpu_kernels(nullptr, true) == CpuKernels::avx512));
    BOOST_TEST((choose_cpu_kernels("auto", true) == CpuKernels::avx512));
    BOOST_TEST((choose_cpu_kernels("", false) == CpuKernels::generic));
    BOOST_TEST((choose_cpu_kernels("generic", true) == CpuKernels::generic));
    std::string_view warning;
    BOOST_TEST((choose_cpu_kernels("avx512", true, &warning) == CpuKernels::avx512));
    BOOST_TEST(warning.empty());
    BOOST_TEST((choose_cpu_kernels("avx512", false, &warning) == CpuKernels::generic));  // cannot run here
    BOOST_TEST(!warning.empty());
    warning = {};
    BOOST_TEST((choose_cpu_kernels("sse", true, &warning) == CpuKernels::avx512));  // unknown: ignored
    BOOST_TEST(!warning.empty());
    // With AVX512_BF16: the best by default; "avx512" leaves its dot products out.
    BOOST_TEST((choose_cpu_kernels(nullptr, true, nullptr, true) == CpuKernels::avx512_bf16));
    BOOST_TEST((choose_cpu_kernels("avx512", true, nullptr, true) == CpuKernels::avx512));
    BOOST_TEST((choose_cpu_kernels("avx512_bf16", true, nullptr, true) == CpuKernels::avx512_bf16));
    warning = {};
    BOOST_TEST((choose_cpu_kernels("avx512_bf16", true, &warning, false) == CpuKernels::avx512));  // cannot run here
    BOOST_TEST(!warning.empty());
    BOOST_TEST((choose_cpu_kernels("avx512_bf16", false, nullptr, false) == CpuKernels::generic));
    // This process: the CPU and TOKCLEAN_CPU (the test preset generic-kernels sets it to generic).
    const char* env = std::getenv("TOKCLEAN_CPU");
    BOOST_TEST((cpu_kernels() == choose_cpu_kernels(env, cpu_detail::cpu_has_avx512(), nullptr,
                                                    cpu_detail::cpu_has_avx512_bf16())));
    BOOST_TEST_MESSAGE("CPU kernels: " << cpu_kernels_name(cpu_kernels()));
    BOOST_TEST((cpu_detail::gemm_kernels().gemm == cpu_detail::gemm_eigen) ==
               (cpu_kernels() == CpuKernels::generic));
}

BOOST_AUTO_TEST_CASE(fast_exp_is_within_two_ulp_of_exp) {
    double worst = 0.0;
    for (int i = 0; i <= 200000; ++i) {
        const float x = -87.0f + 175.0f * static_cast<float>(i) / 200000.0f;
        const double ref = std::exp(static_cast<double>(x));
        const float ulp = std::nextafter(static_cast<float>(ref), std::numeric_limits<float>::infinity()) -
                          static_cast<float>(ref);
        worst = std::max(worst, std::abs(cpu_detail::fast_exp(x) - ref) / ulp);
    }
    BOOST_TEST(worst <= 2.0);
    BOOST_TEST(cpu_detail::fast_exp(-1000.0f) > 0.0f);  // clamped: tiny, never 0 or NaN
    BOOST_TEST(std::isfinite(cpu_detail::fast_exp(1000.0f)));
}

BOOST_AUTO_TEST_CASE(linear_forward_accumulates_onto_a_residual) {
    const std::int64_t N = 7, IC = 5, OC = 9;
    const auto inp = random_vector(N * IC, 39), w = random_vector(IC * OC, 40), bias = random_vector(OC, 41);
    const auto residual = random_vector(N * OC, 42);
    std::vector<float> fused = residual, plain(N * OC);
    linear_forward(Cpu{}, fused.data(), inp.data(), w.data(), bias.data(), N, IC, OC, GradWrite::accumulate);
    linear_forward(Cpu{}, plain.data(), inp.data(), w.data(), bias.data(), N, IC, OC);
    for (std::int64_t i = 0; i < N * OC; ++i)
        BOOST_TEST(fused[i] == residual[i] + plain[i], boost::test_tools::tolerance(1e-5f));
    // Overwriting backward: dinp = dout · wᵀ, dweight and dbias = their sums, whatever the
    // buffers held; the same values as accumulating onto zeros.
    std::vector<float> dinp_acc(N * IC, prefill), dw_acc(IC * OC, 0.0f), db_acc(OC, 0.0f);
    std::vector<float> dinp_over(N * IC, 123.0f), dw_over(IC * OC, 123.0f), db_over(OC, 123.0f);
    linear_backward(Cpu{}, dinp_acc.data(), dw_acc.data(), db_acc.data(), residual.data(), inp.data(),
                    w.data(), N, IC, OC);
    linear_backward(Cpu{}, dinp_over.data(), dw_over.data(), db_over.data(), residual.data(), inp.data(),
                    w.data(), N, IC, OC, GradWrite::overwrite, GradWrite::overwrite);
    const auto expect = minus_prefill(dinp_acc);
    for (std::int64_t i = 0; i < N * IC; ++i)
        BOOST_TEST(dinp_over[i] == expect[i], boost::test_tools::tolerance(1e-5f));
    BOOST_TEST(bit_identical(dw_over, dw_acc));
    BOOST_TEST(bit_identical(db_over, db_acc));
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
    // Parameter gradients written over: the same as added to zeros; dinp still accumulates.
    std::vector<float> dinp2(N * C, prefill), dw0(C, 0.0f), db0(C, 0.0f), dw2(C, 9.0f), db2(C, 9.0f);
    layernorm_backward(Cpu{}, dinp2.data(), dw0.data(), db0.data(), R.data(), inp.data(), w.data(),
                       mean.data(), rstd.data(), N, C);
    layernorm_backward(Cpu{}, dinp2.data(), dw2.data(), db2.data(), R.data(), inp.data(), w.data(),
                       mean.data(), rstd.data(), N, C, GradWrite::overwrite);
    BOOST_TEST(bit_identical(dw2, dw0));
    BOOST_TEST(bit_identical(db2, db0));
    for (std::int64_t i = 0; i < N * C; ++i)
        BOOST_TEST(dinp2[i] - prefill == 2.0f * (dinp[i] - prefill), boost::test_tools::tolerance(1e-5f));
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
    // Overwriting, in place over dout: the same gradient.
    std::vector<float> inplace = R;
    gelu_backward(Cpu{}, inplace.data(), inp.data(), inplace.data(), N, GradWrite::overwrite);
    const auto expect = minus_prefill(dinp);
    for (std::int64_t i = 0; i < N; ++i) BOOST_TEST(inplace[i] == expect[i], boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(gelu_keeps_its_relative_accuracy_over_the_whole_range) {
    // Far out on the negative side 0.5 x (1 + tanh u) is a difference of nearly equal numbers;
    // the kernel's logistic form is not. 4100 values over [-10, 10], SIMD body and tail.
    const std::int64_t N = 4101;
    std::vector<float> x(N), y(N);
    for (std::int64_t i = 0; i < N; ++i) x[i] = -10.0f + 20.0f * float(i) / float(N - 1);
    gelu_forward(Cpu{}, y.data(), x.data(), N);
    for (std::int64_t i = 0; i < N; ++i) {
        const double u = std::sqrt(2 / M_PI) * (x[i] + 0.044715 * double(x[i]) * x[i] * x[i]);
        const double ref = double(x[i]) / (1.0 + std::exp(-2.0 * u));  // = 0.5 x (1 + tanh u)
        BOOST_TEST_CONTEXT("x = " << x[i]) {
            BOOST_TEST(std::abs(y[i] - ref) <= 1e-5 * std::abs(ref) + 1e-37);
        }
    }
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

namespace {
// Attention forward against a direct per-(b, h, t) computation in double, the scoring form
// (no probabilities kept) against the training form bit for bit, and backward against
// finite differences.
void check_attention(std::int64_t B, std::int64_t T, std::int64_t NH, std::int64_t C) {
    const std::int64_t hs = C / NH;
    auto qkv = random_vector(B * T * 3 * C, 19);
    const auto R = random_vector(B * T * C, 20);
    std::vector<float> out(B * T * C), att(B * NH * T * T, 7.0f);  // 7: stale values above the diagonal
    auto loss = [&] {
        attention_forward(Cpu{}, out.data(), att.data(), qkv.data(), B, T, C, NH);
        return weighted_sum(out, R);
    };
    loss();
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
                    double ref = 0, scale = 0;  // scale: Σ p |v|, against cancellation near 0
                    for (std::int64_t s = 0; s <= t; ++s) {
                        ref += p[s] / sum * at(s, 2, d);
                        scale += p[s] / sum * std::abs(at(s, 2, d));
                    }
                    BOOST_TEST(std::abs(out[(b * T + t) * C + h * hs + d] - ref) <= 1e-5 * scale);
                }
                for (std::int64_t s = t + 1; s < T; ++s)
                    BOOST_TEST(att[((b * NH + h) * T + t) * T + s] == 0.0f);
            }
    std::vector<float> scored(B * T * C);
    attention_forward(Cpu{}, scored.data(), nullptr, qkv.data(), B, T, C, NH);
    BOOST_TEST(bit_identical(scored, out));
    std::vector<float> dqkv(B * T * 3 * C, prefill);
    attention_backward(Cpu{}, dqkv.data(), R.data(), qkv.data(), att.data(), B, T, C, NH);
    check_gradient("dqkv", qkv, minus_prefill(dqkv), loss);
}
}  // namespace

BOOST_AUTO_TEST_CASE(attention_is_causal_and_backward_matches) {
    check_attention(2, 5, 2, 6);
    // Several query blocks of 32 rows, the last one partial.
    check_attention(1, 70, 2, 12);
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
    // With the forward's logsumexp, in place over the logits: the same gradient.
    std::vector<float> lse(M), inplace = logits;
    cross_entropy_forward(Cpu{}, losses.data(), logits.data(), targets.data(), M, V, lse.data());
    cross_entropy_backward(Cpu{}, inplace.data(), inplace.data(), targets.data(), dlosses.data(), M, V, lse.data());
    for (std::int64_t i = 0; i < M * V; ++i)
        BOOST_TEST(inplace[i] == dlogits[i], boost::test_tools::tolerance(1e-5f));
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

#if TOKCLEAN_HAVE_AVX512_KERNELS
namespace {
// |x - y| <= rel · |y| + abs for every element.
bool close(const std::vector<float>& x, const std::vector<float>& y, double rel, double abs = 0.0) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (!(std::abs(double(x[i]) - y[i]) <= rel * std::abs(double(y[i])) + abs)) return false;
    return true;
}

TOKCLEAN_TARGET_AVX512 void exp16_of(const float* x, float* y) {
    _mm512_storeu_ps(y, cpu_detail::exp16(_mm512_loadu_ps(x)));
}
}  // namespace

BOOST_AUTO_TEST_CASE(the_avx512_row_kernels_match_the_portable_ones) {
    // Every element-wise and row kernel in both forms, run side by side whichever set the
    // ops dispatch to; lengths with and without a partial last vector.
    if (!avx512_runs_here()) {
        BOOST_TEST_MESSAGE("no AVX-512 on this CPU: the portable kernels alone run");
        return;
    }
    using namespace cpu_detail;
    double worst_ulp = 0.0;  // exp16 against exp, as fast_exp_is_within_two_ulp_of_exp
    for (int i = 0; i <= 20000; i += 16) {
        float x[16], y[16];
        for (int l = 0; l < 16; ++l) x[l] = -87.0f + 175.0f * static_cast<float>(i + l) / 20016.0f;
        exp16_of(x, y);
        for (int l = 0; l < 16; ++l) {
            const double ref = std::exp(double(x[l]));
            const float ulp = std::nextafter(float(ref), std::numeric_limits<float>::infinity()) - float(ref);
            worst_ulp = std::max(worst_ulp, std::abs(y[l] - ref) / ulp);
        }
    }
    BOOST_TEST(worst_ulp <= 2.0);
    for (const std::int64_t n : {1, 16, 37, 768, 1000}) {
        BOOST_TEST_CONTEXT("n " << n) {
            const auto x = random_vector(n, 60, 3.0), d = random_vector(n, 61), w = random_vector(n, 62);
            // Attention rows: softmax of row t of T, and dS over len keys of width.
            const std::int64_t T = n + 5, t = n - 1;
            std::vector<float> p1(x.begin(), x.end()), p2 = p1;
            p1.resize(T, 9.0f), p2.resize(T, 9.0f);
            causal_softmax_row(p1.data(), t, T, 0.3f);
            causal_softmax_row_avx512(p2.data(), t, T, 0.3f);
            BOOST_TEST(close(p2, p1, 1e-5, 1e-12));
            std::vector<float> ds1(T, 0.5f), ds2 = ds1;
            std::copy(d.begin(), d.end(), ds1.begin());
            std::copy(d.begin(), d.end(), ds2.begin());
            attention_dscore_row(ds1.data(), p1.data(), n, T, 0.3f);
            attention_dscore_row_avx512(ds2.data(), p1.data(), n, T, 0.3f);
            BOOST_TEST(close(ds2, ds1, 1e-4, 1e-6));
            // Cross-entropy rows.
            const float l1 = logsumexp(x.data(), n), l2 = logsumexp_avx512(x.data(), n);
            BOOST_TEST(std::abs(l1 - l2) <= 1e-5 * (1.0 + std::abs(l1)));
            std::vector<float> g1(n), g2(n);
            softmax_grad_row(g1.data(), x.data(), n, l1, 0.7f);
            softmax_grad_row_avx512(g2.data(), x.data(), n, l1, 0.7f);
            BOOST_TEST(close(g2, g1, 1e-5, 1e-12));
            // GELU, both ways of writing the gradient.
            std::vector<float> y1(n), y2(n);
            gelu_forward_block(y1.data(), x.data(), n);
            gelu_forward_block_avx512(y2.data(), x.data(), n);
            BOOST_TEST(close(y2, y1, 1e-5, 1e-30));
            for (const GradWrite write : {GradWrite::overwrite, GradWrite::accumulate}) {
                std::vector<float> d1 = w, d2 = w;
                gelu_backward_block(d1.data(), x.data(), d.data(), n, write);
                gelu_backward_block_avx512(d2.data(), x.data(), d.data(), n, write);
                BOOST_TEST(close(d2, d1, 1e-5, 1e-6));
            }
            // LayerNorm over a row of n channels.
            const auto b = random_vector(n, 63);
            std::vector<float> o1(n), o2(n);
            float m1, m2, s1, s2;
            layernorm_forward_row(o1.data(), &m1, &s1, x.data(), w.data(), b.data(), n, 1e-5f);
            layernorm_forward_row_avx512(o2.data(), &m2, &s2, x.data(), w.data(), b.data(), n, 1e-5f);
            BOOST_TEST(close(o2, o1, 1e-5, 1e-5));
            BOOST_TEST(std::abs(m1 - m2) <= 1e-5 * (1.0 + std::abs(m1)));
            BOOST_TEST(std::abs(s1 - s2) <= 1e-5 * s1);
            std::vector<float> dx1(n, 0.25f), pw1(n, 0.5f), pb1(n, -0.5f), dx2 = dx1, pw2 = pw1, pb2 = pb1;
            layernorm_backward_row(dx1.data(), pw1.data(), pb1.data(), x.data(), d.data(), w.data(), m1, s1,
                                   n);
            layernorm_backward_row_avx512(dx2.data(), pw2.data(), pb2.data(), x.data(), d.data(), w.data(), m1,
                                          s1, n);
            BOOST_TEST(close(dx2, dx1, 1e-4, 1e-5));
            BOOST_TEST(close(pw2, pw1, 1e-5, 1e-6));
            BOOST_TEST(close(pb2, pb1, 0.0));
            // One AdamW block.
            const AdamWStep k{0.9f, 0.999f, 1e-8f, 1e-3f / 0.1f, std::sqrt(0.001f), 1.0f - 1e-3f * 0.1f};
            std::vector<float> pa = w, ma = d, va(n), pc, mc, vc;
            for (std::int64_t i = 0; i < n; ++i) va[i] = std::abs(x[i]);
            pc = pa, mc = ma, vc = va;
            adamw_block(pa.data(), ma.data(), va.data(), x.data(), n, k);
            adamw_block_avx512(pc.data(), mc.data(), vc.data(), x.data(), n, k);
            BOOST_TEST(close(mc, ma, 1e-6, 1e-7));
            BOOST_TEST(close(vc, va, 1e-6));
            BOOST_TEST(close(pc, pa, 1e-6, 1e-7));
        }
    }
}
#endif
