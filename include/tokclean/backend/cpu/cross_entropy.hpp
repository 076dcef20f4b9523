#pragma once
// Softmax cross-entropy on the CPU (the contract: backend/ops.hpp), one loss per row of
// logits, in SIMD loops (at a 50k vocabulary the exps are as many as the LM head's outputs;
// the row kernels: detail/row_kernels.hpp). Sums over a row are SIMD reductions in a fixed
// order, the same for any thread count.
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// losses (M) = logsumexp(logits[m]) - logits[m, targets[m]], logits (M, V), targets in [0, V).
// Rows whose target is negative (ignore label -100) get loss 0. When lse (M) is not null it
// receives logsumexp(logits[m]) of every row, for cross_entropy_backward.
inline void cross_entropy_forward(Cpu, float* losses, const float* logits,
                                  const std::int32_t* targets, std::int64_t M, std::int64_t V,
                                  float* lse = nullptr) {
    const auto row_logsumexp = cpu_detail::row_kernels().logsumexp;
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) {
        const float l = row_logsumexp(logits + m * V, V);
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
    const cpu_detail::RowKernels& k = cpu_detail::row_kernels();
#pragma omp parallel for schedule(static)
    for (std::int64_t m = 0; m < M; ++m) {
        const float* row = logits + m * V;
        float* drow = dlogits + m * V;
        if (targets[m] < 0) {
            std::fill(drow, drow + V, 0.0f);
            continue;
        }
        const float d = dlosses[m];
        k.softmax_grad(drow, row, V, lse ? lse[m] : k.logsumexp(row, V), d);
        drow[targets[m]] -= d;
    }
}

}  // namespace tokclean
