#pragma once
// bfloat16: a float's sign, its 8 exponent bits and the top 7 of its 23 mantissa bits, the
// dtype large models are stored in (safetensors "BF16"). Widening to float is exact (the bits
// shifted up); narrowing rounds to nearest, ties to even, as PyTorch's .to(torch.bfloat16).
#include <bit>
#include <cstdint>

namespace tokclean {

struct bfloat16 {
    std::uint16_t bits = 0;
};
static_assert(sizeof(bfloat16) == 2);

// Which dtype a model holds its frozen weights in (--dtype): float32 (4 bytes a parameter), or
// bfloat16 (2 bytes; products still accumulate in float32).
enum class WeightDtype { f32, bf16 };

inline const char* weight_dtype_name(WeightDtype d) { return d == WeightDtype::bf16 ? "bf16" : "fp32"; }

inline float to_float(bfloat16 x) { return std::bit_cast<float>(static_cast<std::uint32_t>(x.bits) << 16); }

inline bfloat16 to_bfloat16(float x) {
    const auto u = std::bit_cast<std::uint32_t>(x);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0)  // NaN: stays NaN (quiet)
        return {static_cast<std::uint16_t>((u >> 16) | 0x0040u)};
    const std::uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);  // to nearest, ties to even
    return {static_cast<std::uint16_t>((u + rounding) >> 16)};
}

}  // namespace tokclean
