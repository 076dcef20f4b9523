#pragma once
// A caching device allocator: freed blocks go back to a free list and serve later requests
// of a similar size, so the per-batch buffers of a training loop cost no cudaMalloc (which
// synchronises the device) after the first steps. Every block is used on the one stream of
// CudaContext, so a block freed while kernels still read it can be handed out at once: its
// next user's work is queued behind them on that stream.
#include <algorithm>
#include <cstddef>
#include <map>
#include <unordered_map>

#include "tokclean/backend/cuda/check.cuh"

namespace tokclean::cuda_detail {

class CachingAllocator {
public:
    // At least `bytes` of device memory, 256-byte aligned (cudaMalloc's guarantee).
    void* allocate(std::size_t bytes) {
        bytes = round_up(bytes);
        // The smallest free block that fits, if it wastes less than half of itself.
        auto it = free_.lower_bound(bytes);
        if (it != free_.end() && it->first <= 2 * bytes) {
            void* p = it->second;
            used_.emplace(p, it->first);
            free_.erase(it);
            return p;
        }
        void* p = nullptr;
        cudaError_t status = cudaMalloc(&p, bytes);
        if (status == cudaErrorMemoryAllocation) {  // give the cached blocks back, then retry
            (void)cudaGetLastError();
            release_cached();
            status = cudaMalloc(&p, bytes);
        }
        if (status != cudaSuccess) {
            (void)cudaGetLastError();
            fail("cudaMalloc of ", bytes, " bytes failed: ", cudaGetErrorString(status), " (",
                 in_use_ >> 20, " MiB in use by tokclean, ", cached_ >> 20, " MiB cached)");
        }
        used_.emplace(p, bytes);
        in_use_ += bytes;
        peak_ = std::max(peak_, in_use_ + cached_);
        return p;
    }

    // Returns a block of allocate() to the free list.
    void release(void* p) noexcept {
        if (!p) return;
        auto it = used_.find(p);
        if (it == used_.end()) return;  // not ours: a bug, but never worth a crash in a destructor
        free_.emplace(it->second, p);
        cached_ += it->second;
        in_use_ -= it->second;
        used_.erase(it);
    }

    // Frees every cached block (cudaFree synchronises the device).
    void release_cached() noexcept {
        for (auto& [bytes, p] : free_) (void)cudaFree(p);
        free_.clear();
        cached_ = 0;
    }

    std::size_t bytes_in_use() const { return in_use_; }
    std::size_t bytes_cached() const { return cached_; }
    // The most device memory held at once (in use + cached).
    std::size_t bytes_peak() const { return peak_; }
    void reset_peak() { peak_ = in_use_ + cached_; }

private:
    // Small blocks to 512 bytes, large ones to 2 MiB: fewer distinct sizes, more reuse.
    static std::size_t round_up(std::size_t bytes) {
        const std::size_t unit = bytes < (std::size_t{1} << 20) ? 512 : std::size_t{2} << 20;
        return (std::max<std::size_t>(bytes, 1) + unit - 1) / unit * unit;
    }

    std::multimap<std::size_t, void*> free_;     // size -> block
    std::unordered_map<void*, std::size_t> used_; // block -> size
    std::size_t in_use_ = 0, cached_ = 0, peak_ = 0;
};

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
