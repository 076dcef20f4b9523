#pragma once
// Rotary position embeddings: the inverse frequencies and the cos/sin tables that
// rope_forward (backend/cpu/rope.hpp) rotates with, computed as Hugging Face transformers
// does (modeling_rope_utils: rope_type "default" and "llama3", then the rotary embedding's
// forward), operation by operation in float32: each value rounds as torch rounds it, so a
// model's positions see the same angles here as there.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "tokclean/core/error.hpp"

namespace tokclean {

// rope_scaling of a config.json with rope_type "llama3" (Llama 3.1: factor 8, Llama 3.2:
// factor 32); llama3 = false: plain RoPE, the other fields unused.
struct RopeScaling {
    bool llama3 = false;
    double factor = 1, low_freq_factor = 1, high_freq_factor = 4;
    std::int64_t original_max_positions = 8192;
};

namespace rope_detail {
// a · b rounded to float on its own: torch runs each operator separately, where a compiler
// allowed to contract (-ffp-contract=fast with FMA) would fuse it into the next add.
inline float product(float a, float b) {
    volatile float p = a * b;
    return p;
}
}  // namespace rope_detail

// inv_freq (head_dim / 2): 1 / theta^(2j / head_dim) with a float32 exponent and power, then
// the llama3 rule when scaling.llama3: long wavelengths (beyond original_max_positions /
// low_freq_factor) slowed down by factor, short ones (below original_max_positions /
// high_freq_factor) kept, the band between blended smoothly.
inline std::vector<float> rope_inv_freq(std::int64_t head_dim, double theta, const RopeScaling& scaling) {
    using rope_detail::product;
    TOKCLEAN_CHECK(head_dim > 0 && head_dim % 2 == 0, "head_dim ", head_dim, " must be even");
    const std::int64_t half = head_dim / 2;
    std::vector<float> inv(static_cast<std::size_t>(half));
    for (std::int64_t j = 0; j < half; ++j) {
        const float exponent = static_cast<float>(2 * j) / static_cast<float>(head_dim);
        inv[j] = 1.0f / std::pow(static_cast<float>(theta), exponent);
    }
    if (!scaling.llama3) return inv;
    // torch's float32 ops on python scalars: x / s and s / x are 1/x · s (reciprocal, then
    // product), the scalars rounded to float.
    const auto old_len = static_cast<double>(scaling.original_max_positions);
    const float factor = static_cast<float>(scaling.factor);
    const float low_wavelen = static_cast<float>(old_len / scaling.low_freq_factor);
    const float high_wavelen = static_cast<float>(old_len / scaling.high_freq_factor);
    const float low = static_cast<float>(scaling.low_freq_factor);
    const float band = static_cast<float>(scaling.high_freq_factor - scaling.low_freq_factor);
    const float two_pi = static_cast<float>(2 * std::numbers::pi);
    for (auto& f : inv) {
        const float wavelen = product(1.0f / f, two_pi);
        const float kept = wavelen > low_wavelen ? f / factor : f;
        if (wavelen < high_wavelen || wavelen > low_wavelen) {
            f = kept;
            continue;
        }
        const float smooth = (product(1.0f / wavelen, static_cast<float>(old_len)) - low) / band;
        f = product(1.0f - smooth, kept) / factor + product(smooth, kept);
    }
    return inv;
}

// cos and sin (T, half) of the angles t · inv_freq[j] for positions t < T, the product in
// float32 (as torch's) and cos, sin of it rounded to float.
struct RopeTables {
    std::int64_t T = 0, half = 0;
    std::vector<float> cos, sin;  // (T, half) each
};

inline RopeTables rope_tables(const std::vector<float>& inv_freq, std::int64_t T) {
    RopeTables r;
    r.T = T;
    r.half = static_cast<std::int64_t>(inv_freq.size());
    r.cos.resize(static_cast<std::size_t>(T * r.half));
    r.sin.resize(r.cos.size());
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t j = 0; j < r.half; ++j) {
            const double angle = rope_detail::product(static_cast<float>(t), inv_freq[j]);
            r.cos[t * r.half + j] = static_cast<float>(std::cos(angle));
            r.sin[t * r.half + j] = static_cast<float>(std::sin(angle));
        }
    return r;
}

}  // namespace tokclean
