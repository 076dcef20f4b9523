#pragma once
// Token + position embedding on the CPU (the contract: backend/ops.hpp).
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cpu/rows.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// out (B, T, C) = wte[ids[b, t]] (V, C) + wpe[t] (maxT, C). ids (B, T) must be in [0, V).
inline void embedding_forward(Cpu, float* out, const std::int32_t* ids, const float* wte,
                              const float* wpe, std::int64_t B, std::int64_t T, std::int64_t C) {
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < T; ++t) {
            float* o = out + (b * T + t) * C;
            const float* te = wte + static_cast<std::int64_t>(ids[b * T + t]) * C;
            const float* pe = wpe + t * C;
            for (std::int64_t c = 0; c < C; ++c) o[c] = te[c] + pe[c];
        }
}

// Accumulates dwte (V, C) and dwpe (maxT, C) from dout (B, T, C), each sum in (b, t) order for
// any thread count.
inline void embedding_backward(Cpu, float* dwte, float* dwpe, const float* dout,
                               const std::int32_t* ids, std::int64_t B, std::int64_t T,
                               std::int64_t C) {
    scatter_add_repeated_rows(Cpu{}, dwte, dout, ids, B * T, C);
#pragma omp parallel for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
        float* pe = dwpe + t * C;
        for (std::int64_t b = 0; b < B; ++b) {
            const float* d = dout + (b * T + t) * C;
            for (std::int64_t c = 0; c < C; ++c) pe[c] += d[c];
        }
    }
}

}  // namespace tokclean
