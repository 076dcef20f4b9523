#pragma once
// 64-byte aligned host memory: one cache line, and the widest SIMD load (AVX-512).
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace tokclean {

inline constexpr std::size_t host_alignment = 64;

struct AlignedFree {
    void operator()(void* p) const noexcept { std::free(p); }
};

// Allocates `count` elements of T, aligned to host_alignment, zero-filled.
template <class T>
std::unique_ptr<T[], AlignedFree> aligned_zeros(std::size_t count) {
    std::size_t bytes = count * sizeof(T);
    bytes = (bytes + host_alignment - 1) / host_alignment * host_alignment;
    if (bytes == 0) bytes = host_alignment;
    void* p = std::aligned_alloc(host_alignment, bytes);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    return std::unique_ptr<T[], AlignedFree>(static_cast<T*>(p));
}

}  // namespace tokclean
