#pragma once
// Single-precision GEMM for AVX-512 CPUs, the design of BLIS / GotoBLAS: operands are copied
// ("packed") into panels that the micro-kernel streams in order, and a 12 x 32 tile of C
// lives in 24 vector registers while the kernel runs down the shared dimension.
//
// Why our own: on the 2-core AVX-512 machines this project targets, Eigen's GEMM spends a
// quarter of its time outside the multiply-add loop (see bench/RESULTS.md); this one reaches
// the FMA units' peak inside the kernel and packs each operand once per call.
//
// Determinism: every element of C is the same chain of FMAs in k order, split into the same
// k blocks, whatever the thread count or the tile a thread happens to take (edge tiles run
// the full kernel on zero padding). Results are bit-identical for 1 and 2 threads.
//
// Compiled in every x86-64 build whatever its -m flags: each function carries
// TOKCLEAN_TARGET_AVX512 (core/cpu_features.hpp) and runs only where the CPU has AVX-512
// (detail/gemm.hpp's dispatch). Every multiply-add is an explicit FMA intrinsic and no product
// feeds a separate add, so the bits do not depend on -ffp-contract or -march either.
#include "tokclean/core/cpu_features.hpp"
#if TOKCLEAN_HAVE_AVX512_KERNELS
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cpu/detail/gemm_operand.hpp"
#include "tokclean/backend/cpu/detail/simd_avx512.hpp"
#include "tokclean/backend/grad_write.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

TOKCLEAN_AVX512_SECTION_BEGIN
namespace tokclean::cpu_detail {

namespace gemm {

inline constexpr int mr = 12;  // rows of a micro-tile: broadcast from packed A
inline constexpr int nr = 32;  // columns of a micro-tile: two 16-float vectors of packed B
// Depth of one packed block: deep enough that C is loaded and stored rarely, shallow enough
// that a 12-row A panel (36 KB) stays in L1 while B panels stream from L2.
inline constexpr std::int64_t kc_max = 768;
// A thread's share of the large dimension of C per work item (columns, or rows when C is
// taller than wide): its private packed block (kc x 256 floats, 768 KB) stays in L2.
inline constexpr std::int64_t tile_target = 256;
// Floats of the shared operand packed per pass over the k blocks (8 MB).
inline constexpr std::int64_t shared_budget = std::int64_t{1} << 21;
// Below this many multiply-adds a parallel region costs more than it saves.
inline constexpr std::int64_t parallel_min_macs = std::int64_t{1} << 21;

inline std::int64_t team_index() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
inline std::int64_t team_size() {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}
inline std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

// The lanes of `m` of 16 consecutive values at p, as floats (bfloat16 widened exactly); the
// other lanes zero.
TOKCLEAN_TARGET_AVX512
inline __m512 load_widened(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
TOKCLEAN_TARGET_AVX512
inline __m512 load_widened(const bfloat16* p, __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline float widened(float x) { return x; }
inline float widened(bfloat16 x) { return to_float(x); }

// dst[k * w + r] = src[r * ld + k] for r < rows (zero for rows <= r < 16), k < 16;
// lanes outside store_mask of each dst row are left alone. A 16 x 16 in-register transpose.
template <class T>
TOKCLEAN_TARGET_AVX512
void transpose16(float* dst, std::int64_t w, const T* src, std::int64_t ld, int rows, __mmask16 store_mask) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? load_widened(src + i * ld, 0xFFFF) : _mm512_setzero_ps();
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 4; ++j) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xDD);
        }
    for (int j = 0; j < 8; ++j) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
    }
    for (int k = 0; k < 16; ++k) _mm512_mask_storeu_ps(dst + k * w, store_mask, r[k]);
}

