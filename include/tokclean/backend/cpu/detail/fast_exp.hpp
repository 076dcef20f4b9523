#pragma once
// exp(x) in plain float arithmetic that compilers vectorise inside `omp simd` loops (libm's
// expf is a call per element, which they cannot). Cephes' expf: x = n·ln2 + r with
// |r| <= ln2/2, e^r by a degree-7 polynomial, 2^n put into the exponent bits. Within 2 ulp
// of expf over [-87.3, 88]; inputs below give the smallest normal float (1.2e-38) rather
// than a denormal or 0, inputs above give e^88 (1.7e38) rather than inf.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace tokclean::cpu_detail {

#pragma omp declare simd notinbranch
inline float fast_exp(float x) {
    x = std::min(std::max(x, -87.33654f), 88.0f);
    // n = round(x / ln2), by the 1.5·2^23 trick (plain adds, no rounding call to vectorise).
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    // r = x - n·ln2, ln2 split in two so that n·ln2_hi is exact.
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    // 2^n, n in [-126, 127], by building its exponent field.
    return p * std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
}

}  // namespace tokclean::cpu_detail
