// The GPU instances of the device-generic verbs (cmd_model.hpp, cmd_clean.hpp): the same
// code as on the CPU, with Device = Cuda.
#include "cuda_verbs.hpp"
#include "tokclean/backend/cuda.cuh"

namespace tokclean::cli {

bool cuda_available() { return cuda_device_available(); }

void set_cuda_math_flag(const std::string& mode) {
    if (mode == "fp32") set_cuda_math(CudaMath::fp32);
    else if (mode == "tf32") set_cuda_math(CudaMath::tf32);
    else if (mode == "bf16") set_cuda_math(CudaMath::bf16);
    else fail("--cuda-math: expected fp32, tf32 or bf16, got '", mode, "'");
}

TrainReport run_train_cuda(const GlobalFlags& g, const TrainFlags& f) { return run_train<Cuda>(g, f); }
double run_score_cuda(const GlobalFlags& g, const ScoreFlags& f) { return run_score<Cuda>(g, f); }
EvalResult run_eval_cuda(const GlobalFlags& g, const EvalFlags& f) { return run_eval<Cuda>(g, f); }
void run_clean_cuda(const GlobalFlags& g, const CleanFlags& f) { run_clean<Cuda>(g, f); }

}  // namespace tokclean::cli
