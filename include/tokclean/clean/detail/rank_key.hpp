#pragma once
// The ranking order of every threshold policy, in one place: a higher score ranks first, and
// equal scores rank by flat (example, position) index, earlier first. Scores are compared
// through an order-preserving uint32 key of their float bits, which the radix select needs
// anyway and which makes -0.0 and +0.0 one value (they are equal scores: ties go by index).
#include <bit>
#include <cstdint>

namespace tokclean::detail {

// For finite a, b: rank_key(a) < rank_key(b) iff a < b, and rank_key(-0.0f) == rank_key(0.0f).
// Negative floats have their bits flipped (their magnitude order is reversed), non-negative
// ones get the sign bit set (so they sort above every negative one).
inline std::uint32_t rank_key(float score) {
    std::uint32_t bits = std::bit_cast<std::uint32_t>(score);
    if (bits == 0x80000000u) bits = 0;  // -0.0 -> +0.0; an integer test, robust to -ffast-math
    const std::uint32_t flip =
        static_cast<std::uint32_t>(-static_cast<std::int32_t>(bits >> 31)) | 0x80000000u;
    return bits ^ flip;
}

// True when the token with key ka at index ia ranks before the one with key kb at index ib.
// A strict total order (indices are distinct), so "the first k" is one well-defined set.
inline bool ranks_before(std::uint32_t ka, std::int64_t ia, std::uint32_t kb, std::int64_t ib) {
    return ka > kb || (ka == kb && ia < ib);
}

// The same order packed into one integer, for spans of fewer than 2^32 tokens (i = the index
// inside the span): the larger code ranks first. Codes are distinct, so the k-th largest
// code c splits the span exactly: the top k are the tokens whose code is >= c.
inline std::uint64_t rank_code(std::uint32_t key, std::uint32_t i) {
    return (std::uint64_t{key} << 32) | (0xFFFFFFFFu - i);
}

}  // namespace tokclean::detail
