#pragma once
// One AdamW step on the GPU (the contract: backend/ops.hpp; the CPU's formulas in their
// order), and global-norm gradient clipping (optim/clip.hpp's contract).
#include <cmath>
#include <cstdint>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/detail/reduce.cuh"
#include "tokclean/backend/cuda/tensor.cuh"
#include "tokclean/backend/ops.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

template <class T>
__global__ void adamw_kernel(T* params, T* m, T* v, const T* grads, std::int64_t N, T beta1, T beta2,
                             T eps, T step_size, T bc2_sqrt, T decay) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        const T g = grads[i];
        const T mi = beta1 * m[i] + (T(1) - beta1) * g;
        const T vi = beta2 * v[i] + (T(1) - beta2) * (g * g);
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] * decay - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

inline constexpr unsigned norm_blocks = 1024;  // fixed: the partial sums, hence the norm, never vary

// partial[block] = Σ g² (in double) over a grid-stride share of g (N).
template <class T>
__global__ void squares_partial_kernel(double* partial, const T* g, std::int64_t N) {
    __shared__ double shared[32];
    double s = 0.0;
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        s += static_cast<double>(g[i]) * g[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <class T>
__global__ void sum_partials_kernel(double* total, const double* partial, unsigned n) {
    __shared__ double shared[32];
    double s = 0.0;
    for (unsigned i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) *total = s;
}

template <class T>
__global__ void scale_kernel(T* x, std::int64_t N, T f) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < N;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        x[i] *= f;
}

}  // namespace cuda_detail

// Updates params (N), m (N), v (N) in place from grads (N); step counts from 1.
inline void adamw_update(Cuda, float* params, float* m, float* v, const float* grads, std::int64_t N,
                         const AdamWHyper& h, std::int64_t step) {
    using namespace cuda_detail;
    if (N <= 0) return;
    // Bias corrections in double on the host, as the CPU backend computes them.
    const double bc1 = 1.0 - std::pow(static_cast<double>(h.beta1), static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(h.beta2), static_cast<double>(step));
    const float step_size = static_cast<float>(h.lr / bc1);
    const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    const float decay = 1.0f - h.lr * h.weight_decay;
    adamw_kernel<<<blocks_for(N, 256, 8192), 256, 0, stream()>>>(params, m, v, grads, N, h.beta1, h.beta2, h.eps,
                                                                 step_size, bc2_sqrt, decay);
    TOKCLEAN_CUDA_CHECK_LAUNCH("adamw_kernel");
}

// Returns the L2 norm of grads before clipping; when it exceeds max_norm > 0, scales grads
// by max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_). Waits for the norm.
inline double clip_grad_norm(Tensor<float, Cuda>& grads, double max_norm) {
    using namespace cuda_detail;
    const std::int64_t N = grads.numel();
    Scratch<double> partial(norm_blocks + 1);
    squares_partial_kernel<<<norm_blocks, 256, 0, stream()>>>(partial.get(), grads.data(), N);
    TOKCLEAN_CUDA_CHECK_LAUNCH("squares_partial_kernel");
    sum_partials_kernel<float><<<1, 1024, 0, stream()>>>(partial.get() + norm_blocks, partial.get(), norm_blocks);
    TOKCLEAN_CUDA_CHECK_LAUNCH("sum_partials_kernel");
    double total = 0.0;
    TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(&total, partial.get() + norm_blocks, sizeof(double),
                                        cudaMemcpyDeviceToHost, stream()));
    TOKCLEAN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    const double norm = std::sqrt(total);
    if (max_norm > 0.0) {
        const double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0 && N > 0) {
            scale_kernel<<<blocks_for(N, 256, 8192), 256, 0, stream()>>>(grads.data(), N, static_cast<float>(coef));
            TOKCLEAN_CUDA_CHECK_LAUNCH("scale_kernel");
        }
    }
    return norm;
}

}  // namespace tokclean
