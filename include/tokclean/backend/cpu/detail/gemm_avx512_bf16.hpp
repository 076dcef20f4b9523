#pragma once
// Products with bfloat16 weights as AVX512_BF16 dot products: C (M, N) = A (M, K) · Bᵀ with A
// float32 (activations) and B (N, K) bfloat16 (a linear layer's weight, nn.Linear's layout),
// the shape of every forward product of a model held in bf16 (--dtype bf16). A is rounded to
// bf16 (nearest, ties to even) as it is packed; each VDPBF16PS adds two bf16 products to a
// float32 sum, so the work per instruction doubles and the weights stream at 2 bytes a value.
// The sums are float32 throughout (the precision of PyTorch's bf16 matmul on the CPU, whose
// activations stay bf16 between ops where ours return to float32).
//
// The design of gemm_avx512.hpp (BLIS-style panels, a 12 x 32 register tile), with k taken in
// pairs: a packed A panel holds, per pair p and row i, one 32-bit word (a[i][2p], a[i][2p+1])
// to broadcast; a packed B panel, per pair and column j, the word (b[j][2p], b[j][2p+1]),
// which is B's own memory read 4 bytes at a time. Odd K pads the last pair with zero.
//
// Determinism: every element of C is the same chain of dot products in k order, split into
// the same k blocks, whichever thread computes its tile: results are bit-identical for any
// thread count.
#include "tokclean/core/cpu_features.hpp"
#if TOKCLEAN_HAVE_AVX512_KERNELS
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tokclean/backend/cpu/detail/gemm_avx512.hpp"
#include "tokclean/backend/cpu/detail/gemm_operand.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/bfloat16.hpp"

