#pragma once
// The process's CUDA state: one stream that every op of tokclean runs on (so results and
// buffer reuse follow one order), the cuBLAS, cuBLASLt and cuDNN handles bound to it, and
// the math mode of the products. Not thread-safe: one host thread drives the device.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/check.cuh"

namespace tokclean {

// How the matrix products compute (PyTorch's names: allow_tf32, autocast to bfloat16).
//   fp32: float32 in and out, float32 arithmetic: the CPU backend's results to rounding.
//   tf32: float32 in and out, operands rounded to TF32 (10-bit mantissa) inside the product.
//   bf16: operands converted to bfloat16, products accumulated and written in float32;
//         attention through cuDNN's fused kernel where it applies (sm_80+, head size <= 128).
// Everything outside the products (LayerNorm, GELU, softmax, losses, AdamW) stays float32.
enum class CudaMath { fp32, tf32, bf16 };

inline const char* cuda_math_name(CudaMath m) {
    return m == CudaMath::fp32 ? "fp32" : m == CudaMath::tf32 ? "tf32" : "bf16";
}

// True when a CUDA device can be used (never throws: a machine without a driver says false).
inline bool cuda_device_available() {
    int n = 0;
    const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    (void)cudaGetLastError();  // clear the error of a missing driver
    return ok;
}

namespace cuda_detail {

class Context {
public:
    Context() {
        if (!cuda_device_available()) fail("no CUDA device is available (cudaGetDeviceCount)");
        TOKCLEAN_CUDA_CHECK(cudaGetDevice(&device_));
        TOKCLEAN_CUDA_CHECK(cudaGetDeviceProperties(&props_, device_));
        TOKCLEAN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        TOKCLEAN_CUDA_CHECK(cublasCreate(&cublas_));
        TOKCLEAN_CUDA_CHECK(cublasSetStream(cublas_, stream_));
        TOKCLEAN_CUDA_CHECK(cublasLtCreate(&lt_));
        workspace_ = allocator().allocate(workspace_bytes);
        TOKCLEAN_CUDA_CHECK(cublasSetWorkspace(cublas_, workspace_, workspace_bytes));
    }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    cudaStream_t stream() const { return stream_; }
    cublasHandle_t cublas() const { return cublas_; }
    cublasLtHandle_t lt() const { return lt_; }
    // cuDNN is created on first use: loading it takes a while, and only attention needs it.
    cudnnHandle_t cudnn() {
        if (!cudnn_) {
            TOKCLEAN_CUDA_CHECK(cudnnCreate(&cudnn_));
            TOKCLEAN_CUDA_CHECK(cudnnSetStream(cudnn_, stream_));
        }
        return cudnn_;
    }
    // cuBLAS's and cuBLASLt's workspace (32 MiB, as NVIDIA advises for Hopper).
    void* workspace() const { return workspace_; }
    static constexpr std::size_t workspace_bytes = std::size_t{32} << 20;

    const cudaDeviceProp& properties() const { return props_; }
    int sm_version() const { return props_.major * 10 + props_.minor; }
    int sm_count() const { return props_.multiProcessorCount; }

    CudaMath math = CudaMath::fp32;
    bool fused_attention = true;  // cuDNN's fused attention in bf16 mode where it applies

    void synchronize() const { TOKCLEAN_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

private:
    int device_ = 0;
    cudaDeviceProp props_{};
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    cublasLtHandle_t lt_ = nullptr;
    cudnnHandle_t cudnn_ = nullptr;
    void* workspace_ = nullptr;
};

// Created on first use, on the device current then; never destroyed (see allocator()).
inline Context& context() {
    static Context* c = new Context();
    return *c;
}

inline cudaStream_t stream() { return context().stream(); }

// Blocks of `threads` covering n items, at most `max_blocks` (grid-stride loops do the rest).
inline unsigned blocks_for(std::int64_t n, unsigned threads, std::int64_t max_blocks = 65535) {
    const std::int64_t b = (n + threads - 1) / threads;
    return static_cast<unsigned>(std::max<std::int64_t>(1, std::min(b, max_blocks)));
}

}  // namespace cuda_detail

// The math mode of the products from now on (see CudaMath). A forward and its backward must
// run under the same mode.
inline void set_cuda_math(CudaMath m) { cuda_detail::context().math = m; }
inline CudaMath cuda_math() { return cuda_detail::context().math; }
// Lets bf16 mode use cuDNN's fused attention where it applies (the default), or not.
inline void set_cuda_fused_attention(bool on) { cuda_detail::context().fused_attention = on; }
// Waits for every queued op (timing; reading results goes through copies that wait already).
inline void cuda_synchronize() { cuda_detail::context().synchronize(); }

}  // namespace tokclean
