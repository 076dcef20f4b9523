#pragma once
// RHO-1's online rule (Lin et al., NeurIPS 2024) as a TokenWeighter for train(): at every
// step, the excess loss L_current − L_ref of each target of the batch is scored, a Threshold
// policy picks the ones trained on (RHO-1's: the top ⌊n · keep⌋, GlobalTopK; or AutoThreshold,
// a tau chosen from the batch's own scores), and the loss is the mean over them; the rest get
// no gradient.
#include <cstdint>
#include <utility>
#include <vector>

#include "tokclean/clean/threshold_policies.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/trainer.hpp"

namespace tokclean {

// The batch's targets scored by excess loss, as one set, selected by `policy`.
template <Device D, Threshold P>
TokenWeighter rho1_weighter(CausalLm<D>& ref, P policy) {
    return [&ref, policy = std::move(policy)](const Batch& batch, std::span<const float> losses,
                                              std::vector<float>& weights) {
        const std::int64_t B = batch.batch_size(), T = batch.seq_len();
        ref.forward(batch.input_ids.data(), batch.labels.data(), B, T);
        const auto ref_losses = ref.token_losses();  // (B, T)
        std::vector<float> scores;                   // (N) excess losses of the targets
        std::vector<std::size_t> slots;              // (N) their (b, j) slots
        for (std::size_t i = 0; i < losses.size(); ++i)
            if (!std::isnan(losses[i])) {
                scores.push_back(losses[i] - ref_losses[i]);
                slots.push_back(i);
            }
        const std::int64_t offsets[] = {0, static_cast<std::int64_t>(scores.size())};
        std::vector<std::uint8_t> kept(scores.size());
        policy.select(TokenScores{.scores = scores, .offsets = offsets}, kept);
        weights.assign(losses.size(), 0.0f);
        std::int64_t n = 0;
        double sum = 0.0;
        for (std::size_t i = 0; i < kept.size(); ++i) n += kept[i];
        for (std::size_t i = 0; i < kept.size(); ++i)
            if (kept[i]) {
                weights[slots[i]] = 1.0f / static_cast<float>(n);
                sum += losses[slots[i]];
            }
        return n ? static_cast<float>(sum / static_cast<double>(n)) : 0.0f;
    };
}

// RHO-1 as published: the top ⌊n · keep⌋ of each batch.
template <Device D>
TokenWeighter rho1_weighter(CausalLm<D>& ref, double keep) {
    keep_count(0, keep);  // validates keep
    return rho1_weighter(ref, GlobalTopK{keep});
}

}  // namespace tokclean
