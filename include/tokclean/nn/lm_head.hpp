#pragma once
// The token-sparse LM head every causal LM ends with: only the M positions that predict a
// target go through logits (M, V) = rows (M, C) · Wᵀ and the cross-entropy; at a 50k–128k
// vocabulary that is most of the work saved on prompt tokens. W is (V, C): GPT-2's tied wte,
// a Llama's lm_head (or its tied embed_tokens).
//
// Hugging Face's label convention: for input_ids (B, T) and labels (B, T), the loss at [b, j]
// predicts labels[b, j] from the tokens before j, i.e. from the final hidden state of position
// j − 1. Position 0 and labels of −100 are not targets. The inputs are host arrays; on another
// device upload() copies what the kernels read and download() brings the M losses back.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "tokclean/backend/ops.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"
#include "tokclean/core/tensor.hpp"

namespace tokclean {

template <class D = Cpu>
class TokenLmHead {
public:
    // Records the targets of a (B, T) batch (ids checked against the vocabulary V) and uploads
    // what the kernels read. Call before forward().
    void collect(const std::int32_t* input_ids, const std::int32_t* labels, std::int64_t B, std::int64_t T,
                 std::int64_t V) {
        B_ = B;
        T_ = T;
        V_ = V;
        rows_.clear();
        slots_.clear();
        targets_.clear();
        for (std::int64_t b = 0; b < B; ++b)
            for (std::int64_t j = 0; j < T; ++j) {
                const std::int64_t at = b * T + j;
                if (input_ids[at] < 0 || input_ids[at] >= V)
                    fail("token id ", input_ids[at], " at batch row ", b, ", position ", j,
                         " is outside [0, vocab_size = ", V, ")");
                const std::int32_t y = labels[at];
                if (y == ignore_label || j == 0) continue;
                if (y < 0 || y >= V)
                    fail("label ", y, " at batch row ", b, ", position ", j, " is neither -100 nor in [0, vocab_size = ",
                         V, ")");
                rows_.push_back(at - 1);
                slots_.push_back(at);
                targets_.push_back(y);
            }
        const D dev{};
        rows_on_device_ = upload(dev, rows_.data(), num_targets(), rows_staging_);
        targets_on_device_ = upload(dev, targets_.data(), num_targets(), targets_staging_);
    }

    std::int64_t num_targets() const { return static_cast<std::int64_t>(rows_.size()); }

    // Logits and losses of the targets from the final hidden states `hidden` (B·T, C) and the
    // head's weight (V, C), float or (on the CPU) bfloat16; returns the mean loss (0 without
    // targets). Keeps the logits for backward() and for target_argmax() / target_entropy().
    template <class W>
    float forward(const float* hidden, const W* weight, std::int64_t C) {
        const std::int64_t V = V_, M = num_targets();
        reserve(C);
        const D dev{};
        std::fill_n(token_losses_.data(), B_ * T_, std::numeric_limits<float>::quiet_NaN());
        if (M == 0) return 0.0f;
        gather_rows(dev, head_in_.data(), hidden, rows_on_device_, M, C);
        matmul(dev, logits_.data(), head_in_.data(), weight, M, V, C, Transpose::no, Transpose::yes);
        cross_entropy_forward(dev, head_losses_.data(), logits_.data(), targets_on_device_, M, V, lse_.data());
        const float* losses = download(dev, std::as_const(head_losses_).data(), M, host_staging_);  // (M)
        double sum = 0.0;
        for (std::int64_t m = 0; m < M; ++m) {
            token_losses_.data()[slots_[static_cast<std::size_t>(m)]] = losses[m];
            sum += losses[m];
        }
        return static_cast<float>(sum / static_cast<double>(M));
    }

    // (B, T) of the last forward: the loss at each target, NaN elsewhere (host memory).
    std::span<const float> token_losses() const {
        return {token_losses_.data(), static_cast<std::size_t>(B_ * T_)};
    }

    // The weights backward() uses: 1/M on every target (the mean loss).
    std::vector<float> mean_weights() const {
        std::vector<float> w(static_cast<std::size_t>(B_ * T_), 0.0f);
        for (const auto slot : slots_) w[static_cast<std::size_t>(slot)] = 1.0f / static_cast<float>(slots_.size());
        return w;
    }