// Packs rows [r0, r0 + rows) x depth [k0, k0 + kc) of an operand (its values of type T at
// `data`) into float panels of W rows: panel p holds dst[p * kc * W + k * W + r] (k-major),
// rows past the end zero.
template <int W, class T>
TOKCLEAN_TARGET_AVX512
void pack_panels_of(float* dst, const T* data, const GemmOperand& x, std::int64_t r0, std::int64_t rows,
                    std::int64_t k0, std::int64_t kc) {
    static_assert(W % 16 == 0 || W < 16);
    const std::int64_t panels = (rows + W - 1) / W;
    if (x.k_outer) {
        // Row-contiguous (element (r, k) at data[k * ld + r]): copy W floats per k, k outer so
        // that each source row is read in one sweep.
        const std::int64_t full = rows / W;  // panels without padding
        for (std::int64_t k = 0; k < kc; ++k) {
            const T* s = data + (k0 + k) * x.ld + r0;
            for (std::int64_t p = 0; p < full; ++p) {
                float* d = dst + p * kc * W + k * W;
                for (int v = 0; v < W; v += 16) {
                    if (W - v >= 16) _mm512_storeu_ps(d + v, load_widened(s + p * W + v, 0xFFFF));
                    else _mm512_mask_storeu_ps(d + v, lanes(W - v), load_widened(s + p * W + v, lanes(W - v)));
                }
            }
            if (full < panels) {  // the last panel, zero-padded
                float* d = dst + full * kc * W + k * W;
                const std::int64_t left = rows - full * W;
                for (int v = 0; v < W; v += 16)
                    _mm512_mask_storeu_ps(d + v, lanes(W - v), load_widened(s + full * W + v, lanes(left - v)));
            }
        }
        return;
    }
    // Depth-contiguous (element (r, k) at data[r * ld + k]): transpose 16 x 16 blocks.
    for (std::int64_t p = 0; p < panels; ++p) {
        float* d = dst + p * kc * W;
        const std::int64_t left = std::min<std::int64_t>(W, rows - p * W);
        const T* s = data + (r0 + p * W) * x.ld + k0;
        std::int64_t k = 0;
        for (; k + 16 <= kc; k += 16)
            for (int v = 0; v < W; v += 16)
                transpose16(d + k * W + v, W, s + v * x.ld + k, x.ld,
                            static_cast<int>(std::clamp<std::int64_t>(left - v, 0, 16)), lanes(W - v));
        for (; k < kc; ++k) {
            std::int64_t r = 0;
            for (; r < left; ++r) d[k * W + r] = widened(s[r * x.ld + k]);
            for (; r < W; ++r) d[k * W + r] = 0.0f;
        }
    }
}

// The same for the operand x, float or bfloat16.
template <int W>
TOKCLEAN_TARGET_AVX512
void pack_panels(float* dst, const GemmOperand& x, std::int64_t r0, std::int64_t rows, std::int64_t k0,
                 std::int64_t kc) {
    if (x.bf16) pack_panels_of<W>(dst, x.bf16, x, r0, rows, k0, kc);
    else pack_panels_of<W>(dst, x.data, x, r0, rows, k0, kc);
}

// C[0:rows, 0:cols] (row stride ldc) = or += a register tile (c0 | c1: mr rows of 32 floats),
// plus bias[0:cols] when not null. Inlined into each micro-kernel, the tile never leaves the
// registers.
TOKCLEAN_TARGET_AVX512 __attribute__((always_inline))
inline void store_tile(const __m512 (&c0)[mr], const __m512 (&c1)[mr], float* c, std::int64_t ldc, int rows, int cols,
                       bool add, const float* bias) {
    const __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
TOKCLEAN_UNROLL_16
    for (int i = 0; i < mr; ++i) {
        if (i >= rows) break;
        float* row = c + i * ldc;
        __m512 x0 = c0[i], x1 = c1[i];
        if (add) {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, row));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, row + 16));
        }
        if (bias) {
            x0 = _mm512_add_ps(x0, bias0);
            x1 = _mm512_add_ps(x1, bias1);
        }
        _mm512_mask_storeu_ps(row, m0, x0);
        _mm512_mask_storeu_ps(row + 16, m1, x1);
    }
}

// C[0:rows, 0:cols] (row stride ldc) = or += Σ_k a[k] ⊗ b[k] over kc steps, for one packed
// A panel (kc x mr) and one packed B panel (kc x nr), plus bias[0:cols] when not null. The
// tile stays in registers.
TOKCLEAN_TARGET_AVX512
inline void micro_kernel(std::int64_t kc, const float* __restrict a, const float* __restrict b,
                         float* c, std::int64_t ldc, int rows, int cols, bool add,
                         const float* bias) {
    __m512 c0[mr], c1[mr];
TOKCLEAN_UNROLL_16
    for (int i = 0; i < mr; ++i) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
        if (i < rows) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    }
    for (std::int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
TOKCLEAN_UNROLL_16
        for (int i = 0; i < mr; ++i) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
        a += mr;
        b += nr;
    }
    store_tile(c0, c1, c, ldc, rows, cols, add, bias);
}

