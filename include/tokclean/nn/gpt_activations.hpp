#pragma once
// The activations GPT-2's backward needs, sized for a batch (B, T) with M target rows,
// plus the scratch gradients of the backward pass. Grown on demand, never shrunk.
#include <algorithm>
#include <cstdint>

#include "tokclean/core/tensor.hpp"
#include "tokclean/nn/gpt_config.hpp"

namespace tokclean {

template <class D = Cpu>
struct GptActivations {
    std::int64_t B = 0, T = 0, M = 0;  // capacity: batch, sequence, target rows

    Tensor<float, D> encoded;      // (B, T, C)      token + position embedding
    Tensor<float, D> ln1;          // (L, B, T, C)
    Tensor<float, D> ln1_mean;     // (L, B, T)
    Tensor<float, D> ln1_rstd;     // (L, B, T)
    Tensor<float, D> qkv;          // (L, B, T, 3C)
    Tensor<float, D> atty;         // (L, B, T, C)   attention output, heads concatenated
    Tensor<float, D> att;          // (L, B, NH, T, T) softmax probabilities
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
    Tensor<float, D> head_in;      // (M, C)         lnf rows that predict a target
    Tensor<float, D> logits;       // (M, V)         becomes dlogits in backward
    Tensor<float, D> head_losses;  // (M)
    Tensor<float, D> token_losses; // (B, T)         NaN where not a target

    // Backward scratch.
    Tensor<float, D> dresidual;    // (B, T, C)
    Tensor<float, D> dln;          // (B, T, C)
    Tensor<float, D> datty;        // (B, T, C)
    Tensor<float, D> dqkv;         // (B, T, 3C)
    Tensor<float, D> dfch;         // (B, T, 4C)
    Tensor<float, D> dfch_gelu;    // (B, T, 4C)
    Tensor<float, D> dhead_in;     // (M, C)
    Tensor<float, D> dhead_losses; // (M)

    // Makes room for (B, T) with M target rows.
    void reserve(const GptConfig& c, std::int64_t b, std::int64_t t, std::int64_t m) {
        if (b * t > B * T || t > T || b > B) {
            B = std::max(B, b);
            T = std::max(T, t);
            allocate_sequence_buffers(c);
        }
        if (m > M) {
            M = m;
            const std::int64_t C = c.n_embd, V = c.vocab_size;
            head_in = Tensor<float, D>(Shape{M, C});
            logits = Tensor<float, D>(Shape{M, V});
            head_losses = Tensor<float, D>(Shape{M});
            dhead_in = Tensor<float, D>(Shape{M, C});
            dhead_losses = Tensor<float, D>(Shape{M});
        }
    }

private:
    void allocate_sequence_buffers(const GptConfig& c) {
        const std::int64_t L = c.n_layer, C = c.n_embd, NH = c.n_head, BT = B * T;
        auto make = [](Shape s) { return Tensor<float, D>(s); };
        encoded = make({BT, C});
        ln1 = make({L, BT, C});
        ln1_mean = make({L, BT});
        ln1_rstd = make({L, BT});
        qkv = make({L, BT, 3 * C});
        atty = make({L, BT, C});
        att = make({L, B * NH, T, T});
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
        token_losses = make({B, T});
        dresidual = make({BT, C});
        dln = make({BT, C});
        datty = make({BT, C});
        dqkv = make({BT, 3 * C});
        dfch = make({BT, 4 * C});
        dfch_gelu = make({BT, 4 * C});
    }
};

}  // namespace tokclean
