#pragma once
// The verbs that run on the GPU, compiled by nvcc in cuda_verbs.cu (only in a build with the
// GPU backend, TOKCLEAN_WITH_CUDA): main.cpp calls them for --device cuda. Declarations only,
// so that main.cpp stays a host-compiler file.
#include "cmd_clean.hpp"
#include "cmd_model.hpp"

namespace tokclean::cli {

// True when a CUDA device can be used.
bool cuda_available();
// Sets the products' math mode from --cuda-math (fp32, tf32, bf16).
void set_cuda_math_flag(const std::string& mode);

TrainReport run_train_cuda(const GlobalFlags& g, const TrainFlags& f);
double run_score_cuda(const GlobalFlags& g, const ScoreFlags& f);
EvalResult run_eval_cuda(const GlobalFlags& g, const EvalFlags& f);
void run_clean_cuda(const GlobalFlags& g, const CleanFlags& f);

}  // namespace tokclean::cli
