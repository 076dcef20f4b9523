#pragma once
// A caching device allocator: freed blocks go back to a free list and serve later requests
// of a similar size, so the per-batch buffers of a training loop cost no cudaMalloc (which
// synchronises the device) after the first steps. Every block is used on the one stream of
// CudaContext, so a block freed while kernels still read it can be handed out at once: its
// next user's work is queued behind them on that stream.
#include <cstddef>

#include "tokclean/backend/cuda/check.cuh"
#include "tokclean/backend/detail/caching_pool.hpp"

namespace tokclean::cuda_detail {

// The raw device memory under the cache (detail::CachingPool's Raw).
struct CudaMalloc {
    static constexpr const char* name = "cudaMalloc";

    // 256-byte aligned (cudaMalloc's guarantee).
    detail::RawAllocation allocate(std::size_t bytes) const noexcept {
        void* p = nullptr;
        const cudaError_t status = cudaMalloc(&p, bytes);
        if (status == cudaSuccess) return {p};
        (void)cudaGetLastError();  // a failed call stays the "last error": clear it
        return {nullptr, status == cudaErrorMemoryAllocation, cudaGetErrorString(status)};
    }
    void free(void* p) const noexcept { (void)cudaFree(p); }
};

// allocate(bytes), release(p), release_cached(), and the counters bytes_in_use(),
// bytes_cached(), bytes_peak() (the bookkeeping: backend/detail/caching_pool.hpp).
using CachingAllocator = detail::CachingPool<CudaMalloc>;

// The process's allocator. Never destroyed: device tensors in static storage may outlive any
// ordering we could give it, and the driver reclaims the memory at exit.
inline CachingAllocator& allocator() {
    static CachingAllocator* a = new CachingAllocator();
    return *a;
}

// Uninitialised scratch memory of n values of T for the duration of one op.
template <class T>
class Scratch {
public:
    explicit Scratch(std::size_t n) : p_(static_cast<T*>(allocator().allocate(n * sizeof(T)))) {}
    ~Scratch() { allocator().release(p_); }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    T* get() const { return p_; }

private:
    T* p_;
};

}  // namespace tokclean::cuda_detail
