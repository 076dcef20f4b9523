#pragma once
// Matrix products on the CPU (the contract: backend/ops.hpp). On CPUs with AVX-512 they run
// our packed GEMM (detail/gemm_avx512.hpp, 15-40% faster than Eigen's on this project's
// shapes, see bench/RESULTS.md), whatever flags the program was compiled with; elsewhere
// Eigen's GEMM (detail/gemm_eigen.hpp), which works on every target Eigen supports. The
// choice: detail/gemm.hpp. Either way each element of the result does not depend on the
// thread count.
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cpu/detail/eigen_maps.hpp"
#include "tokclean/backend/cpu/detail/gemm.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/backend/ops.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// The strided form (the CPU's own, beyond the contract), for blocks of larger buffers
// (attention heads): c (M, N) with row stride ldc = op(a) · op(b), or += with
// GradWrite::accumulate. a is stored (M, K), or (K, M) when trans_a, with row stride lda; b
// is stored (K, N), or (N, K) when trans_b, with row stride ldb. Called inside a parallel
// region it runs on the calling thread.
inline void matmul_strided(Cpu, float* c, std::int64_t ldc, const float* a, std::int64_t lda,
                           Transpose trans_a, const float* b, std::int64_t ldb, Transpose trans_b,
                           std::int64_t M, std::int64_t N, std::int64_t K, GradWrite write) {
    cpu_detail::gemm_kernels().gemm(M, N, K, {a, lda, trans_a == Transpose::yes},
                                    {b, ldb, trans_b == Transpose::no}, c, ldc, write, nullptr);
}

// out (M, N) = op(a) · op(b) [+ bias (N) on every row], or out += ... with GradWrite::accumulate.
// op(a) is (M, K): a is stored (M, K), or (K, M) when trans_a. op(b) is (K, N): b is stored
// (K, N), or (N, K) when trans_b. All buffers are contiguous row-major; bias may be null.
inline void matmul(Cpu, float* out, const float* a, const float* b, std::int64_t M, std::int64_t N,
                   std::int64_t K, Transpose trans_a = Transpose::no,
                   Transpose trans_b = Transpose::no, GradWrite write = GradWrite::overwrite,
                   const float* bias = nullptr) {
    const bool ta = trans_a == Transpose::yes, tb = trans_b == Transpose::yes;
    cpu_detail::gemm_kernels().gemm(M, N, K, {a, ta ? M : K, ta}, {b, tb ? K : N, !tb}, out, N, write,
                                    bias);
}

// The same with op(b) in bfloat16 (weights kept in bf16). Where the CPU has AVX512_BF16 (and
// TOKCLEAN_CPU allows it) a product with b stored (N, K) (trans_b: a linear layer's forward)
// runs as bf16 dot products, a rounded to bf16, sums in float32; otherwise b is widened
// exactly as the product reads it, and out is, bit for bit, matmul's with b widened to float.
inline void matmul(Cpu, float* out, const float* a, const bfloat16* b, std::int64_t M, std::int64_t N,
                   std::int64_t K, Transpose trans_a = Transpose::no,
                   Transpose trans_b = Transpose::no, GradWrite write = GradWrite::overwrite,
                   const float* bias = nullptr) {
    const bool ta = trans_a == Transpose::yes, tb = trans_b == Transpose::yes;
    const cpu_detail::GemmOperand op_a{a, ta ? M : K, ta}, op_b{nullptr, tb ? K : N, !tb, b};
    const auto& kernels = cpu_detail::gemm_kernels();
    if (kernels.gemm_bf16 && cpu_detail::bf16_dot_applies(op_a, op_b))
        kernels.gemm_bf16(M, N, K, op_a, op_b, out, N, write, bias);
    else
        kernels.gemm(M, N, K, op_a, op_b, out, N, write, bias);
}

// A linear layer in the Conv1D layout: out (N, OC) = inp (N, IC) · weight (IC, OC) + bias (OC),
// or out += ... with GradWrite::accumulate (a residual connection folded into the product).
// bias may be null.
inline void linear_forward(Cpu, float* out, const float* inp, const float* weight,
                           const float* bias, std::int64_t N, std::int64_t IC, std::int64_t OC,
                           GradWrite write = GradWrite::overwrite) {
    matmul(Cpu{}, out, inp, weight, N, OC, IC, Transpose::no, Transpose::no, write, bias);
}

// Gradients of linear_forward: dinp (N, IC) += dout · weightᵀ, dweight (IC, OC) += inpᵀ · dout,
// dbias (OC) += Σ_rows dout; each `=` instead with GradWrite::overwrite (dinp_write for dinp,
// dparam_write for dweight and dbias). dinp / dbias may be null.
inline void linear_backward(Cpu, float* dinp, float* dweight, float* dbias, const float* dout,
                            const float* inp, const float* weight, std::int64_t N,
                            std::int64_t IC, std::int64_t OC,
                            GradWrite dinp_write = GradWrite::accumulate,
                            GradWrite dparam_write = GradWrite::accumulate) {
    using namespace cpu_detail;
    if (dinp)
        matmul(Cpu{}, dinp, dout, weight, N, IC, OC, Transpose::no, Transpose::yes, dinp_write);
    matmul(Cpu{}, dweight, inp, dout, IC, OC, N, Transpose::yes, Transpose::no, dparam_write);
    if (dbias) {
        // Column sums in fixed row chunks, added in chunk order (thread-count independent).
        const std::int64_t chunks = std::min<std::int64_t>(reduction_chunks, N > 0 ? N : 1);
        RowMajorMatrix partial(chunks, OC);  // (chunks, OC)
#pragma omp parallel for schedule(static)
        for (std::int64_t ch = 0; ch < chunks; ++ch) {
            float* sum = partial.data() + ch * OC;
            std::fill_n(sum, OC, 0.0f);
            for (std::int64_t r = N * ch / chunks; r < N * (ch + 1) / chunks; ++r) {
                const float* row = dout + r * OC;
#pragma omp simd
                for (std::int64_t c = 0; c < OC; ++c) sum[c] += row[c];
            }
        }
        if (dparam_write == GradWrite::overwrite) std::fill_n(dbias, OC, 0.0f);
        for (std::int64_t ch = 0; ch < chunks; ++ch) {
            const float* sum = partial.data() + ch * OC;
#pragma omp simd
            for (std::int64_t c = 0; c < OC; ++c) dbias[c] += sum[c];
        }
    }
}

}  // namespace tokclean