TOKCLEAN_AVX512_SECTION_BEGIN
namespace tokclean::cpu_detail {

namespace gemm_bf16 {

using gemm::mr;
using gemm::nr;
// Pairs of k in one packed block: a 12-row A panel (17 KB) stays in L1 beside a streaming B
// panel (45 KB at most, the depth of the float kernel's blocks).
inline constexpr std::int64_t kp_max = 352;

// The bf16 pair (lo, hi) as one 32-bit word, lo in the low half (its place in memory).
inline std::uint32_t pair_word(bfloat16 lo, bfloat16 hi) {
    return static_cast<std::uint32_t>(lo.bits) | (static_cast<std::uint32_t>(hi.bits) << 16);
}

// A's rows [r0, r0 + rows) x pairs [p0, p0 + kp), rounded to bf16, into panels of mr rows:
// dst[panel · kp · mr + p · mr + i]; rows past the end and the half past K are zero.
TOKCLEAN_TARGET_AVX512_BF16
inline void pack_a(std::uint32_t* dst, const GemmOperand& a, std::int64_t r0, std::int64_t rows, std::int64_t p0,
                   std::int64_t kp, std::int64_t K) {
    const std::int64_t panels = (rows + mr - 1) / mr;
    const auto value = [&](std::int64_t r, std::int64_t k) -> float {
        if (k >= K) return 0.0f;
        return a.k_outer ? a.data[k * a.ld + r] : a.data[r * a.ld + k];
    };
    for (std::int64_t panel = 0; panel < panels; ++panel) {
        std::uint32_t* d = dst + panel * kp * mr;
        for (std::int64_t i = 0; i < mr; ++i) {
            const std::int64_t r = r0 + panel * mr + i;
            if (panel * mr + i >= rows) {
                for (std::int64_t p = 0; p < kp; ++p) d[p * mr + i] = 0;
                continue;
            }
            std::int64_t p = 0;
            if (!a.k_outer) {  // 16 pairs at a time: two float vectors to one bf16 vector
                const float* row = a.data + r * a.ld;
                alignas(64) std::uint32_t words[16];
                for (; p + 16 <= kp && 2 * (p0 + p) + 32 <= K; p += 16) {
                    const float* x = row + 2 * (p0 + p);
                    const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
                    _mm512_store_si512(words, reinterpret_cast<__m512i>(h));
                    for (int q = 0; q < 16; ++q) d[(p + q) * mr + i] = words[q];
                }
            }
            for (; p < kp; ++p) {
                const std::int64_t k = 2 * (p0 + p);
                d[p * mr + i] = pair_word(to_bfloat16(value(r, k)), to_bfloat16(value(r, k + 1)));
            }
        }
    }
}

// B's columns [j0, j0 + cols) x pairs [p0, p0 + kp) into panels of nr columns (B stored (N, K),
// bf16): dst[panel · kp · nr + p · nr + j]; columns past the end and the half past K zero.
TOKCLEAN_TARGET_AVX512_BF16
inline void pack_b(std::uint32_t* dst, const GemmOperand& b, std::int64_t j0, std::int64_t cols, std::int64_t p0,
                   std::int64_t kp, std::int64_t K) {
    const std::int64_t panels = (cols + nr - 1) / nr;
    const bool words_in_place = b.ld % 2 == 0;  // row starts even: a pair is a 32-bit word of B
    for (std::int64_t panel = 0; panel < panels; ++panel) {
        std::uint32_t* d = dst + panel * kp * nr;
        const std::int64_t left = std::min<std::int64_t>(nr, cols - panel * nr);
        const bfloat16* s = b.bf16 + (j0 + panel * nr) * b.ld + 2 * p0;
        std::int64_t p = 0;
        if (words_in_place)  // 16 x 16 blocks of 32-bit words, transposed as floats (bits kept)
            for (; p + 16 <= kp && 2 * (p0 + p) + 32 <= K; p += 16)
                for (int v = 0; v < nr; v += 16)
                    gemm::transpose16(reinterpret_cast<float*>(d + p * nr + v), nr,
                                      reinterpret_cast<const float*>(s + v * b.ld + 2 * p), b.ld / 2,
                                      static_cast<int>(std::clamp<std::int64_t>(left - v, 0, 16)), 0xFFFF);
        for (; p < kp; ++p) {
            const std::int64_t k = 2 * (p0 + p);
            for (std::int64_t j = 0; j < nr; ++j) {
                if (j >= left) {
                    d[p * nr + j] = 0;
                    continue;
                }
                const bfloat16* e = s + j * b.ld + 2 * p;
                d[p * nr + j] = pair_word(e[0], k + 1 < K ? e[1] : bfloat16{});
            }
        }
    }
}

// C[0:rows, 0:cols] (row stride ldc) = or += Σ_p dot(a[p], b[p]) over kp pairs for one packed
// A panel (kp x mr words) and one packed B panel (kp x nr words), plus bias[0:cols] when not
// null. The tile stays in registers.
TOKCLEAN_TARGET_AVX512_BF16
inline void micro_kernel(std::int64_t kp, const std::uint32_t* __restrict a, const std::uint32_t* __restrict b, float* c,
                         std::int64_t ldc, int rows, int cols, bool add, const float* bias) {
    __m512 c0[mr], c1[mr];
TOKCLEAN_UNROLL_16
    for (int i = 0; i < mr; ++i) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
        if (i < rows) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    }
    for (std::int64_t p = 0; p < kp; ++p) {
        const auto b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b));
        const auto b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + 16));
TOKCLEAN_UNROLL_16
        for (int i = 0; i < mr; ++i) {
            const auto ai = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[i])));
            c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
        }
        a += mr;
        b += nr;
    }
    gemm::store_tile(c0, c1, c, ldc, rows, cols, add, bias);
}

}  // namespace gemm_bf16

