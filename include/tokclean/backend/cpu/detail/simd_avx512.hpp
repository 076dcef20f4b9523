#pragma once
// Building blocks of the AVX-512 kernels (the GEMM, the row and element-wise kernels): each
// function carries TOKCLEAN_TARGET_AVX512, so they compile whatever the includer's -m flags
// and run only where cpu_kernels() chose them.
//
// Same bits under any flags: the kernels spell out every operation in intrinsics, every
// multiply-add as an FMA intrinsic; a product that feeds an add unfused goes through
// unfused(), which keeps GCC from contracting the pair under -ffp-contract=fast (gnu++ modes)
// where ISO modes would not. Sums over lanes end in a fixed tree (hsum).
#include "tokclean/core/cpu_features.hpp"

// Around every section of AVX-512 kernels: GCC 12's AVX-512 headers start many intrinsics from
// _mm512_undefined_ps(), which -Wuninitialized reports at every inlined use; the value is
// never read.
#if defined(__GNUC__) && !defined(__clang__)
#define TOKCLEAN_AVX512_SECTION_BEGIN \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define TOKCLEAN_AVX512_SECTION_END _Pragma("GCC diagnostic pop")
#else
#define TOKCLEAN_AVX512_SECTION_BEGIN
#define TOKCLEAN_AVX512_SECTION_END
#endif

#if TOKCLEAN_HAVE_AVX512_KERNELS
#include <immintrin.h>

#include <cstdint>

TOKCLEAN_AVX512_SECTION_BEGIN
namespace tokclean::cpu_detail {

inline constexpr std::int64_t simd_width = 16;  // floats per vector

// The first min(n, 16) lanes.
TOKCLEAN_TARGET_AVX512
inline __mmask16 lanes(std::int64_t n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// x, opaque to the optimiser: a product passed through it is rounded before any add.
TOKCLEAN_TARGET_AVX512
inline __m512 unfused(__m512 x) {
    __asm__("" : "+v"(x));
    return x;
}

// The 16 lanes of v folded with op (Add16, Max16) in a fixed order: halves, quarters, pairs,
// neighbours.
template <class Op>
TOKCLEAN_TARGET_AVX512 inline float fold16(__m512 v, Op op) {
    v = op(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    v = op(v, _mm512_shuffle_f32x4(v, v, 0xB1));
    v = op(v, _mm512_permute_ps(v, 0x4E));
    v = op(v, _mm512_permute_ps(v, 0xB1));
    return _mm512_cvtss_f32(v);
}
struct Add16 {
    TOKCLEAN_TARGET_AVX512 __m512 operator()(__m512 a, __m512 b) const { return _mm512_add_ps(a, b); }
};
struct Max16 {
    TOKCLEAN_TARGET_AVX512 __m512 operator()(__m512 a, __m512 b) const { return _mm512_max_ps(a, b); }
};
TOKCLEAN_TARGET_AVX512 inline float hsum(__m512 v) { return fold16(v, Add16{}); }
TOKCLEAN_TARGET_AVX512 inline float hmax(__m512 v) { return fold16(v, Max16{}); }

// fast_exp (fast_exp.hpp) on 16 lanes, the same steps with the multiply-adds fused: within
// 2 ulp of expf over [-87.3, 88], clamped outside.
TOKCLEAN_TARGET_AVX512
inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.0f));
    const __m512 shifter = _mm512_set1_ps(12582912.0f);  // 1.5·2^23: adding it rounds to an integer
    const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), shifter), shifter);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    return unfused(_mm512_mul_ps(p, _mm512_castsi512_ps(e)));
}

// The logistic σ(g) = 1 / (1 + e^-g) on 16 lanes, by exp16: a few ulp wherever σ(g) is a
// normal float (e^-g saturates only where σ is 1 in float, or below 1e-38).
TOKCLEAN_TARGET_AVX512
inline __m512 sigmoid16(__m512 g) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
}

}  // namespace tokclean::cpu_detail
TOKCLEAN_AVX512_SECTION_END
#endif  // TOKCLEAN_HAVE_AVX512_KERNELS
