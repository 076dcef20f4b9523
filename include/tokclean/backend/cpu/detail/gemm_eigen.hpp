#pragma once
// The portable GEMM of the CPU backend: Eigen's products on row-major views, cut so that each
// element of the result does not depend on the thread count. matmul runs it where our
// AVX-512 GEMM (gemm_avx512.hpp) cannot run (gemm.hpp's dispatch). Eigen picks its packet
// width and multiply-adds from the includer's -m flags, so its bits follow those flags.
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tokclean/backend/cpu/detail/eigen_maps.hpp"
#include "tokclean/backend/cpu/detail/gemm_operand.hpp"
#include "tokclean/backend/grad_write.hpp"

namespace tokclean::cpu_detail {

inline bool in_parallel() {
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return true;
#endif
}

// C (M, N), row stride ldc, = op(A) · op(B) [+ bias (N) on every row], or += with
// GradWrite::accumulate; the operands as gemm_operand.hpp describes them (op(A) (M, K), op(B)
// (K, N)). Eigen's own threading splits the sums differently for 1 and 2 threads (measured:
// most elements change in their last bits), so the product is cut into fixed tiles, each one
// single-threaded Eigen product over the whole depth: a tile's arithmetic is the same
// whichever thread takes it, whatever their number. Called inside a parallel region, it runs
// on the caller.
inline void gemm_eigen(std::int64_t M, std::int64_t N, std::int64_t K, GemmOperand a, GemmOperand b,
                       float* c, std::int64_t ldc, GradWrite write, const float* bias) {
    if (M <= 0 || N <= 0) return;
    if (a.bf16 || b.bf16) {  // bfloat16 values widened (exactly) into float copies first
        static thread_local Scratch wide_a, wide_b;
        const auto widen = [K](GemmOperand x, std::int64_t edge, Scratch& into) {
            if (!x.bf16) return x;
            const std::int64_t depth = std::max<std::int64_t>(K, 0), rows = x.k_outer ? depth : edge,
                               cols = x.k_outer ? edge : depth;
            float* w = into.get(std::max<std::int64_t>(1, rows * cols));
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t k = 0; k < cols; ++k) w[r * cols + k] = to_float(x.bf16[r * x.ld + k]);
            return GemmOperand{w, cols, x.k_outer};
        };
        gemm_eigen(M, N, K, widen(a, M, wide_a), widen(b, N, wide_b), c, ldc, write, bias);
        return;
    }
    constexpr std::int64_t tile_rows = 512, tile_cols = 256;
    const std::int64_t row_tiles = (M + tile_rows - 1) / tile_rows;
    const std::int64_t col_tiles = (N + tile_cols - 1) / tile_cols;
    const bool ta = a.k_outer, tb = !b.k_outer;
    const std::int64_t depth = std::max<std::int64_t>(K, 0);
    StridedMap cm(c, M, N, Eigen::OuterStride<>(ldc));
    ConstStridedMap am(a.data, ta ? depth : M, ta ? M : depth, Eigen::OuterStride<>(a.ld));
    ConstStridedMap bm(b.data, tb ? N : depth, tb ? depth : N, Eigen::OuterStride<>(b.ld));
    auto tile = [&](std::int64_t t) {
        const std::int64_t i0 = t / col_tiles * tile_rows, j0 = t % col_tiles * tile_cols;
        const std::int64_t m = std::min(tile_rows, M - i0), n = std::min(tile_cols, N - j0);
        auto ct = cm.block(i0, j0, m, n);
        if (write == GradWrite::overwrite) ct.setZero();
        // op(a) rows [i0, i0 + m) times op(b) columns [j0, j0 + n), all views.
        if (depth > 0) {
            if (!ta && !tb) ct.noalias() += am.middleRows(i0, m) * bm.middleCols(j0, n);
            else if (ta && !tb) ct.noalias() += am.middleCols(i0, m).transpose() * bm.middleCols(j0, n);
            else if (!ta && tb) ct.noalias() += am.middleRows(i0, m) * bm.middleRows(j0, n).transpose();
            else ct.noalias() += am.middleCols(i0, m).transpose() * bm.middleRows(j0, n).transpose();
        }
        if (bias) ct.rowwise() += ConstVectorMap(bias + j0, n).transpose();
    };
    // A team of all threads even for one tile: inside a team of several, Eigen keeps each
    // product on its calling thread.
    const std::int64_t tiles = row_tiles * col_tiles;
#pragma omp parallel for schedule(dynamic) if (!in_parallel())
    for (std::int64_t t = 0; t < tiles; ++t) tile(t);
}

}  // namespace tokclean::cpu_detail