// C (M, N), row stride ldc, = op(A) · Bᵀ or += with GradWrite::accumulate, plus bias (N) on
// every row when not null; op(A) (M, K) float32, B (N, K) bfloat16 (bf16_dot_applies). The
// threads share A, packed once per k block by all of them; each takes tiles of columns, packs
// its part of B and multiplies. Inside a parallel region, or when small, it runs on the caller.
TOKCLEAN_TARGET_AVX512_BF16
inline void gemm_avx512_bf16(std::int64_t M, std::int64_t N, std::int64_t K, GemmOperand a, GemmOperand b, float* c,
                             std::int64_t ldc, GradWrite write, const float* bias) {
    using namespace gemm_bf16;
    using gemm::round_up;
    if (M <= 0 || N <= 0) return;
    const std::int64_t pairs = (std::max<std::int64_t>(K, 0) + 1) / 2;
    if (pairs == 0) {
        gemm_avx512(M, N, K, a, b, c, ldc, write, bias);  // no products: C = [C +] bias
        return;
    }
    const std::int64_t kblocks = (pairs + kp_max - 1) / kp_max;
    const std::int64_t kp_full = (pairs + kblocks - 1) / kblocks;  // a function of K only
    int threads = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && M * N * K >= gemm::parallel_min_macs) threads = omp_get_max_threads();
#endif
    const std::int64_t panels = (N + nr - 1) / nr;
    std::int64_t tiles = std::max<std::int64_t>(1, (N + gemm::tile_target / 2) / gemm::tile_target);
    tiles = std::min(panels, round_up(tiles, threads));
    const std::int64_t tile = (panels + tiles - 1) / tiles * nr;
    auto tile_start = [&](std::int64_t t) { return std::min(N, panels * t / tiles * nr); };
    // A's block for all threads, then one B block per thread (32-bit words, 64-byte aligned).
    const std::int64_t a_size = round_up(round_up(M, mr) * kp_full, 16), b_size = round_up(tile * kp_full, 16);
    static thread_local Scratch scratch;
    auto* const words = reinterpret_cast<std::uint32_t*>(scratch.get(a_size + threads * b_size));
    const std::int64_t a_panels = (M + mr - 1) / mr;

#pragma omp parallel num_threads(threads) if (threads > 1 && tiles > 1)
    {
        std::uint32_t* const own = words + a_size + gemm::team_index() * b_size;
        for (std::int64_t kb = 0; kb < kblocks; ++kb) {
            const std::int64_t p0 = kb * kp_full, kp = std::min(kp_full, pairs - p0);
#pragma omp for schedule(static)
            for (std::int64_t share = 0; share < gemm::team_size(); ++share) {  // A's panels, split
                const std::int64_t q0 = a_panels * share / gemm::team_size(), q1 = a_panels * (share + 1) / gemm::team_size();
                if (q1 > q0)
                    pack_a(words + q0 * kp * mr, a, q0 * mr, std::min(M, q1 * mr) - q0 * mr, p0, kp, K);
            }
            const bool add = write == GradWrite::accumulate || kb > 0;
            const float* kb_bias = kb == 0 ? bias : nullptr;  // added once, with the first block
#pragma omp for schedule(dynamic)
            for (std::int64_t t = 0; t < tiles; ++t) {
                const std::int64_t t0 = tile_start(t), extent = tile_start(t + 1) - t0;
                pack_b(own, b, t0, extent, p0, kp, K);
                for (std::int64_t i = 0; i < M; i += mr)
                    for (std::int64_t j = 0; j < extent; j += nr)
                        micro_kernel(kp, words + i * kp, own + j * kp, c + i * ldc + t0 + j, ldc,
                                     static_cast<int>(std::min<std::int64_t>(mr, M - i)),
                                     static_cast<int>(std::min<std::int64_t>(nr, extent - j)), add,
                                     kb_bias ? kb_bias + t0 + j : nullptr);
            }
        }
    }
}

}  // namespace tokclean::cpu_detail

TOKCLEAN_AVX512_SECTION_END
#endif  // TOKCLEAN_HAVE_AVX512_KERNELS
