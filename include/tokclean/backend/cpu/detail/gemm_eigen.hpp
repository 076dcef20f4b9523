#pragma once
// The portable GEMM of the CPU backend: Eigen's products on row-major views, cut so that each
// element of the result does not depend on the thread count. matmul runs it where our
// AVX-512 GEMM (gemm_avx512.hpp) is not compiled in.
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tokclean/backend/cpu/detail/eigen_maps.hpp"
#include "tokclean/backend/grad_write.hpp"

namespace tokclean::cpu_detail {

inline bool in_parallel() {
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return true;
#endif
}

// out (M, N) = op(a) · op(b) [+ bias (N) on every row], or += with GradWrite::accumulate;
// a stored (M, K), or (K, M) when ta; b stored (K, N), or (N, K) when tb; contiguous.
// Eigen's own threading splits the sums differently for 1 and 2 threads (measured: most
// elements change in their last bits), so the product is cut into fixed tiles, each one
// single-threaded Eigen product over the whole depth: a tile's arithmetic is the same
// whichever thread takes it, whatever their number.
inline void matmul_eigen(float* out, const float* a, const float* b, std::int64_t M,
                         std::int64_t N, std::int64_t K, bool ta, bool tb, GradWrite write,
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
        if (write == GradWrite::overwrite) ct.setZero();
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

// The strided form: c (M, N) with row stride ldc = op(a) · op(b), or += with
// GradWrite::accumulate; a and b as in matmul_eigen with row strides lda, ldb. One product on
// one thread (see matmul_eigen): inside a parallel region it runs on the caller.
inline void matmul_eigen_strided(float* c, std::int64_t ldc, const float* a, std::int64_t lda,
                                 bool ta, const float* b, std::int64_t ldb, bool tb,
                                 std::int64_t M, std::int64_t N, std::int64_t K, GradWrite write) {
    if (M <= 0 || N <= 0) return;
    StridedMap cm(c, M, N, Eigen::OuterStride<>(ldc));
    if (write == GradWrite::overwrite) cm.setZero();
    if (K <= 0) return;
    ConstStridedMap am(a, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
    ConstStridedMap bm(b, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
    // Inside a team, Eigen does not thread it.
#pragma omp parallel if (!in_parallel())
#pragma omp single
    {
        if (!ta && !tb) cm.noalias() += am * bm;
        else if (ta && !tb) cm.noalias() += am.transpose() * bm;
        else if (!ta && tb) cm.noalias() += am * bm.transpose();
        else cm.noalias() += am.transpose() * bm.transpose();
    }
}

}  // namespace tokclean::cpu_detail
