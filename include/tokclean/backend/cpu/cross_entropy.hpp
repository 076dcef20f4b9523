#pragma once
// Softmax cross-entropy on the CPU, one loss per row of logits.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "tokclean/core/device.hpp"

namespace tokclean {

// losses (M) = logsumexp(logits[m]) - logits[m, targets[m]], logits (M, V), targets in [0, V).
// Rows whose target is negative (ignore label -100) get loss 0.
inline void cross_entropy_forward(Cpu, float* losses, const float* logits,
                                  const std::int32_t* targets, std::int64_t M, std::int64_t V) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) {
        if (targets[m] < 0) {
            losses[m] = 0.0f;
            continue;
        }
        const float* row = logits + m * V;
        float mx = row[0];
        for (std::int64_t v = 1; v < V; ++v) mx = std::max(mx, row[v]);
        float sum = 0.0f;
        for (std::int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
        losses[m] = std::log(sum) + mx - row[targets[m]];
    }
}

// dlogits (M, V) = (softmax(logits) - onehot(target)) * dlosses[m]; overwrites, may alias
// logits (the LM head reuses the logits buffer for its gradient). Ignored rows get 0.
inline void cross_entropy_backward(Cpu, float* dlogits, const float* logits,
                                   const std::int32_t* targets, const float* dlosses,
                                   std::int64_t M, std::int64_t V) {
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) {
        const float* row = logits + m * V;
        float* drow = dlogits + m * V;
        if (targets[m] < 0) {
            std::fill(drow, drow + V, 0.0f);
            continue;
        }
        float mx = row[0];
        for (std::int64_t v = 1; v < V; ++v) mx = std::max(mx, row[v]);
        float sum = 0.0f;
        for (std::int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
        const float inv = 1.0f / sum, d = dlosses[m];
        for (std::int64_t v = 0; v < V; ++v) drow[v] = std::exp(row[v] - mx) * inv * d;
        drow[targets[m]] -= d;
    }
}

}  // namespace tokclean
