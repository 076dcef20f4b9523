#pragma once
// Token + position embedding on the GPU (the contract: backend/ops.hpp).
// The backward sums the rows of repeated tokens in position order (not with atomics), so
// the gradient is the same on every run: the ids are sorted into buckets on the host (a copy
// of B·T ints), and one block sums each bucket (scatter_add_repeated_rows, which the Llama
// family's embedding uses alone).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/core/device.hpp"

namespace tokclean {

namespace cuda_detail {

// out (BT, C) = wte[ids] + wpe[t]: one block row per position.
template <class T>
__global__ void embedding_forward_kernel(T* out, const std::int32_t* ids, const T* wte, const T* wpe,
                                         std::int64_t BT, std::int64_t Tlen, std::int64_t C) {
    for (std::int64_t i = blockIdx.x; i < BT; i += gridDim.x) {
        const T* te = wte + static_cast<std::int64_t>(ids[i]) * C;
        const T* pe = wpe + (i % Tlen) * C;
        T* o = out + i * C;
        for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = te[c] + pe[c];
    }
}

// dwpe[t, c] += Σ_b dout[b, t, c], b in order.
template <class T>
__global__ void position_grad_kernel(T* dwpe, const T* dout, std::int64_t B, std::int64_t Tlen,
                                     std::int64_t C) {
    const std::int64_t n = Tlen * C;
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        T s = 0;
        for (std::int64_t b = 0; b < B; ++b) s += dout[b * n + i];
        dwpe[i] += s;
    }
}

// For bucket k (one token id): dwte[ids[k]] += Σ dout[positions[begin[k] .. begin[k+1])].
template <class T>
__global__ void token_grad_kernel(T* dwte, const T* dout, const std::int32_t* bucket_ids,
                                  const std::int32_t* begin, const std::int32_t* positions,
                                  std::int64_t buckets, std::int64_t C) {
    for (std::int64_t k = blockIdx.x; k < buckets; k += gridDim.x) {
        T* row = dwte + static_cast<std::int64_t>(bucket_ids[k]) * C;
        for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) {
            T s = 0;
            for (std::int32_t j = begin[k]; j < begin[k + 1]; ++j)
                s += dout[static_cast<std::int64_t>(positions[j]) * C + c];
            row[c] += s;
        }
    }
}

}  // namespace cuda_detail

// out (B, T, C) = wte[ids[b, t]] (V, C) + wpe[t] (maxT, C); ids (B, T) on the device, in [0, V).
inline void embedding_forward(Cuda, float* out, const std::int32_t* ids, const float* wte, const float* wpe,
                              std::int64_t B, std::int64_t T, std::int64_t C) {
    using namespace cuda_detail;
    if (B * T <= 0) return;
    embedding_forward_kernel<<<static_cast<unsigned>(std::min<std::int64_t>(B * T, 65535)), 256, 0, stream()>>>(
        out, ids, wte, wpe, B * T, T, C);
    TOKCLEAN_CUDA_CHECK_LAUNCH("embedding_forward_kernel");
}

// out[rows[m]] (N, C) += in (M, C) where rows (M, on the device; int32 or int64) may repeat: the
// rows of one index are summed in m order by one block, so the result is the same every run.
template <class Index>
void scatter_add_repeated_rows(Cuda, float* out, const float* in, const Index* rows, std::int64_t M, std::int64_t C) {
    using namespace cuda_detail;
    if (M <= 0) return;
    // Buckets of equal rows, m ascending inside each: a stable sort of (row, m).
    std::vector<Index> host_rows(static_cast<std::size_t>(M));
    TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(host_rows.data(), rows, host_rows.size() * sizeof(Index),
                                        cudaMemcpyDeviceToHost, stream()));
    TOKCLEAN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    std::vector<std::int32_t> order(static_cast<std::size_t>(M));
    for (std::int64_t i = 0; i < M; ++i) order[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int32_t a, std::int32_t b) { return host_rows[a] < host_rows[b]; });
    // One buffer (positions, bucket rows, bucket starts + end), one upload.
    std::vector<std::int32_t> packed(order);
    std::vector<std::int32_t> starts;
    const std::size_t first_row = packed.size();
    for (std::size_t j = 0; j < order.size(); ++j)
        if (j == 0 || host_rows[order[j]] != host_rows[order[j - 1]]) {
            packed.push_back(static_cast<std::int32_t>(host_rows[order[j]]));
            starts.push_back(static_cast<std::int32_t>(j));
        }
    const auto buckets = static_cast<std::int64_t>(starts.size());
    starts.push_back(static_cast<std::int32_t>(M));
    packed.insert(packed.end(), starts.begin(), starts.end());
    Scratch<std::int32_t> dev(packed.size());
    TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(dev.get(), packed.data(), packed.size() * sizeof(std::int32_t),
                                        cudaMemcpyHostToDevice, stream()));
    const std::int32_t* positions = dev.get();
    const std::int32_t* bucket_rows = positions + first_row;
    const std::int32_t* begin = bucket_rows + buckets;
    token_grad_kernel<<<static_cast<unsigned>(std::min<std::int64_t>(buckets, 65535)), 256, 0, stream()>>>(
        out, in, bucket_rows, begin, positions, buckets, C);
    TOKCLEAN_CUDA_CHECK_LAUNCH("token_grad_kernel");
}

// Accumulates dwte (V, C) and dwpe (maxT, C) from dout (B, T, C); ids (B, T) on the device.
inline void embedding_backward(Cuda, float* dwte, float* dwpe, const float* dout, const std::int32_t* ids,
                               std::int64_t B, std::int64_t T, std::int64_t C) {
    using namespace cuda_detail;
    if (B * T <= 0) return;
    position_grad_kernel<<<blocks_for(T * C, 256, 4096), 256, 0, stream()>>>(dwpe, dout, B, T, C);
    TOKCLEAN_CUDA_CHECK_LAUNCH("position_grad_kernel");
    scatter_add_repeated_rows(Cuda{}, dwte, dout, ids, B * T, C);
}

}  // namespace tokclean
