#pragma once
// The element-wise and row kernels of the CPU backend (all but the GEMMs), each in two forms,
// and their one dispatch point, row_kernels():
//   portable: plain loops that the compiler vectorises (`omp simd`) as far as the includer's
//     -m flags allow; their bits follow those flags (vector width, FMA contraction);
//   AVX-512: intrinsics (simd_avx512.hpp), compiled in every x86-64 build whatever its flags,
//     run where cpu_kernels() chose them (core/cpu_features.hpp); the same bits under any flags.
// The ops (attention.hpp, cross_entropy.hpp, gelu.hpp, layernorm.hpp, rmsnorm.hpp, rope.hpp,
// swiglu.hpp, adamw.hpp) spread the rows and blocks over the threads and run the chosen kernel
// on each.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tokclean/backend/cpu/detail/eigen_maps.hpp"
#include "tokclean/backend/cpu/detail/fast_exp.hpp"
#include "tokclean/backend/cpu/detail/simd_avx512.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/cpu_features.hpp"

namespace tokclean::cpu_detail {

inline constexpr float gelu_scale = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float gelu_cubic = 0.044715f;

// AdamW's constants of one step (adamw_update).
struct AdamWStep {
    float beta1, beta2, eps;
    float step_size;  // lr / (1 - beta1^step)
    float bc2_sqrt;   // sqrt(1 - beta2^step)
    float decay;      // 1 - lr · weight_decay
};

// --- Portable -----------------------------------------------------------------------------

// Attention (attention.hpp).
// Row lengths rounded up to whole 16-float vectors (within the row): SIMD loops over them
// have no scalar remainder, whose hand-over through the stack costs more than the row's sums
// (a store-forwarding stall per row, measured 3x slower on 128-long rows).
inline std::int64_t whole_vectors(std::int64_t len, std::int64_t T) {
    return std::min(T, (len + 15) / 16 * 16);
}

// Row t of a head's scores, s (T) = q_t · k_s for s <= t, becomes the softmax of scale · s
// over s <= t, and 0 for t < s < T (row (T)).
inline void causal_softmax_row(float* row, std::int64_t t, std::int64_t T, float scale) {
    const std::int64_t len = t + 1, padded = whole_vectors(len, T);
    // Future keys: -inf for the max, then e^-inf (fast_exp: 1e-38, nothing next to the 1 of
    // the maximum) in the sum, then 0.
    std::fill(row + len, row + padded, -std::numeric_limits<float>::infinity());
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (std::int64_t s = 0; s < padded; ++s) mx = row[s] > mx ? row[s] : mx;  // (std::max does not vectorise)
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t s = 0; s < padded; ++s) {
        row[s] = fast_exp((row[s] - mx) * scale);  // scale > 0: the max of scale · s too
        sum += row[s];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (std::int64_t s = 0; s < padded; ++s) row[s] *= inv;
    std::fill(row + len, row + T, 0.0f);
}

// Row i of dS from row i of P (probabilities, 0 past the diagonal) and of dP (finite up to
// width): dS = P ⊙ (dP - Σ_s P dP) · scale over s < len (the row's keys), 0 up to width.
inline void attention_dscore_row(float* dr, const float* pr, std::int64_t len, std::int64_t width,
                                 float scale) {
    const std::int64_t padded = whole_vectors(len, width);  // whole vectors: P is 0 past len
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (std::int64_t s = 0; s < padded; ++s) dot += pr[s] * dr[s];
#pragma omp simd
    for (std::int64_t s = 0; s < padded; ++s) dr[s] = scale * pr[s] * (dr[s] - dot);
    std::fill(dr + len, dr + width, 0.0f);
}

// Cross-entropy (cross_entropy.hpp).
// logsumexp of row (V).
inline float logsumexp(const float* row, std::int64_t V) {
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (std::int64_t v = 0; v < V; ++v) mx = row[v] > mx ? row[v] : mx;  // (std::max does not vectorise)
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t v = 0; v < V; ++v) sum += fast_exp(row[v] - mx);
    return mx + std::log(sum);
}

