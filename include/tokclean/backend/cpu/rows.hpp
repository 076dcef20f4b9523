#pragma once
// Row gather / scatter, copies and fills on the CPU (the contract: backend/ops.hpp): the
// token-sparse LM head takes only the rows that predict a target.
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/core/bfloat16.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// out (N) = 0; large buffers (GPT-2's 124M gradients) by both threads, in 4 MB blocks.
inline void fill_zero(Cpu, float* out, std::int64_t N) {
    cpu_detail::parallel_blocks(N, std::int64_t{1} << 20,
                                [&](std::int64_t i0, std::int64_t i1) { std::fill(out + i0, out + i1, 0.0f); });
}

// out (N) = in (N), in 1 MB blocks over the threads.
inline void copy_values(Cpu, float* out, const float* in, std::int64_t N) {
    cpu_detail::parallel_blocks(N, std::int64_t{1} << 18,
                                [&](std::int64_t i0, std::int64_t i1) { std::copy(in + i0, in + i1, out + i0); });
}

// out (M, C) = in[rows[m]] with in (N, C); rows in [0, N).
inline void gather_rows(Cpu, float* out, const float* in, const std::int64_t* rows,
                        std::int64_t M, std::int64_t C) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) std::copy_n(in + rows[m] * C, C, out + m * C);
}

// The same from rows of bfloat16 values (an embedding kept in bf16), widened exactly.
inline void gather_rows(Cpu, float* out, const bfloat16* in, const std::int64_t* rows, std::int64_t M,
                        std::int64_t C) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m)
        std::transform(in + rows[m] * C, in + rows[m] * C + C, out + m * C, [](bfloat16 x) { return to_float(x); });
}

// out[rows[m]] (N, C) += in (M, C). Rows must be distinct (each position predicts once).
inline void scatter_add_rows(Cpu, float* out, const float* in, const std::int64_t* rows,
                             std::int64_t M, std::int64_t C) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) {
        float* o = out + rows[m] * C;
        const float* i = in + m * C;
        for (std::int64_t c = 0; c < C; ++c) o[c] += i[c];
    }
}

// out[rows[m]] (N, C) += in (M, C) where rows may repeat (an embedding's backward: the same
// token at several positions). Threads split the channels, so repeated rows never race and
// every sum keeps one order (m ascending) for any thread count.
template <class Index>
void scatter_add_repeated_rows(Cpu, float* out, const float* in, const Index* rows, std::int64_t M, std::int64_t C) {
    constexpr std::int64_t block = 16;
    const std::int64_t blocks = (C + block - 1) / block;
#pragma omp parallel for schedule(static)
    for (std::int64_t cb = 0; cb < blocks; ++cb) {
        const std::int64_t c0 = cb * block, c1 = std::min(C, c0 + block);
        for (std::int64_t m = 0; m < M; ++m) {
            float* o = out + static_cast<std::int64_t>(rows[m]) * C;
            const float* i = in + m * C;
            for (std::int64_t c = c0; c < c1; ++c) o[c] += i[c];
        }
    }
}

// out (N) += Σ_m in (M, N), m ascending for every column (a bias's gradient), for any thread count.
inline void sum_rows(Cpu, float* out, const float* in, std::int64_t M, std::int64_t N) {
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < N; ++n) {
        float s = 0.0f;
        for (std::int64_t m = 0; m < M; ++m) s += in[m * N + n];
        out[n] += s;
    }
}

}  // namespace tokclean
