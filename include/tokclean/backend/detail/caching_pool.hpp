#pragma once
// A caching allocator's logic apart from any device: freed blocks go back to a free list and
// serve later requests of a similar size, and the counters say how many bytes are in use,
// how many are cached, and the most held at once. Plain C++ (no device headers), so that its
// bookkeeping is tested on machines without a GPU.
//
// Raw is the device's own allocator (backend/cuda/allocator.cuh: cudaMalloc and cudaFree;
// a host fake in tests/test_caching_pool.cpp):
//   static constexpr const char* name;                  for messages, e.g. "cudaMalloc"
//   RawAllocation allocate(std::size_t bytes) noexcept;  a new block, or why there is none
//   void free(void* block) noexcept;
#include <algorithm>
#include <cstddef>
#include <map>
#include <unordered_map>
#include <utility>

#include "tokclean/core/error.hpp"

namespace tokclean::detail {

struct RawAllocation {
    void* block = nullptr;       // null when the allocation failed
    bool out_of_memory = false;  // it failed for want of memory: worth a retry without the cache
    const char* error = "";      // why it failed
};

template <class Raw>
class CachingPool {
public:
    CachingPool() = default;
    explicit CachingPool(Raw raw) : raw_(std::move(raw)) {}
    CachingPool(const CachingPool&) = delete;
    CachingPool& operator=(const CachingPool&) = delete;

    // At least `bytes` (block_size(bytes) exactly), with the alignment of Raw's blocks. Throws
    // tokclean::Error when Raw has no memory left, even with every cached block given back.
    void* allocate(std::size_t bytes) {
        bytes = block_size(bytes);
        // The smallest free block that fits, if it wastes less than half of itself.
        auto it = free_.lower_bound(bytes);
        if (it != free_.end() && it->first <= 2 * bytes) {
            const auto [size, p] = *it;
            free_.erase(it);
            used_.emplace(p, size);
            cached_ -= size;  // from the cache into use: the peak (in use + cached) stays
            in_use_ += size;
            return p;
        }
        RawAllocation r = raw_.allocate(bytes);
        if (!r.block && r.out_of_memory) {  // give the cached blocks back, then retry
            release_cached();
            r = raw_.allocate(bytes);
        }
        if (!r.block)
            fail(Raw::name, " of ", bytes, " bytes failed: ", r.error, " (", in_use_ >> 20,
                 " MiB in use by tokclean, ", cached_ >> 20, " MiB cached)");
        used_.emplace(r.block, bytes);
        in_use_ += bytes;
        peak_ = std::max(peak_, in_use_ + cached_);
        return r.block;
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

    // Gives every cached block back to Raw (cudaFree synchronises the device).
    void release_cached() noexcept {
        for (auto& [bytes, p] : free_) raw_.free(p);
        free_.clear();
        cached_ = 0;
    }

    std::size_t bytes_in_use() const { return in_use_; }
    std::size_t bytes_cached() const { return cached_; }
    // The most memory held at once (in use + cached).
    std::size_t bytes_peak() const { return peak_; }
    void reset_peak() { peak_ = in_use_ + cached_; }

    // What allocate(bytes) takes: small blocks in steps of 512 bytes, large ones (from 1 MiB)
    // of 2 MiB, so that sizes repeat and blocks are reused.
    static std::size_t block_size(std::size_t bytes) {
        const std::size_t unit = bytes < (std::size_t{1} << 20) ? 512 : std::size_t{2} << 20;
        return (std::max<std::size_t>(bytes, 1) + unit - 1) / unit * unit;
    }

private:
    Raw raw_;
    std::multimap<std::size_t, void*> free_;      // size -> block
    std::unordered_map<void*, std::size_t> used_;  // block -> size
    std::size_t in_use_ = 0, cached_ = 0, peak_ = 0;
};

}  // namespace tokclean::detail