// drow (V) = e^(row - lse) · d: a row of cross_entropy_backward before the target's -d.
inline void softmax_grad_row(float* drow, const float* row, std::int64_t V, float lse, float d) {
#pragma omp simd
    for (std::int64_t v = 0; v < V; ++v) drow[v] = fast_exp(row[v] - lse) * d;
}

// GELU (gelu.hpp).
// σ(2u) with u = sqrt(2/pi) (x + 0.044715 x³): GELU(x) = x · σ(2u).
#pragma omp declare simd notinbranch
inline float gelu_gate(float x) {
    const float u = gelu_scale * (x + gelu_cubic * x * x * x);
    return 1.0f / (1.0f + fast_exp(-2.0f * u));
}

// The kernels on one block: out (n) = GELU(inp); dinp (n) = or += gelu'(inp) · dout.
inline void gelu_forward_block(float* out, const float* inp, std::int64_t n) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) out[i] = inp[i] * gelu_gate(inp[i]);
}

// With s = σ(2u): gelu'(x) = s + 2 x s (1 - s) du/dx, du/dx = sqrt(2/pi) (1 + 3 · 0.044715 x²).
inline void gelu_backward_block(float* dinp, const float* inp, const float* dout, std::int64_t n,
                                GradWrite write) {
    auto grad = [](float x, float dy) {
        const float s = gelu_gate(x);
        const float du = gelu_scale * (1.0f + 3.0f * gelu_cubic * x * x);
        return (s + 2.0f * x * s * (1.0f - s) * du) * dy;
    };
    // Two loops rather than a choice per element, which keeps the compiler from vectorising.
    if (write == GradWrite::overwrite) {
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) dinp[i] = grad(inp[i], dout[i]);
    } else {
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) dinp[i] += grad(inp[i], dout[i]);
    }
}