// All micro-tiles of C[i-range, j-range] from packed A panels (rows, kc) and packed B panels
// (cols, kc), B panel p at pb + p · b_stride: A panels outer, so one A panel is reused from
// L1 across the B panels.
TOKCLEAN_TARGET_AVX512
inline void macro_kernel(std::int64_t kc, const float* pa, std::int64_t rows, const float* pb,
                         std::int64_t b_stride, std::int64_t cols, float* c, std::int64_t ldc,
                         bool add, const float* bias) {
    for (std::int64_t i = 0; i < rows; i += mr)
        for (std::int64_t j = 0; j < cols; j += nr)
            micro_kernel(kc, pa + i * kc, pb + j / nr * b_stride, c + i * ldc + j, ldc,
                         static_cast<int>(std::min<std::int64_t>(mr, rows - i)),
                         static_cast<int>(std::min<std::int64_t>(nr, cols - j)), add,
                         bias ? bias + j : nullptr);
}

}  // namespace gemm

// C (M, N), row stride ldc, = op(A) · op(B) or += with GradWrite::accumulate, plus bias (N) on
// every row when not null; op(A) is (M, K), op(B) is (K, N). The smaller extent of C decides
// which operand the threads share: it is packed once per k block by all of them together; the
// other is cut in tiles along the large extent, each packed and multiplied by the thread
// that takes it. Inside a parallel region, or when small, it all runs on the caller.
TOKCLEAN_TARGET_AVX512
inline void gemm_avx512(std::int64_t M, std::int64_t N, std::int64_t K, GemmOperand a,
                        GemmOperand b, float* c, std::int64_t ldc, GradWrite write,
                        const float* bias = nullptr) {
    using namespace gemm;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (std::int64_t i = 0; i < M; ++i)
            for (std::int64_t j = 0; j < N; ++j)
                c[i * ldc + j] =
                    (write == GradWrite::accumulate ? c[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);
        return;
    }
    // k blocks of equal depth (a function of K only: the sums keep one order).
    const std::int64_t kblocks = (K + kc_max - 1) / kc_max;
    const std::int64_t kc_full = (K + kblocks - 1) / kblocks;

    const bool wide = N >= M;  // wide: A shared, tiles of columns; tall: B shared, tiles of rows
    const std::int64_t big = wide ? N : M, small = wide ? M : N, unit = wide ? nr : mr;
    int threads = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && M * N * K >= parallel_min_macs) threads = omp_get_max_threads();
#endif
    // Tiles of whole micro-tile panels, as equal as panels allow, their count a multiple of
    // the thread count so that no thread idles at the end.
    const std::int64_t panels = (big + unit - 1) / unit;
    std::int64_t tiles = std::max<std::int64_t>(1, (big + tile_target / 2) / tile_target);
    tiles = std::min(panels, round_up(tiles, threads));
    const std::int64_t tile = (panels + tiles - 1) / tiles * unit;  // the widest tile
    auto tile_start = [&](std::int64_t t) { return std::min(big, panels * t / tiles * unit); };

    // The shared operand is packed for several k blocks at once (up to 8 MB), so that a
    // product costs two barriers, not two per k block, and each tile runs its k blocks back
    // to back on a C tile that stays in cache.
    const std::int64_t block_size = round_up(round_up(small, wide ? mr : nr) * kc_full, 16);
    const std::int64_t blocks_per_pass = std::clamp<std::int64_t>(shared_budget / block_size, 1, kblocks);
    const std::int64_t private_size = round_up(round_up(tile, wide ? nr : mr) * kc_full, 16);
    // The shared blocks, then one private block per thread, allocated here (outside the
    // parallel region, where an exception could not leave).
    static thread_local Scratch scratch;
    float* const shared = scratch.get(blocks_per_pass * block_size + threads * private_size);

