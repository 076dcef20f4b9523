#pragma once
// GPT-2's initialisation: weights N(0, 0.02²), the residual projections (attn.c_proj,
// mlp.c_proj) scaled by 1/sqrt(2·n_layer), biases 0, LayerNorm weights 1.
#include <cmath>
#include <cstdint>

#include "tokclean/core/rng.hpp"
#include "tokclean/nn/gpt_params.hpp"

namespace tokclean {

inline GptParams<Cpu> gpt_init(const GptConfig& config, std::uint64_t seed) {
    GptParams<Cpu> p(config);
    Rng rng(seed);
    auto normal = [&](GptParam which, double std) {
        for (float& x : p[which].span()) x = static_cast<float>(std * rng.normal());
    };
    const double residual_std = 0.02 / std::sqrt(2.0 * config.n_layer);
    normal(GptParam::wte, 0.02);
    normal(GptParam::wpe, 0.02);
    normal(GptParam::qkv_w, 0.02);
    normal(GptParam::attn_proj_w, residual_std);
    normal(GptParam::fc_w, 0.02);
    normal(GptParam::fc_proj_w, residual_std);
    for (GptParam w : {GptParam::ln1_w, GptParam::ln2_w, GptParam::lnf_w}) p[w].fill(1.0f);
    return p;  // biases stay zero from the allocation
}

}  // namespace tokclean