// LayerNorm (layernorm.hpp).
// Forward: o (C) = (x - mean) · rstd · weight + bias, returning mean and rstd.
inline void layernorm_forward_row(float* o, float* mean, float* rstd, const float* x, const float* weight,
                                  const float* bias, std::int64_t C, float eps) {
    float m = 0.0f;
#pragma omp simd reduction(+ : m)
    for (std::int64_t c = 0; c < C; ++c) m += x[c];
    m /= static_cast<float>(C);
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (std::int64_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    v /= static_cast<float>(C);
    const float s = 1.0f / std::sqrt(v + eps);
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    *mean = m;
    *rstd = s;
}

// Backward of one row: dx (C) += its input gradient; pw (C) += norm · d, pb (C) += d.
inline void layernorm_backward_row(float* dx, float* pw, float* pb, const float* x, const float* d,
                                   const float* weight, float m, float s, std::int64_t C) {
    float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
    for (std::int64_t c = 0; c < C; ++c) {
        const float norm = (x[c] - m) * s;
        const float dnorm = weight[c] * d[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean /= static_cast<float>(C);
    dnorm_norm_mean /= static_cast<float>(C);
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) {
        const float norm = (x[c] - m) * s;
        const float dnorm = weight[c] * d[c];
        pb[c] += d[c];
        pw[c] += norm * d[c];
        dx[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
}

// RMSNorm (rmsnorm.hpp).
// Forward: o (C) = (x · rstd) · weight, rstd = 1 / sqrt(mean(x²) + eps), returning rstd. The
// weight multiplies the normalised value, as Hugging Face's LlamaRMSNorm does.
inline void rmsnorm_forward_row(float* o, float* rstd, const float* x, const float* weight, std::int64_t C,
                                float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (std::int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
    const float s = 1.0f / std::sqrt(ss / static_cast<float>(C) + eps);
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) o[c] = (x[c] * s) * weight[c];
    *rstd = s;
}

// Backward of one row, with n = x · s and dn = weight · d: dx (C) = or += s (dn - n · mean(dn · n))
// (write), pw (C) += n · d.
inline void rmsnorm_backward_row(float* dx, float* pw, const float* x, const float* d, const float* weight,
                                 float s, std::int64_t C, GradWrite write) {
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (std::int64_t c = 0; c < C; ++c) dot += weight[c] * d[c] * (x[c] * s);
    dot /= static_cast<float>(C);
    // Two loops rather than a choice per element, which keeps the compiler from vectorising.
    if (write == GradWrite::overwrite) {
#pragma omp simd
        for (std::int64_t c = 0; c < C; ++c) {
            const float norm = x[c] * s;
            pw[c] += norm * d[c];
            dx[c] = (weight[c] * d[c] - norm * dot) * s;
        }
    } else {
#pragma omp simd
        for (std::int64_t c = 0; c < C; ++c) {
            const float norm = x[c] * s;
            pw[c] += norm * d[c];
            dx[c] += (weight[c] * d[c] - norm * dot) * s;
        }
    }
}

// RoPE (rope.hpp).
// One position's heads, head h at x + h · hd, rotated in place in rotate_half's pairs
// (i, i + hd/2) by the angles whose cos, sin (hd/2) are given: (a, b) becomes
// (a cos - b sin, b cos + a sin). The adjoint turns the other way: (a cos + b sin, b cos - a sin).
template <bool adjoint>
void rope_position(float* x, const float* cos, const float* sin, std::int64_t heads, std::int64_t hd) {
    const std::int64_t half = hd / 2;
    for (std::int64_t h = 0; h < heads; ++h) {
        float* a = x + h * hd;
        float* b = a + half;
#pragma omp simd
        for (std::int64_t i = 0; i < half; ++i) {
            const float u = a[i], v = b[i];
            a[i] = adjoint ? u * cos[i] + v * sin[i] : u * cos[i] - v * sin[i];
            b[i] = adjoint ? v * cos[i] - u * sin[i] : v * cos[i] + u * sin[i];
        }
    }
}

// SwiGLU (swiglu.hpp).
// σ(g) = 1 / (1 + e^-g): fast_exp keeps a few ulp over the whole range (e^-g saturates only
// where σ is 1 in float, or below 1e-38).
#pragma omp declare simd notinbranch
inline float sigmoid(float g) { return 1.0f / (1.0f + fast_exp(-g)); }

// The kernels on one block: out (n) = silu(gate) · up, silu(g) = g σ(g); dgate (n), dup (n)
// = or += the gradients from dout (n): dup = silu(g) · dout, dgate = up · dout · silu'(g),
// silu'(g) = σ(g) (1 + g (1 - σ(g))).
inline void swiglu_forward_block(float* out, const float* gate, const float* up, std::int64_t n) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

inline void swiglu_backward_block(float* dgate, float* dup, const float* gate, const float* up,
                                  const float* dout, std::int64_t n, GradWrite write) {
    if (write == GradWrite::overwrite) {
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) {
            const float g = gate[i], s = sigmoid(g);
            dup[i] = g * s * dout[i];
            dgate[i] = up[i] * dout[i] * (s * (1.0f + g * (1.0f - s)));
        }
    } else {
#pragma omp simd
        for (std::int64_t i = 0; i < n; ++i) {
            const float g = gate[i], s = sigmoid(g);
            dup[i] += g * s * dout[i];
            dgate[i] += up[i] * dout[i] * (s * (1.0f + g * (1.0f - s)));
        }
    }
}

// AdamW (adamw.hpp).
// The update on one block of n values. Eigen arrays: a plain loop stays scalar (std::sqrt
// may set errno, a branch the vectoriser refuses), 4x slower over GPT-2's 124M values. Each
// block (64 KB per array) is read from memory once; the three statements then run in cache.
inline void adamw_block(float* params, float* m, float* v, const float* grads, std::int64_t n,
                        const AdamWStep& k) {
    ConstArrayMap g(grads, n);
    ArrayMap mi(m, n), vi(v, n), p(params, n);
    mi = k.beta1 * mi + (1.0f - k.beta1) * g;
    vi = k.beta2 * vi + (1.0f - k.beta2) * g.square();
    p = p * k.decay - k.step_size * mi / (vi.sqrt() / k.bc2_sqrt + k.eps);
}

// --- AVX-512 ------------------------------------------------------------------------------
// The same kernels in intrinsics, the lanes past a row masked off; sums in vector lanes, then
// hsum's fixed tree.
#if TOKCLEAN_HAVE_AVX512_KERNELS
TOKCLEAN_AVX512_SECTION_BEGIN
TOKCLEAN_TARGET_AVX512
inline void causal_softmax_row_avx512(float* row, std::int64_t t, std::int64_t T, float scale) {
    const std::int64_t len = t + 1;
    const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512 mx = ninf;
    for (std::int64_t s = 0; s < len; s += simd_width)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(ninf, lanes(len - s), row + s));
    const __m512 vmx = _mm512_set1_ps(hmax(mx)), vscale = _mm512_set1_ps(scale);
    __m512 sum = _mm512_setzero_ps();
    for (std::int64_t s = 0; s < len; s += simd_width) {
        const __mmask16 m = lanes(len - s);
        const __m512 x = _mm512_maskz_loadu_ps(m, row + s);
        const __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(x, vmx), vscale));
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
        _mm512_mask_storeu_ps(row + s, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / hsum(sum));
    for (std::int64_t s = 0; s < len; s += simd_width) {
        const __mmask16 m = lanes(len - s);
        _mm512_mask_storeu_ps(row + s, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, row + s), inv));
    }
    std::fill(row + len, row + T, 0.0f);
}

