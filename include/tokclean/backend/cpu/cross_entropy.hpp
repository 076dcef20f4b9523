#pragma once
// Softmax cross-entropy on the CPU (the contract: backend/ops.hpp), one loss per row of
// logits, in SIMD loops (at a 50k vocabulary the exps are as many as the LM head's outputs).
// Sums over a row are SIMD reductions in a fixed order, the same for any thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tokclean/backend/cpu/detail/fast_exp.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cpu_detail {
// logsumexp of row (V).
inline float logsumexp(const float* row, std::int64_t V) {
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (std::int64_t v = 0; v < V; ++v) mx = row[v] > mx ? row[v] : mx;  // (std::max does not vectorise)
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t v = 0; v < V; ++v) sum += fast_exp(row[v] - mx);
    return mx + std::log(sum);
}
}  // namespace cpu_detail

// losses (M) = logsumexp(logits[m]) - logits[m, targets[m]], logits (M, V), targets in [0, V).
// Rows whose target is negative (ignore label -100) get loss 0. When lse (M) is not null it
// receives logsumexp(logits[m]) of every row, for cross_entropy_backward.
inline void cross_entropy_forward(Cpu, float* losses, const float* logits,
                                  const std::int32_t* targets, std::int64_t M, std::int64_t V,
                                  float* lse = nullptr) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) {
        const float l = cpu_detail::logsumexp(logits + m * V, V);
        if (lse) lse[m] = l;
        losses[m] = targets[m] < 0 ? 0.0f : l - logits[m * V + targets[m]];
    }
}

// dlogits (M, V) = (softmax(logits) - onehot(target)) * dlosses[m]; overwrites, may alias
// logits (the LM head reuses the logits buffer for its gradient). Ignored rows get 0.
// lse (M): the forward's logsumexp per row, or null to recompute it (two passes less with it).
inline void cross_entropy_backward(Cpu, float* dlogits, const float* logits,
                                   const std::int32_t* targets, const float* dlosses,
                                   std::int64_t M, std::int64_t V, const float* lse = nullptr) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) {
        const float* row = logits + m * V;
        float* drow = dlogits + m * V;
        if (targets[m] < 0) {
            std::fill(drow, drow + V, 0.0f);
            continue;
        }
        const float l = lse ? lse[m] : cpu_detail::logsumexp(row, V), d = dlosses[m];
#pragma omp simd
        for (std::int64_t v = 0; v < V; ++v) drow[v] = cpu_detail::fast_exp(row[v] - l) * d;
        drow[targets[m]] -= d;
    }
}

}  // namespace tokclean
