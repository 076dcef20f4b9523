#pragma once
// Every Threshold policy of tokclean (the contract is in threshold.hpp):
//   GlobalTopK{keep}            first keep_count(N, keep) of all tokens (the paper's default)
//   SampleTopK{keep}            first keep_count(n_e, keep) inside each example
//   BatchTopK{keep, batch_examples}   the same inside batches of consecutive examples (RHO-1)
//   PositiveTopK{keep}          GlobalTopK, restricted to scores > 0
//   AbsoluteThreshold{tau}      score > tau
//   RandomSelect{keep, seed}    keep_count(N, keep) tokens uniformly at random
//   AutoThreshold{rule, fdr}    score >= a tau chosen from the scores (auto_threshold.hpp)
//   KeepEos<P>{inner}           P, plus every EOS token
//   MinPerExample<P>{inner, m}  P, plus each example's best dropped tokens up to min(m, n_e)
// "First" means in a stable descending sort of the scores: equal scores keep the earlier
// flat (example, position) index first; -0.0 equals +0.0.
#include "tokclean/clean/auto_threshold.hpp"
#include "tokclean/clean/guards.hpp"
#include "tokclean/clean/simple_policies.hpp"
#include "tokclean/clean/top_k_policies.hpp"