TOKCLEAN_TARGET_AVX512
inline void attention_dscore_row_avx512(float* dr, const float* pr, std::int64_t len, std::int64_t width,
                                        float scale) {
    __m512 dot = _mm512_setzero_ps();
    for (std::int64_t s = 0; s < len; s += simd_width) {
        const __mmask16 m = lanes(len - s);
        dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, pr + s), _mm512_maskz_loadu_ps(m, dr + s), dot);
    }
    const __m512 vdot = _mm512_set1_ps(hsum(dot)), vscale = _mm512_set1_ps(scale);
    for (std::int64_t s = 0; s < len; s += simd_width) {
        const __mmask16 m = lanes(len - s);
        const __m512 p = _mm512_maskz_loadu_ps(m, pr + s), d = _mm512_maskz_loadu_ps(m, dr + s);
        _mm512_mask_storeu_ps(dr + s, m, _mm512_mul_ps(_mm512_mul_ps(vscale, p), _mm512_sub_ps(d, vdot)));
    }
    std::fill(dr + len, dr + width, 0.0f);
}

// Four accumulators of each kind hide the latency of the max and the adds.
TOKCLEAN_TARGET_AVX512
inline float logsumexp_avx512(const float* row, std::int64_t V) {
    const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    std::int64_t v = 0;
    for (; v + 4 * simd_width <= V; v += 4 * simd_width) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(row + v));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(row + v + 16));
        m2 = _mm512_max_ps(m2, _mm512_loadu_ps(row + v + 32));
        m3 = _mm512_max_ps(m3, _mm512_loadu_ps(row + v + 48));
    }
    for (; v < V; v += simd_width) m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(ninf, lanes(V - v), row + v));
    const float mx = hmax(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (v = 0; v + 4 * simd_width <= V; v += 4 * simd_width) {
        s0 = _mm512_add_ps(s0, exp16(_mm512_sub_ps(_mm512_loadu_ps(row + v), vmx)));
        s1 = _mm512_add_ps(s1, exp16(_mm512_sub_ps(_mm512_loadu_ps(row + v + 16), vmx)));
        s2 = _mm512_add_ps(s2, exp16(_mm512_sub_ps(_mm512_loadu_ps(row + v + 32), vmx)));
        s3 = _mm512_add_ps(s3, exp16(_mm512_sub_ps(_mm512_loadu_ps(row + v + 48), vmx)));
    }
    for (; v < V; v += simd_width) {
        const __mmask16 m = lanes(V - v);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + v), vmx));
        s0 = _mm512_add_ps(s0, _mm512_maskz_mov_ps(m, e));
    }
    return mx + std::log(hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))));
}

