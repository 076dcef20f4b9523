#pragma once
// Inverted dropout and scaling on the CPU (the contract: backend/ops.hpp).
#include <cstdint>

#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/backend/detail/dropout_mask.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// out (N) = in (N) · keep(seed, i) / (1 - p); out may be in. The mask depends only on (seed,
// i): the same call on the gradient is dropout's backward.
inline void dropout_forward(Cpu, float* out, const float* in, std::int64_t N, float p, std::uint64_t seed) {
    const std::uint32_t threshold = dropout_detail::drop_threshold(p);
    const float scale = 1.0f / (1.0f - p);
    cpu_detail::parallel_blocks(N, std::int64_t{1} << 16, [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i)
            out[i] = dropout_detail::kept(seed, static_cast<std::uint64_t>(i), threshold) ? in[i] * scale : 0.0f;
    });
}

// x (N) *= s.
inline void scale_values(Cpu, float* x, float s, std::int64_t N) {
    cpu_detail::parallel_blocks(N, std::int64_t{1} << 18, [&](std::int64_t i0, std::int64_t i1) {
        for (std::int64_t i = i0; i < i1; ++i) x[i] *= s;
    });
}

}  // namespace tokclean
