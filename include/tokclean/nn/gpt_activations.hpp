#pragma once
// The buffers of GPT-2's passes, sized for a batch (B, T) with M target rows; grown on
// demand, never shrunk. A forward for backward keeps every layer's activations
// (GptActivations); a scoring forward reuses one layer's worth (GptScoreActivations); both
// end in the token-sparse LM head (GptHeadBuffers).
#include <algorithm>
#include <cstdint>

#include "tokclean/core/tensor.hpp"
#include "tokclean/nn/gpt_config.hpp"

namespace tokclean {

namespace detail {
// True when a buffer sized for (B, T) must grow to hold (b, t); updates B and T.
inline bool grow_sequence(std::int64_t& B, std::int64_t& T, std::int64_t b, std::int64_t t) {
    if (b * t <= B * T && t <= T && b <= B) return false;
    B = std::max(B, b);
    T = std::max(T, t);
    return true;
}
}  // namespace detail

// Floats of the `att` buffer one layer's attention keeps for its backward: the softmax
// probabilities (B, NH, T, T), unless the device's backend overloads this (backend/cuda: with
// cuDNN's fused attention, its statistics and output instead).
template <class D>
std::int64_t attention_state_size(D, std::int64_t B, std::int64_t T, std::int64_t /*C*/, std::int64_t NH) {
    return B * NH * T * T;
}

// Everything backward() needs, per layer, plus the scratch gradients of the backward pass.
template <class D = Cpu>
struct GptActivations {
    std::int64_t B = 0, T = 0;  // capacity: batch, sequence

    Tensor<float, D> encoded;      // (B, T, C)      token + position embedding
    Tensor<float, D> ln1;          // (L, B, T, C)
    Tensor<float, D> ln1_mean;     // (L, B, T)
    Tensor<float, D> ln1_rstd;     // (L, B, T)
    Tensor<float, D> qkv;          // (L, B, T, 3C)
    Tensor<float, D> atty;         // (L, B, T, C)   attention output, heads concatenated
    Tensor<float, D> att;          // (L, S) what attention keeps, S = attention_state_size:
                                   // (L, B, NH, T, T) softmax probabilities on the CPU
    Tensor<float, D> residual2;    // (L, B, T, C)   after the attention residual
    Tensor<float, D> ln2;          // (L, B, T, C)
    Tensor<float, D> ln2_mean;     // (L, B, T)
    Tensor<float, D> ln2_rstd;     // (L, B, T)
    Tensor<float, D> fch;          // (L, B, T, 4C)  before GELU
    Tensor<float, D> fch_gelu;     // (L, B, T, 4C)
    Tensor<float, D> residual3;    // (L, B, T, C)   block outputs
    Tensor<float, D> lnf;          // (B, T, C)
    Tensor<float, D> lnf_mean;     // (B, T)
    Tensor<float, D> lnf_rstd;     // (B, T)

    // Backward scratch.
    Tensor<float, D> dresidual;    // (B, T, C)
    Tensor<float, D> dln;          // (B, T, C)
    Tensor<float, D> datty;        // (B, T, C)
    Tensor<float, D> dqkv;         // (B, T, 3C)
    Tensor<float, D> dfch;         // (B, T, 4C)     d(gelu output), then d(fc output) in place

    // Floats of one layer's `att` for a (b, t) batch; layer l's starts at l times this.
    static std::int64_t att_stride(const GptConfig& c, std::int64_t b, std::int64_t t) {
        return attention_state_size(D{}, b, t, c.n_embd, c.n_head);
    }

    void reserve(const GptConfig& c, std::int64_t b, std::int64_t t) {
        // `att` on its own: its size per position may depend on the batch's shape.
        const std::int64_t per_layer = att_stride(c, b, t);
        if (att.numel() < c.n_layer * per_layer) att = Tensor<float, D>(Shape{c.n_layer, per_layer});
        if (!detail::grow_sequence(B, T, b, t)) return;
        const std::int64_t L = c.n_layer, C = c.n_embd, BT = B * T;
        auto make = [](Shape s) { return Tensor<float, D>(s); };
        encoded = make({BT, C});
        ln1 = make({L, BT, C});
        ln1_mean = make({L, BT});
        ln1_rstd = make({L, BT});
        qkv = make({L, BT, 3 * C});
        atty = make({L, BT, C});
        residual2 = make({L, BT, C});
        ln2 = make({L, BT, C});
        ln2_mean = make({L, BT});
        ln2_rstd = make({L, BT});
        fch = make({L, BT, 4 * C});
        fch_gelu = make({L, BT, 4 * C});
        residual3 = make({L, BT, C});
        lnf = make({BT, C});
        lnf_mean = make({BT});
        lnf_rstd = make({BT});
        dresidual = make({BT, C});
        dln = make({BT, C});
        datty = make({BT, C});
        dqkv = make({BT, 3 * C});
        dfch = make({BT, 4 * C});
    }
};

// A scoring forward's buffers: one layer's worth, reused by every layer (no backward reads
// them), so memory does not grow with the depth.
template <class D = Cpu>
struct GptScoreActivations {
    std::int64_t B = 0, T = 0;  // capacity: batch, sequence

    Tensor<float, D> residual;   // (B, T, C)   the residual stream, updated in place
    Tensor<float, D> ln;         // (B, T, C)   LayerNorm outputs (ln1, ln2, then ln_f)
    Tensor<float, D> mean;       // (B, T)      LayerNorm statistics, not read again
    Tensor<float, D> rstd;       // (B, T)
    Tensor<float, D> qkv;        // (B, T, 3C)
    Tensor<float, D> atty;       // (B, T, C)
    Tensor<float, D> fch;        // (B, T, 4C)  MLP hidden, GELU applied in place

    void reserve(const GptConfig& c, std::int64_t b, std::int64_t t) {
        if (!detail::grow_sequence(B, T, b, t)) return;
        const std::int64_t C = c.n_embd, BT = B * T;
        auto make = [](Shape s) { return Tensor<float, D>(s); };
        residual = make({BT, C});
        ln = make({BT, C});
        mean = make({BT});
        rstd = make({BT});
        qkv = make({BT, 3 * C});
        atty = make({BT, C});
        fch = make({BT, 4 * C});
    }
};

}  // namespace tokclean