TOKCLEAN_TARGET_AVX512
inline void softmax_grad_row_avx512(float* drow, const float* row, std::int64_t V, float lse, float d) {
    const __m512 vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(d);
    for (std::int64_t v = 0; v < V; v += simd_width) {
        const __mmask16 m = lanes(V - v);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + v), vl));
        _mm512_mask_storeu_ps(drow + v, m, _mm512_mul_ps(e, vd));
    }
}

TOKCLEAN_TARGET_AVX512
inline __m512 gelu_gate16(__m512 x) {
    const __m512 cubic = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(gelu_cubic), x), x);
    const __m512 u = _mm512_mul_ps(_mm512_set1_ps(gelu_scale), _mm512_fmadd_ps(cubic, x, x));
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u))));
}

TOKCLEAN_TARGET_AVX512
inline void gelu_forward_block_avx512(float* out, const float* inp, std::int64_t n) {
    for (std::int64_t i = 0; i < n; i += simd_width) {
        const __mmask16 m = lanes(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(m, inp + i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(x, gelu_gate16(x)));
    }
}

TOKCLEAN_TARGET_AVX512
inline void gelu_backward_block_avx512(float* dinp, const float* inp, const float* dout, std::int64_t n,
                                       GradWrite write) {
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    const __m512 scale = _mm512_set1_ps(gelu_scale), cubic3 = _mm512_set1_ps(3.0f * gelu_cubic);
    for (std::int64_t i = 0; i < n; i += simd_width) {
        const __mmask16 m = lanes(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(m, inp + i), dy = _mm512_maskz_loadu_ps(m, dout + i);
        const __m512 s = gelu_gate16(x);
        const __m512 du = _mm512_mul_ps(scale, _mm512_fmadd_ps(_mm512_mul_ps(cubic3, x), x, one));
        const __m512 slope = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(two, x), s), _mm512_sub_ps(one, s));
        const __m512 g = _mm512_fmadd_ps(slope, du, s);  // gelu'(x)
        _mm512_mask_storeu_ps(dinp + i, m,
                              write == GradWrite::overwrite
                                  ? _mm512_mul_ps(g, dy)
                                  : _mm512_fmadd_ps(g, dy, _mm512_maskz_loadu_ps(m, dinp + i)));
    }
}

TOKCLEAN_TARGET_AVX512
inline void layernorm_forward_row_avx512(float* o, float* mean, float* rstd, const float* x,
                                         const float* weight, const float* bias, std::int64_t C, float eps) {
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t c = 0; c < C; c += simd_width)
        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(lanes(C - c), x + c));
    const float m = hsum(acc) / static_cast<float>(C);
    const __m512 vm = _mm512_set1_ps(m);
    acc = _mm512_setzero_ps();
    for (std::int64_t c = 0; c < C; c += simd_width) {
        const __mmask16 k = lanes(C - c);
        const __m512 dev = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + c), vm);
        acc = _mm512_fmadd_ps(dev, dev, acc);
    }
    const float s = 1.0f / std::sqrt(hsum(acc) / static_cast<float>(C) + eps);
    const __m512 vs = _mm512_set1_ps(s);
    for (std::int64_t c = 0; c < C; c += simd_width) {
        const __mmask16 k = lanes(C - c);
        const __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + c), vm), vs);
        _mm512_mask_storeu_ps(o + c, k, _mm512_fmadd_ps(norm, _mm512_maskz_loadu_ps(k, weight + c),
                                                        _mm512_maskz_loadu_ps(k, bias + c)));
    }
    *mean = m;
    *rstd = s;
}

