#pragma once
// Matrix products on the CPU (Eigen's GEMM, multi-threaded through OpenMP).
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cpu/eigen_maps.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

enum class Transpose : bool { no = false, yes = true };

// out (M, N) = op(a) · op(b), or out += op(a) · op(b) with accumulate.
// op(a) is (M, K): a is stored (M, K), or (K, M) when trans_a. op(b) is (K, N): b is stored
// (K, N), or (N, K) when trans_b. All buffers are contiguous row-major.
inline void matmul(Cpu, float* out, const float* a, const float* b, std::int64_t M, std::int64_t N,
                   std::int64_t K, Transpose trans_a = Transpose::no,
                   Transpose trans_b = Transpose::no, bool accumulate = false) {
    using namespace cpu_detail;
    MatrixMap c(out, M, N);
    const bool ta = trans_a == Transpose::yes, tb = trans_b == Transpose::yes;
    ConstMatrixMap am(a, ta ? K : M, ta ? M : K);
    ConstMatrixMap bm(b, tb ? N : K, tb ? K : N);
    // Four explicit cases: Eigen's transpose() is a free view, and each case is one GEMM call.
    if (!ta && !tb) {
        if (accumulate) c.noalias() += am * bm; else c.noalias() = am * bm;
    } else if (ta && !tb) {
        if (accumulate) c.noalias() += am.transpose() * bm; else c.noalias() = am.transpose() * bm;
    } else if (!ta && tb) {
        if (accumulate) c.noalias() += am * bm.transpose(); else c.noalias() = am * bm.transpose();
    } else {
        if (accumulate) c.noalias() += am.transpose() * bm.transpose();
        else c.noalias() = am.transpose() * bm.transpose();
    }
}

// A linear layer in the Conv1D layout: out (N, OC) = inp (N, IC) · weight (IC, OC) + bias (OC).
// bias may be null.
inline void linear_forward(Cpu, float* out, const float* inp, const float* weight,
                           const float* bias, std::int64_t N, std::int64_t IC, std::int64_t OC) {
    matmul(Cpu{}, out, inp, weight, N, OC, IC);
    if (bias) {
        using namespace cpu_detail;
        MatrixMap o(out, N, OC);
        o.rowwise() += ConstVectorMap(bias, OC).transpose();
    }
}

// Gradients of linear_forward, accumulated: dinp (N, IC) += dout · weightᵀ,
// dweight (IC, OC) += inpᵀ · dout, dbias (OC) += Σ_rows dout. dinp / dbias may be null.
inline void linear_backward(Cpu, float* dinp, float* dweight, float* dbias, const float* dout,
                            const float* inp, const float* weight, std::int64_t N,
                            std::int64_t IC, std::int64_t OC) {
    using namespace cpu_detail;
    if (dinp) matmul(Cpu{}, dinp, dout, weight, N, IC, OC, Transpose::no, Transpose::yes, true);
    matmul(Cpu{}, dweight, inp, dout, IC, OC, N, Transpose::yes, Transpose::no, true);
    if (dbias) {
        // Column sums in fixed row chunks, added in chunk order (thread-count independent).
        const std::int64_t chunks = std::min<std::int64_t>(reduction_chunks, N > 0 ? N : 1);
        RowMajorMatrix partial = RowMajorMatrix::Zero(chunks, OC);
#pragma omp parallel for schedule(static)
        for (std::int64_t ch = 0; ch < chunks; ++ch) {
            const std::int64_t r0 = N * ch / chunks, r1 = N * (ch + 1) / chunks;
            partial.row(ch) = ConstMatrixMap(dout + r0 * OC, r1 - r0, OC).colwise().sum();
        }
        VectorMap db(dbias, OC);
        for (std::int64_t ch = 0; ch < chunks; ++ch) db += partial.row(ch).transpose();
    }
}

}  // namespace tokclean
