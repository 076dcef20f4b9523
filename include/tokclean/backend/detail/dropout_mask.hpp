#pragma once
// Which entries inverted dropout keeps: a pure function of (seed, index), the same on the CPU
// and the GPU, so that a backward regenerates the forward's mask instead of storing it, and
// a run continued from a checkpoint draws the masks an uninterrupted run draws.
#include <cstdint>

#if defined(__CUDACC__)
#define TOKCLEAN_HOST_DEVICE __host__ __device__
#else
#define TOKCLEAN_HOST_DEVICE
#endif

namespace tokclean::dropout_detail {

// splitmix64's finaliser of seed + (i + 1)·φ: 64 well-mixed bits per (seed, index).
TOKCLEAN_HOST_DEVICE inline std::uint64_t mix(std::uint64_t seed, std::uint64_t i) {
    std::uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// The drop probability p as a 24-bit threshold: entry i is dropped when its 24 random bits
// fall below it, so P(drop) = round(p · 2^24) / 2^24.
inline std::uint32_t drop_threshold(float p) { return static_cast<std::uint32_t>(static_cast<double>(p) * 16777216.0 + 0.5); }

TOKCLEAN_HOST_DEVICE inline bool kept(std::uint64_t seed, std::uint64_t i, std::uint32_t threshold) {
    return static_cast<std::uint32_t>(mix(seed, i) >> 40) >= threshold;
}

}  // namespace tokclean::dropout_detail