TOKCLEAN_TARGET_AVX512
inline void layernorm_backward_row_avx512(float* dx, float* pw, float* pb, const float* x, const float* d,
                                          const float* weight, float m, float s, std::int64_t C) {
    const __m512 vm = _mm512_set1_ps(m), vs = _mm512_set1_ps(s);
    __m512 acc = _mm512_setzero_ps(), acc_norm = _mm512_setzero_ps();
    for (std::int64_t c = 0; c < C; c += simd_width) {  // masked lanes: d = 0 adds nothing
        const __mmask16 k = lanes(C - c);
        const __m512 dc = _mm512_maskz_loadu_ps(k, d + c), w = _mm512_maskz_loadu_ps(k, weight + c);
        const __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + c), vm), vs);
        acc = _mm512_fmadd_ps(w, dc, acc);
        acc_norm = _mm512_fmadd_ps(_mm512_mul_ps(w, dc), norm, acc_norm);
    }
    const __m512 dnorm_mean = _mm512_set1_ps(hsum(acc) / static_cast<float>(C));
    const __m512 dnorm_norm_mean = _mm512_set1_ps(hsum(acc_norm) / static_cast<float>(C));
    for (std::int64_t c = 0; c < C; c += simd_width) {
        const __mmask16 k = lanes(C - c);
        const __m512 dc = _mm512_maskz_loadu_ps(k, d + c), w = _mm512_maskz_loadu_ps(k, weight + c);
        const __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + c), vm), vs);
        _mm512_mask_storeu_ps(pb + c, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, pb + c), dc));
        _mm512_mask_storeu_ps(pw + c, k, _mm512_fmadd_ps(norm, dc, _mm512_maskz_loadu_ps(k, pw + c)));
        // (dnorm - dnorm_mean - norm · dnorm_norm_mean) · s, dnorm = weight · d
        const __m512 g = _mm512_fnmadd_ps(norm, dnorm_norm_mean, _mm512_fmsub_ps(w, dc, dnorm_mean));
        _mm512_mask_storeu_ps(dx + c, k, _mm512_fmadd_ps(g, vs, _mm512_maskz_loadu_ps(k, dx + c)));
    }
}

TOKCLEAN_TARGET_AVX512
inline void rmsnorm_forward_row_avx512(float* o, float* rstd, const float* x, const float* weight, std::int64_t C,
                                       float eps) {
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t c = 0; c < C; c += simd_width) {
        const __m512 xc = _mm512_maskz_loadu_ps(lanes(C - c), x + c);
        acc = _mm512_fmadd_ps(xc, xc, acc);
    }
    const float s = 1.0f / std::sqrt(hsum(acc) / static_cast<float>(C) + eps);
    const __m512 vs = _mm512_set1_ps(s);
    for (std::int64_t c = 0; c < C; c += simd_width) {
        const __mmask16 k = lanes(C - c);
        const __m512 norm = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + c), vs);
        _mm512_mask_storeu_ps(o + c, k, _mm512_mul_ps(norm, _mm512_maskz_loadu_ps(k, weight + c)));
    }
    *rstd = s;
}

TOKCLEAN_TARGET_AVX512
inline void rmsnorm_backward_row_avx512(float* dx, float* pw, const float* x, const float* d, const float* weight,
                                        float s, std::int64_t C, GradWrite write) {
    const __m512 vs = _mm512_set1_ps(s);
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t c = 0; c < C; c += simd_width) {  // masked lanes: d = 0 adds nothing
        const __mmask16 k = lanes(C - c);
        const __m512 dn = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, weight + c), _mm512_maskz_loadu_ps(k, d + c));
        acc = _mm512_fmadd_ps(dn, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + c), vs), acc);
    }
    const __m512 dot = _mm512_set1_ps(hsum(acc) / static_cast<float>(C));
    for (std::int64_t c = 0; c < C; c += simd_width) {
        const __mmask16 k = lanes(C - c);
        const __m512 dc = _mm512_maskz_loadu_ps(k, d + c);
        const __m512 norm = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + c), vs);
        _mm512_mask_storeu_ps(pw + c, k, _mm512_fmadd_ps(norm, dc, _mm512_maskz_loadu_ps(k, pw + c)));
        // (dn - norm · dot) · s, dn = weight · d
        const __m512 g = _mm512_fnmadd_ps(norm, dot, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, weight + c), dc));
        _mm512_mask_storeu_ps(dx + c, k,
                              write == GradWrite::overwrite
                                  ? _mm512_mul_ps(g, vs)
                                  : _mm512_fmadd_ps(g, vs, _mm512_maskz_loadu_ps(k, dx + c)));
    }
}

