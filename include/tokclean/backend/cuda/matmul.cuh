#pragma once
// Matrix products on the GPU (the contract: backend/ops.hpp): cuBLASLt, with the bias fused
// into the product's epilogue; the math mode (fp32, tf32, bf16) is the context's
// (set_cuda_math).
#include <cstdint>

#include "tokclean/backend/cuda/detail/column_sums.cuh"
#include "tokclean/backend/cuda/detail/gemm.cuh"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/backend/ops.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {
// (dout, 0) at (r, c): the terms of a linear layer's bias gradient.
struct RowValue {
    const float* x;
    std::int64_t C;
    __device__ float2 operator()(std::int64_t r, std::int64_t c) const { return make_float2(x[r * C + c], 0.0f); }
};
}  // namespace cuda_detail

// out (M, N) = op(a) · op(b) [+ bias (N) on every row], or out += ... with GradWrite::accumulate.
// op(a) is (M, K): a is stored (M, K), or (K, M) when trans_a. op(b) is (K, N): b is stored
// (K, N), or (N, K) when trans_b. All contiguous row-major device buffers; bias may be null.
inline void matmul(Cuda, float* out, const float* a, const float* b, std::int64_t M, std::int64_t N, std::int64_t K,
                   Transpose trans_a = Transpose::no, Transpose trans_b = Transpose::no,
                   GradWrite write = GradWrite::overwrite, const float* bias = nullptr) {
    const bool ta = trans_a == Transpose::yes, tb = trans_b == Transpose::yes;
    cuda_detail::gemm(out, N, {a, ta ? M : K, ta}, {b, tb ? K : N, tb}, M, N, K, write, bias);
}

// The strided form, for blocks of larger buffers (one projection's columns of a fused one):
// c (M, N) with row stride ldc = op(a) · op(b), or += with accumulate; a stored (M, K), or
// (K, M) when trans_a, with row stride lda; b stored (K, N), or (N, K) when trans_b, row stride ldb.
inline void matmul_strided(Cuda, float* c, std::int64_t ldc, const float* a, std::int64_t lda, Transpose trans_a,
                           const float* b, std::int64_t ldb, Transpose trans_b, std::int64_t M, std::int64_t N,
                           std::int64_t K, GradWrite write) {
    cuda_detail::gemm(c, ldc, {a, lda, trans_a == Transpose::yes}, {b, ldb, trans_b == Transpose::yes}, M, N, K, write,
                      nullptr);
}

// A linear layer in the Conv1D layout: out (N, OC) = inp (N, IC) · weight (IC, OC) + bias (OC),
// or out += ... with GradWrite::accumulate. bias may be null.
inline void linear_forward(Cuda, float* out, const float* inp, const float* weight, const float* bias,
                           std::int64_t N, std::int64_t IC, std::int64_t OC, GradWrite write = GradWrite::overwrite) {
    matmul(Cuda{}, out, inp, weight, N, OC, IC, Transpose::no, Transpose::no, write, bias);
}

// Gradients of linear_forward: dinp (N, IC) += dout · weightᵀ, dweight (IC, OC) += inpᵀ · dout,
// dbias (OC) += Σ_rows dout; each `=` instead with GradWrite::overwrite. dinp / dbias may be null.
inline void linear_backward(Cuda, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, std::int64_t N, std::int64_t IC, std::int64_t OC,
                            GradWrite dinp_write = GradWrite::accumulate,
                            GradWrite dparam_write = GradWrite::accumulate) {
    if (dinp)
        matmul(Cuda{}, dinp, dout, weight, N, IC, OC, Transpose::no, Transpose::yes, dinp_write);
    matmul(Cuda{}, dweight, inp, dout, IC, OC, N, Transpose::yes, Transpose::no, dparam_write);
    if (dbias) cuda_detail::column_sums(dbias, nullptr, dparam_write, N, OC, cuda_detail::RowValue{dout, OC});
}

// out (N) += Σ_m in (M, N) (a bias's gradient), in fixed chunks: the same bits every run.
inline void sum_rows(Cuda, float* out, const float* in, std::int64_t M, std::int64_t N) {
    cuda_detail::column_sums(out, nullptr, GradWrite::accumulate, M, N, cuda_detail::RowValue{in, N});
}

}  // namespace tokclean
