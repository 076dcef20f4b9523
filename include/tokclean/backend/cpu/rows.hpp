#pragma once
// Row gather / scatter and fills on the CPU: the token-sparse LM head takes only the rows
// that predict a target.
#include <algorithm>
#include <cstdint>

#include "tokclean/core/device.hpp"

namespace tokclean {

inline void fill_zero(Cpu, float* out, std::int64_t N) { std::fill_n(out, N, 0.0f); }

// out (M, C) = in[rows[m]] with in (N, C); rows in [0, N).
inline void gather_rows(Cpu, float* out, const float* in, const std::int64_t* rows,
                        std::int64_t M, std::int64_t C) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) std::copy_n(in + rows[m] * C, C, out + m * C);
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

}  // namespace tokclean