// Each product rounded on its own before the add (unfused), as torch computes
// q · cos + rotate_half(q) · sin.
template <bool adjoint>
TOKCLEAN_TARGET_AVX512 inline void rope_position_avx512(float* x, const float* cos, const float* sin,
                                                        std::int64_t heads, std::int64_t hd) {
    const std::int64_t half = hd / 2;
    for (std::int64_t h = 0; h < heads; ++h) {
        float* a = x + h * hd;
        float* b = a + half;
        for (std::int64_t i = 0; i < half; i += simd_width) {
            const __mmask16 k = lanes(half - i);
            const __m512 c = _mm512_maskz_loadu_ps(k, cos + i), s = _mm512_maskz_loadu_ps(k, sin + i);
            const __m512 u = _mm512_maskz_loadu_ps(k, a + i), v = _mm512_maskz_loadu_ps(k, b + i);
            const __m512 uc = unfused(_mm512_mul_ps(u, c)), vs = unfused(_mm512_mul_ps(v, s));
            const __m512 vc = unfused(_mm512_mul_ps(v, c)), us = unfused(_mm512_mul_ps(u, s));
            _mm512_mask_storeu_ps(a + i, k, adjoint ? _mm512_add_ps(uc, vs) : _mm512_sub_ps(uc, vs));
            _mm512_mask_storeu_ps(b + i, k, adjoint ? _mm512_sub_ps(vc, us) : _mm512_add_ps(vc, us));
        }
    }
}

TOKCLEAN_TARGET_AVX512
inline void swiglu_forward_block_avx512(float* out, const float* gate, const float* up, std::int64_t n) {
    for (std::int64_t i = 0; i < n; i += simd_width) {
        const __mmask16 m = lanes(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 silu = _mm512_mul_ps(g, sigmoid16(g));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

TOKCLEAN_TARGET_AVX512
inline void swiglu_backward_block_avx512(float* dgate, float* dup, const float* gate, const float* up,
                                         const float* dout, std::int64_t n, GradWrite write) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (std::int64_t i = 0; i < n; i += simd_width) {
        const __mmask16 m = lanes(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i), d = _mm512_maskz_loadu_ps(m, dout + i);
        const __m512 s = sigmoid16(g);
        const __m512 du = _mm512_mul_ps(_mm512_mul_ps(g, s), d);
        // silu'(g) = s (1 + g (1 - s))
        const __m512 slope = _mm512_mul_ps(s, _mm512_fmadd_ps(g, _mm512_sub_ps(one, s), one));
        const __m512 dg = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, up + i), d), slope);
        if (write == GradWrite::overwrite) {
            _mm512_mask_storeu_ps(dup + i, m, du);
            _mm512_mask_storeu_ps(dgate + i, m, dg);
        } else {
            _mm512_mask_storeu_ps(dup + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dup + i), du));
            _mm512_mask_storeu_ps(dgate + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dgate + i), dg));
        }
    }
}