#pragma omp parallel num_threads(threads) if (threads > 1 && tiles > 1)
    {
        float* const own = shared + blocks_per_pass * block_size + team_index() * private_size;
        const std::int64_t w = wide ? mr : nr, shared_panels = (small + w - 1) / w;
        for (std::int64_t kb0 = 0; kb0 < kblocks; kb0 += blocks_per_pass) {
            const std::int64_t kb1 = std::min(kblocks, kb0 + blocks_per_pass);
            // The shared operand's blocks, packed by all threads: a contiguous run of panels
            // each, so that row-contiguous sources are read in long sweeps.
            const std::int64_t parts = team_size() * (kb1 - kb0);
#pragma omp for schedule(static)
            for (std::int64_t part = 0; part < parts; ++part) {
                const std::int64_t kb = kb0 + part % (kb1 - kb0), share = part / (kb1 - kb0);
                const std::int64_t k0 = kb * kc_full, kc = std::min(kc_full, K - k0);
                const std::int64_t r0 = shared_panels * share / team_size() * w;
                const std::int64_t r1 = std::min(small, shared_panels * (share + 1) / team_size() * w);
                if (r1 <= r0) continue;
                float* dst = shared + (kb - kb0) * block_size + r0 * kc;
                if (wide) pack_panels<mr>(dst, a, r0, r1 - r0, k0, kc);
                else pack_panels<nr>(dst, b, r0, r1 - r0, k0, kc);
            }
#pragma omp for schedule(dynamic)
            for (std::int64_t t = 0; t < tiles; ++t) {
                const std::int64_t t0 = tile_start(t), extent = tile_start(t + 1) - t0;
                for (std::int64_t kb = kb0; kb < kb1; ++kb) {
                    const std::int64_t k0 = kb * kc_full, kc = std::min(kc_full, K - k0);
                    const bool add = write == GradWrite::accumulate || kb > 0;
                    const float* kb_bias = kb == 0 ? bias : nullptr;  // added once, with the first block
                    const float* packed = shared + (kb - kb0) * block_size;
                    if (wide) {  // columns [t0, t0 + extent) of C
                        pack_panels<nr>(own, b, t0, extent, k0, kc);
                        macro_kernel(kc, packed, M, own, kc * nr, extent, c + t0, ldc, add,
                                     kb_bias ? kb_bias + t0 : nullptr);
                    } else {  // rows [t0, t0 + extent) of C, B in column chunks that fit L2
                        pack_panels<mr>(own, a, t0, extent, k0, kc);
                        for (std::int64_t j0 = 0; j0 < N; j0 += tile_target)
                            macro_kernel(kc, own, extent, packed + j0 * kc, kc * nr,
                                         std::min(tile_target, N - j0), c + t0 * ldc + j0, ldc,
                                         add, kb_bias ? kb_bias + j0 : nullptr);
                    }
                }
            }
        }
    }
}

// Floats that pack_b_whole writes for op(B) (K, N).
inline std::int64_t packed_b_floats(std::int64_t N, std::int64_t K) {
    return gemm::round_up(std::max<std::int64_t>(N, 1), gemm::nr) * std::max<std::int64_t>(K, 1);
}

// op(B) (K, N) packed whole, for several products on one thread (attention's keys and
// values, reused by every query block): panel p, columns [p·nr, p·nr + nr), at
// panels + p · K · nr, k-major. panels holds packed_b_floats(N, K) floats, 64-byte aligned.
TOKCLEAN_TARGET_AVX512
inline void pack_b_whole(float* panels, GemmOperand b, std::int64_t N, std::int64_t K) {
    for (std::int64_t j = 0; j < N; j += gemm::nr)
        gemm::pack_panels<gemm::nr>(panels + j * K, b, j, std::min<std::int64_t>(gemm::nr, N - j),
                                    0, K);
}

// On the calling thread: C (M, N), row stride ldc, = or += op(A)[:, 0:K] · B[0:K, 0:N] with
// B from pack_b_whole of depth >= K and width >= N (a leading block of it).
TOKCLEAN_TARGET_AVX512
inline void gemm_avx512_packed_b(std::int64_t M, std::int64_t N, std::int64_t K, GemmOperand a,
                                 const float* panels, std::int64_t depth, float* c,
                                 std::int64_t ldc, GradWrite write) {
    using namespace gemm;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (write == GradWrite::overwrite)
            for (std::int64_t i = 0; i < M; ++i) std::fill_n(c + i * ldc, N, 0.0f);
        return;
    }
    const std::int64_t kblocks = (K + kc_max - 1) / kc_max;
    const std::int64_t kc_full = (K + kblocks - 1) / kblocks;
    static thread_local Scratch a_scratch;
    float* pa = a_scratch.get(round_up(M, mr) * kc_full);
    for (std::int64_t kb = 0; kb < kblocks; ++kb) {
        const std::int64_t k0 = kb * kc_full, kc = std::min(kc_full, K - k0);
        pack_panels<mr>(pa, a, 0, M, k0, kc);
        macro_kernel(kc, pa, M, panels + k0 * nr, depth * nr, N, c, ldc,
                     write == GradWrite::accumulate || kb > 0, nullptr);
    }
}

}  // namespace tokclean::cpu_detail

TOKCLEAN_AVX512_SECTION_END
#endif  // TOKCLEAN_HAVE_AVX512_KERNELS
