#pragma once
// Residual connection on the CPU (the contract: backend/ops.hpp).
#include <cstdint>

#include "tokclean/core/device.hpp"

namespace tokclean {

// out (N) = a (N) + b (N).
inline void residual_forward(Cpu, float* out, const float* a, const float* b, std::int64_t N) {
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < N; ++i) out[i] = a[i] + b[i];
}

// Accumulates da (N) += dout and db (N) += dout.
inline void residual_backward(Cpu, float* da, float* db, const float* dout, std::int64_t N) {
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < N; ++i) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

}  // namespace tokclean