TOKCLEAN_TARGET_AVX512
inline void adamw_block_avx512(float* params, float* m, float* v, const float* grads, std::int64_t n,
                               const AdamWStep& k) {
    const __m512 beta1 = _mm512_set1_ps(k.beta1), beta2 = _mm512_set1_ps(k.beta2);
    const __m512 rest1 = _mm512_set1_ps(1.0f - k.beta1), rest2 = _mm512_set1_ps(1.0f - k.beta2);
    const __m512 step = _mm512_set1_ps(k.step_size), bc2 = _mm512_set1_ps(k.bc2_sqrt);
    const __m512 eps = _mm512_set1_ps(k.eps), decay = _mm512_set1_ps(k.decay);
    for (std::int64_t i = 0; i < n; i += simd_width) {
        const __mmask16 l = lanes(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(l, grads + i);
        const __m512 mi =
            _mm512_fmadd_ps(beta1, _mm512_maskz_loadu_ps(l, m + i), unfused(_mm512_mul_ps(rest1, g)));
        const __m512 vi = _mm512_fmadd_ps(beta2, _mm512_maskz_loadu_ps(l, v + i),
                                          unfused(_mm512_mul_ps(rest2, _mm512_mul_ps(g, g))));
        const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        const __m512 update = _mm512_div_ps(_mm512_mul_ps(step, mi), denom);
        _mm512_mask_storeu_ps(m + i, l, mi);
        _mm512_mask_storeu_ps(v + i, l, vi);
        const __m512 p = _mm512_maskz_loadu_ps(l, params + i);
        _mm512_mask_storeu_ps(params + i, l, _mm512_fmsub_ps(p, decay, update));
    }
}
TOKCLEAN_AVX512_SECTION_END
#endif

// --- The dispatch -------------------------------------------------------------------------

struct RowKernels {
    // attention.hpp
    void (*causal_softmax)(float* row, std::int64_t t, std::int64_t T, float scale);
    void (*attention_dscore)(float* dr, const float* pr, std::int64_t len, std::int64_t width, float scale);
    // cross_entropy.hpp
    float (*logsumexp)(const float* row, std::int64_t V);
    void (*softmax_grad)(float* drow, const float* row, std::int64_t V, float lse, float d);
    // gelu.hpp
    void (*gelu_forward)(float* out, const float* inp, std::int64_t n);
    void (*gelu_backward)(float* dinp, const float* inp, const float* dout, std::int64_t n, GradWrite write);
    // layernorm.hpp
    void (*layernorm_forward)(float* o, float* mean, float* rstd, const float* x, const float* weight,
                              const float* bias, std::int64_t C, float eps);
    void (*layernorm_backward)(float* dx, float* pw, float* pb, const float* x, const float* d,
                               const float* weight, float m, float s, std::int64_t C);
    // rmsnorm.hpp
    void (*rmsnorm_forward)(float* o, float* rstd, const float* x, const float* weight, std::int64_t C, float eps);
    void (*rmsnorm_backward)(float* dx, float* pw, const float* x, const float* d, const float* weight, float s,
                             std::int64_t C, GradWrite write);
    // rope.hpp
    void (*rope)(float* x, const float* cos, const float* sin, std::int64_t heads, std::int64_t hd);
    void (*rope_adjoint)(float* x, const float* cos, const float* sin, std::int64_t heads, std::int64_t hd);
    // swiglu.hpp
    void (*swiglu_forward)(float* out, const float* gate, const float* up, std::int64_t n);
    void (*swiglu_backward)(float* dgate, float* dup, const float* gate, const float* up, const float* dout,
                            std::int64_t n, GradWrite write);
    // adamw.hpp
    void (*adamw)(float* params, float* m, float* v, const float* grads, std::int64_t n, const AdamWStep& k);
};

// The kernels of this process's CPU (decided once).
inline const RowKernels& row_kernels() {
    static constexpr RowKernels portable{causal_softmax_row,    attention_dscore_row,   logsumexp,
                                         softmax_grad_row,      gelu_forward_block,     gelu_backward_block,
                                         layernorm_forward_row, layernorm_backward_row, rmsnorm_forward_row,
                                         rmsnorm_backward_row,  rope_position<false>,   rope_position<true>,
                                         swiglu_forward_block,  swiglu_backward_block,  adamw_block};
#if TOKCLEAN_HAVE_AVX512_KERNELS
    static constexpr RowKernels avx512{causal_softmax_row_avx512,    attention_dscore_row_avx512,
                                       logsumexp_avx512,             softmax_grad_row_avx512,
                                       gelu_forward_block_avx512,    gelu_backward_block_avx512,
                                       layernorm_forward_row_avx512, layernorm_backward_row_avx512,
                                       rmsnorm_forward_row_avx512,   rmsnorm_backward_row_avx512,
                                       rope_position_avx512<false>,  rope_position_avx512<true>,
                                       swiglu_forward_block_avx512,  swiglu_backward_block_avx512,
                                       adamw_block_avx512};
#endif
    static const RowKernels& chosen = TOKCLEAN_CPU_DISPATCH(portable, avx512);
    return chosen;
}

}  // namespace tokclean::cpu_detail
