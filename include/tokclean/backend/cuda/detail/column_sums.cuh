#pragma once
// Deterministic sums over the rows of a (N, C) operand, per column: the bias gradients of
// linear and LayerNorm. Rows are cut into a fixed number of chunks; each chunk's partial sum
// is a block's fixed-order reduction, and the chunks are added in order, so the result is the
// same on every run (atomics would add in whatever order the blocks finish).
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/grad_write.hpp"

namespace tokclean::cuda_detail {

inline constexpr int colsum_tile = 32;      // columns per block (one warp across them)
inline constexpr int colsum_rows = 8;       // warps per block, each over every 8th row
inline constexpr std::int64_t colsum_chunks = 64;

// partial (chunks, C): pair (Σ f(r, c).x, Σ f(r, c).y) over the rows of each chunk.
template <class F>
__global__ void column_sums_partial(float2* partial, std::int64_t N, std::int64_t C,
                                    std::int64_t chunks, F f) {
    __shared__ float2 sums[colsum_rows][colsum_tile];
    const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * colsum_tile + threadIdx.x;
    const std::int64_t chunk = blockIdx.y, r0 = N * chunk / chunks, r1 = N * (chunk + 1) / chunks;
    float2 acc = make_float2(0.0f, 0.0f);
    if (c < C)
        for (std::int64_t r = r0 + threadIdx.y; r < r1; r += colsum_rows) {
            const float2 v = f(r, c);
            acc.x += v.x;
            acc.y += v.y;
        }
    sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int i = 1; i < colsum_rows; ++i) {
            acc.x += sums[i][threadIdx.x].x;
            acc.y += sums[i][threadIdx.x].y;
        }
        partial[chunk * C + c] = acc;
    }
}

// out0 (C) [+]= Σ_chunks partial.x, out1 (C) [+]= Σ_chunks partial.y (out1 may be null).
template <class T>
__global__ void column_sums_finish(T* out0, T* out1, const float2* partial, std::int64_t C,
                                   std::int64_t chunks, GradWrite write) {
    for (std::int64_t c = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; c < C;
         c += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        T a = 0, b = 0;
        for (std::int64_t k = 0; k < chunks; ++k) {
            a += partial[k * C + c].x;
            b += partial[k * C + c].y;
        }
        out0[c] = write == GradWrite::accumulate ? out0[c] + a : a;
        if (out1) out1[c] = write == GradWrite::accumulate ? out1[c] + b : b;
    }
}

// (out0, out1) (C) = or += Σ_r f(r, c) for r in [0, N); f(r, c) returns a float2 and is
// called on the device. out1 may be null (only .x is kept).
template <class F>
void column_sums(float* out0, float* out1, GradWrite write, std::int64_t N, std::int64_t C, F f) {
    if (C <= 0) return;
    const std::int64_t chunks = std::clamp<std::int64_t>(N, 1, colsum_chunks);
    Scratch<float2> partial(static_cast<std::size_t>(chunks * C));
    const dim3 grid(static_cast<unsigned>((C + colsum_tile - 1) / colsum_tile), static_cast<unsigned>(chunks));
    column_sums_partial<<<grid, dim3(colsum_tile, colsum_rows), 0, stream()>>>(partial.get(), N, C, chunks, f);
    TOKCLEAN_CUDA_CHECK_LAUNCH("column_sums_partial");
    column_sums_finish<float><<<blocks_for(C, 256), 256, 0, stream()>>>(out0, out1, partial.get(), C, chunks, write);
    TOKCLEAN_CUDA_CHECK_LAUNCH("column_sums_finish");
}

}  // namespace tokclean::cuda_detail