    // The gradient of Σ token_weights[b, j] · loss[b, j] (token_weights (B, T)):
    // dweight (V, C) by `write` (skipped when null: a frozen head); dhidden (B·T, C)
    // OVERWRITTEN (zero at rows that predict no target). Turns the kept logits into their gradient: once per forward.
    template <class W>
    void backward(std::span<const float> token_weights, const W* weight, float* dweight, float* dhidden,
                  std::int64_t C, GradWrite write) {
        const std::int64_t V = V_, M = num_targets();
        TOKCLEAN_CHECK(static_cast<std::int64_t>(token_weights.size()) == B_ * T_, "token_weights of ",
                       token_weights.size(), " entries for a (", B_, ", ", T_, ") batch");
        const D dev{};
        weights_.resize(static_cast<std::size_t>(M));
        for (std::int64_t m = 0; m < M; ++m)
            weights_[static_cast<std::size_t>(m)] = token_weights[static_cast<std::size_t>(slots_[static_cast<std::size_t>(m)])];
        const float* dlosses = upload(dev, std::as_const(weights_).data(), M, dhead_losses_);  // (M)
        cross_entropy_backward(dev, logits_.data(), logits_.data(), targets_on_device_, dlosses, M, V, lse_.data());
        matmul(dev, dhead_in_.data(), logits_.data(), weight, M, C, V);
        if (dweight) matmul(dev, dweight, logits_.data(), head_in_.data(), V, C, M, Transpose::yes, Transpose::no, write);
        fill_zero(dev, dhidden, B_ * T_ * C);
        scatter_add_rows(dev, dhidden, dhead_in_.data(), rows_on_device_, M, C);
    }

    // Of the last forward, before backward (which reuses the logits): the argmax token at each
    // target (B, T), -1 elsewhere; the entropy (nats) of the predicted distribution at each
    // target (B, T), NaN elsewhere.
    std::vector<std::int32_t> target_argmax() const {
        std::vector<std::int32_t> out(static_cast<std::size_t>(B_ * T_), -1);
        const float* logits = host_logits();  // (M, V)
        for (std::size_t m = 0; m < slots_.size(); ++m) {
            const float* row = logits + static_cast<std::int64_t>(m) * V_;
            out[static_cast<std::size_t>(slots_[m])] =
                static_cast<std::int32_t>(std::max_element(row, row + V_) - row);  // first maximum
        }
        return out;
    }
    std::vector<float> target_entropy() const {
        std::vector<float> out(static_cast<std::size_t>(B_ * T_), std::numeric_limits<float>::quiet_NaN());
        const float* logits = host_logits();  // (M, V)
        for (std::size_t m = 0; m < slots_.size(); ++m) {
            const float* row = logits + static_cast<std::int64_t>(m) * V_;
            const float mx = *std::max_element(row, row + V_);
            double z = 0.0, zx = 0.0;  // Σ e^(x - mx), Σ (x - mx) e^(x - mx)
            for (std::int64_t v = 0; v < V_; ++v) {
                const double e = std::exp(static_cast<double>(row[v] - mx));
                z += e;
                zx += (row[v] - mx) * e;
            }
            out[static_cast<std::size_t>(slots_[m])] = static_cast<float>(std::log(z) - zx / z);
        }
        return out;
    }

private:
    void reserve(std::int64_t C) {
        const std::int64_t BT = B_ * T_, M = num_targets();
        if (BT > BT_cap_) {
            BT_cap_ = BT;
            token_losses_ = Tensor<float, Cpu>(Shape{BT});
        }
        if (M > M_cap_ || C != C_ || V_ != V_cap_) {
            M_cap_ = std::max(M, M_cap_);
            C_ = C;
            V_cap_ = V_;
            head_in_ = Tensor<float, D>(Shape{M_cap_, C});
            logits_ = Tensor<float, D>(Shape{M_cap_, V_});
            lse_ = Tensor<float, D>(Shape{M_cap_});
            head_losses_ = Tensor<float, D>(Shape{M_cap_});
            dhead_in_ = Tensor<float, D>(Shape{M_cap_, C});
            dhead_losses_ = Tensor<float, D>(Shape{M_cap_});
        }
    }
    const float* host_logits() const { return download(D{}, logits_.data(), num_targets() * V_, host_staging_); }

    std::int64_t B_ = 0, T_ = 0, V_ = 0;
    std::vector<std::int64_t> rows_;     // (M) row b·T + j - 1 of each target (b, j)
    std::vector<std::int64_t> slots_;    // (M) slot b·T + j of each target
    std::vector<std::int32_t> targets_;  // (M) labels[b, j]
    // Where the kernels read the last two (the host vectors themselves on the CPU), and the
    // staging buffers a device copies them into.
    const std::int64_t* rows_on_device_ = nullptr;
    const std::int32_t* targets_on_device_ = nullptr;
    Tensor<std::int64_t, D> rows_staging_;
    Tensor<std::int32_t, D> targets_staging_;
    std::int64_t BT_cap_ = 0, M_cap_ = 0, C_ = 0, V_cap_ = 0;
    Tensor<float, Cpu> token_losses_;  // (B, T) NaN where not a target; on the host on any device
    Tensor<float, D> head_in_;         // (M, C) hidden rows that predict a target
    Tensor<float, D> logits_;          // (M, V) becomes dlogits in backward
    Tensor<float, D> lse_;             // (M)    logsumexp of each logits row
    Tensor<float, D> head_losses_;     // (M)
    Tensor<float, D> dhead_in_;        // (M, C)
    Tensor<float, D> dhead_losses_;    // (M)
    mutable std::vector<float> host_staging_;  // device values read on the host
    std::vector<float> weights_;               // (M) d(objective)/d(loss_m)
};

}  // namespace tokclean
