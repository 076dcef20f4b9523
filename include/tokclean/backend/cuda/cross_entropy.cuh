#pragma once
// Softmax cross-entropy on the GPU (the contract: backend/ops.hpp), one block per row of
// logits.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/detail/reduce.cuh"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

inline constexpr int ce_threads = 512;

// logsumexp of row (V), the same value in every thread of the block. Each thread keeps a
// running (max, Σ e^(x - max)) over its elements, one pass over the row; the block then
// rescales every thread's sum to the row's maximum.
__device__ inline float block_logsumexp(const float* row, std::int64_t V, float* shared) {
    float m = -INFINITY, s = 0.0f;
    for (std::int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        const float x = row[v];
        if (x > m) {
            s = s * expf(m - x) + 1.0f;
            m = x;
        } else {
            s += expf(x - m);
        }
    }
    const float row_max = block_max(m, shared);
    const float scaled = m == -INFINITY ? 0.0f : s * expf(m - row_max);
    return row_max + logf(block_sum(scaled, shared));
}

template <class T>
__global__ void cross_entropy_forward_kernel(T* losses, const T* logits, const std::int32_t* targets,
                                             std::int64_t M, std::int64_t V, T* lse) {
    __shared__ T shared[32];
    for (std::int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T* row = logits + m * V;
        const T l = block_logsumexp(row, V, shared);
        if (threadIdx.x == 0) {
            if (lse) lse[m] = l;
            losses[m] = targets[m] < 0 ? T(0) : l - row[targets[m]];
        }
    }
}

// dlogits = (softmax - onehot(target)) · dlosses[m], written over (may alias logits: each
// element is read, then written, by the same thread).
template <class T>
__global__ void cross_entropy_backward_kernel(T* dlogits, const T* logits, const std::int32_t* targets,
                                              const T* dlosses, std::int64_t M, std::int64_t V, const T* lse) {
    __shared__ T shared[32];
    for (std::int64_t m = blockIdx.x; m < M; m += gridDim.x) {
        const T* row = logits + m * V;
        T* drow = dlogits + m * V;
        const std::int32_t t = targets[m];
        if (t < 0) {
            for (std::int64_t v = threadIdx.x; v < V; v += blockDim.x) drow[v] = 0;
            continue;
        }
        const T l = lse ? lse[m] : block_logsumexp(row, V, shared);
        const T d = dlosses[m];
        for (std::int64_t v = threadIdx.x; v < V; v += blockDim.x) {
            const T g = expf(row[v] - l) * d;
            drow[v] = v == t ? g - d : g;
        }
    }
}

}  // namespace cuda_detail

// losses (M) = logsumexp(logits[m]) - logits[m, targets[m]], logits (M, V), targets (M, on the
// device) in [0, V) or negative (ignored: loss 0). lse (M), when not null, receives each row's
// logsumexp for cross_entropy_backward.
inline void cross_entropy_forward(Cuda, float* losses, const float* logits, const std::int32_t* targets,
                                  std::int64_t M, std::int64_t V, float* lse = nullptr) {
    using namespace cuda_detail;
    if (M <= 0) return;
    cross_entropy_forward_kernel<<<static_cast<unsigned>(std::min<std::int64_t>(M, 65535)), ce_threads, 0,
                                   stream()>>>(losses, logits, targets, M, V, lse);
    TOKCLEAN_CUDA_CHECK_LAUNCH("cross_entropy_forward_kernel");
}

// dlogits (M, V) = (softmax(logits) - onehot(target)) * dlosses[m]; overwrites, may alias
// logits. Ignored rows get 0. lse (M): the forward's, or null to recompute it.
inline void cross_entropy_backward(Cuda, float* dlogits, const float* logits, const std::int32_t* targets,
                                   const float* dlosses, std::int64_t M, std::int64_t V,
                                   const float* lse = nullptr) {
    using namespace cuda_detail;
    if (M <= 0) return;
    cross_entropy_backward_kernel<<<static_cast<unsigned>(std::min<std::int64_t>(M, 65535)), ce_threads, 0,
                                    stream()>>>(dlogits, logits, targets, dlosses, M, V, lse);
    TOKCLEAN_CUDA_CHECK_LAUNCH("cross_entropy_backward_kernel");
}

}  // namespace tokclean
