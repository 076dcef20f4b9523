#pragma once
// Matrix products on the CPU. On AVX-512 builds they run our packed GEMM (gemm_avx512.hpp,
// 15-40% faster than Eigen's on this project's shapes, see bench/RESULTS.md); elsewhere
// Eigen's GEMM, which works on every target Eigen supports. Either way each element of the
// result does not depend on the thread count.
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tokclean/backend/cpu/eigen_maps.hpp"
#include "tokclean/backend/cpu/grad_write.hpp"
#include "tokclean/core/device.hpp"
#if defined(__AVX512F__)
#include "tokclean/backend/cpu/gemm_avx512.hpp"
#endif

namespace tokclean {

enum class Transpose : bool { no = false, yes = true };

namespace cpu_detail {

inline bool in_parallel() {
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return true;
#endif
}

// The portable path: Eigen's GEMM, then the bias. Eigen's own threading splits the sums
// differently for 1 and 2 threads (measured: most elements change in their last bits), so
// the product is cut into fixed tiles, each one single-threaded Eigen product over the whole
// depth: a tile's arithmetic is the same whichever thread takes it, whatever their number.
inline void matmul_eigen(float* out, const float* a, const float* b, std::int64_t M,
                         std::int64_t N, std::int64_t K, bool ta, bool tb, bool accumulate,
                         const float* bias) {
    constexpr std::int64_t tile_rows = 512, tile_cols = 256;
    const std::int64_t row_tiles = (M + tile_rows - 1) / tile_rows;
    const std::int64_t col_tiles = (N + tile_cols - 1) / tile_cols;
    MatrixMap c(out, M, N);
    ConstMatrixMap am(a, ta ? K : M, ta ? M : K);
    ConstMatrixMap bm(b, tb ? N : K, tb ? K : N);
    auto tile = [&](std::int64_t t) {
        const std::int64_t i0 = t / col_tiles * tile_rows, j0 = t % col_tiles * tile_cols;
        const std::int64_t m = std::min(tile_rows, M - i0), n = std::min(tile_cols, N - j0);
        auto ct = c.block(i0, j0, m, n);
        if (!accumulate) ct.setZero();
        // op(a) rows [i0, i0 + m) times op(b) columns [j0, j0 + n), all views.
        if (!ta && !tb) ct.noalias() += am.middleRows(i0, m) * bm.middleCols(j0, n);
        else if (ta && !tb) ct.noalias() += am.middleCols(i0, m).transpose() * bm.middleCols(j0, n);
        else if (!ta && tb) ct.noalias() += am.middleRows(i0, m) * bm.middleRows(j0, n).transpose();
        else ct.noalias() += am.middleCols(i0, m).transpose() * bm.middleRows(j0, n).transpose();
        if (bias) ct.rowwise() += ConstVectorMap(bias + j0, n).transpose();
    };
    // A team of all threads even for one tile: inside a team of several, Eigen keeps each
    // product on its calling thread. Called inside a parallel region, it runs on the caller.
    const std::int64_t tiles = row_tiles * col_tiles;
#pragma omp parallel for schedule(dynamic) if (!in_parallel())
    for (std::int64_t t = 0; t < tiles; ++t) tile(t);
}

}  // namespace cpu_detail

// The strided form, for blocks of larger buffers (attention heads): c (M, N) with row stride
// ldc = op(a) · op(b), or += with accumulate. a is stored (M, K), or (K, M) when trans_a, with
// row stride lda; b is stored (K, N), or (N, K) when trans_b, with row stride ldb. Called
// inside a parallel region it runs on the calling thread.
inline void matmul_strided(Cpu, float* c, std::int64_t ldc, const float* a, std::int64_t lda,
                           Transpose trans_a, const float* b, std::int64_t ldb, Transpose trans_b,
                           std::int64_t M, std::int64_t N, std::int64_t K, bool accumulate) {
    const bool ta = trans_a == Transpose::yes, tb = trans_b == Transpose::yes;
#if defined(__AVX512F__)
    cpu_detail::gemm_avx512(M, N, K, {a, lda, ta}, {b, ldb, !tb}, c, ldc, accumulate);
#else
    using namespace cpu_detail;
    if (M <= 0 || N <= 0) return;
    StridedMap cm(c, M, N, Eigen::OuterStride<>(ldc));
    if (K <= 0) {
        if (!accumulate) cm.setZero();
        return;
    }
    ConstStridedMap am(a, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
    ConstStridedMap bm(b, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
    if (!accumulate) cm.setZero();
    // One product on one thread (see matmul_eigen): inside a team, Eigen does not thread it.
#pragma omp parallel if (!in_parallel())
#pragma omp single
    {
        if (!ta && !tb) cm.noalias() += am * bm;
        else if (ta && !tb) cm.noalias() += am.transpose() * bm;
        else if (!ta && tb) cm.noalias() += am * bm.transpose();
        else cm.noalias() += am.transpose() * bm.transpose();
    }
#endif
}

namespace cpu_detail {

// A right-hand operand op(b) (K, N) prepared once for several products on one thread, each
// with a leading block op(b)[0:K', 0:N'] (attention: a head's keys and values, met by every
// query block). On AVX-512 builds it is packed once; elsewhere a view for Eigen.
class PreparedB {
public:
    // b is stored (K, N), or (N, K) when trans_b, with row stride ldb; it must outlive the
    // products.
    void prepare(const float* b, std::int64_t ldb, Transpose trans_b, std::int64_t K,
                 std::int64_t N) {
#if defined(__AVX512F__)
        depth_ = K;
        panels_ = scratch_.get(gemm::round_up(std::max<std::int64_t>(N, 1), gemm::nr) *
                               std::max<std::int64_t>(K, 1));
        pack_b_whole(panels_, {b, ldb, trans_b == Transpose::no}, N, K);
#else
        (void)K;
        (void)N;
        b_ = b;
        ld_ = ldb;
        trans_ = trans_b;
#endif
    }

    // c (M, N), row stride ldc, = op(a) · op(b)[0:K, 0:N], or += with accumulate; a is stored
    // (M, K), or (K, M) when trans_a, with row stride lda.
    void multiply(float* c, std::int64_t ldc, const float* a, std::int64_t lda, Transpose trans_a,
                  std::int64_t M, std::int64_t N, std::int64_t K, bool accumulate) const {
#if defined(__AVX512F__)
        gemm_avx512_packed_b(M, N, K, {a, lda, trans_a == Transpose::yes}, panels_, depth_, c,
                             ldc, accumulate);
#else
        matmul_strided(Cpu{}, c, ldc, a, lda, trans_a, b_, ld_, trans_, M, N, K, accumulate);
#endif
    }

private:
#if defined(__AVX512F__)
    gemm::Scratch scratch_;  // the panels, reused by the next prepare()
    float* panels_ = nullptr;
    std::int64_t depth_ = 0;  // K of the packed panels
#else
    const float* b_ = nullptr;
    std::int64_t ld_ = 0;
    Transpose trans_ = Transpose::no;
#endif
};

}  // namespace cpu_detail

// out (M, N) = op(a) · op(b) [+ bias (N) on every row], or out += ... with accumulate.
// op(a) is (M, K): a is stored (M, K), or (K, M) when trans_a. op(b) is (K, N): b is stored
// (K, N), or (N, K) when trans_b. All buffers are contiguous row-major; bias may be null.
inline void matmul(Cpu, float* out, const float* a, const float* b, std::int64_t M, std::int64_t N,
                   std::int64_t K, Transpose trans_a = Transpose::no,
                   Transpose trans_b = Transpose::no, bool accumulate = false,
                   const float* bias = nullptr) {
    const bool ta = trans_a == Transpose::yes, tb = trans_b == Transpose::yes;
#if defined(__AVX512F__)
    cpu_detail::gemm_avx512(M, N, K, {a, ta ? M : K, ta}, {b, tb ? K : N, !tb}, out, N, accumulate,
                            bias);
#else
    cpu_detail::matmul_eigen(out, a, b, M, N, K, ta, tb, accumulate, bias);
#endif
}

// A linear layer in the Conv1D layout: out (N, OC) = inp (N, IC) · weight (IC, OC) + bias (OC),
// or out += ... with accumulate (a residual connection folded into the product). bias may be
// null.
inline void linear_forward(Cpu, float* out, const float* inp, const float* weight,
                           const float* bias, std::int64_t N, std::int64_t IC, std::int64_t OC,
                           bool accumulate = false) {
    matmul(Cpu{}, out, inp, weight, N, OC, IC, Transpose::no, Transpose::no, accumulate, bias);
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
        matmul(Cpu{}, dinp, dout, weight, N, IC, OC, Transpose::no, Transpose::yes,
               dinp_write == GradWrite::accumulate);
    matmul(Cpu{}, dweight, inp, dout, IC, OC, N, Transpose::yes, Transpose::no,
           dparam_write == GradWrite::accumulate);
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
