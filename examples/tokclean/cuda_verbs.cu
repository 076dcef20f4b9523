// The GPU plugin (cuda_verbs.hpp): the device-generic verbs of cmd_model.hpp and cmd_clean.hpp
// instantiated with Device = Cuda, the same code as on the CPU.
#include "cuda_verbs.hpp"
#include "tokclean/backend/cuda.cuh"
#include "tokclean/core/threads.hpp"

namespace tokclean::cli {
namespace {

void set_math(const std::string& mode) {
    if (mode == "fp32") set_cuda_math(CudaMath::fp32);
    else if (mode == "tf32") set_cuda_math(CudaMath::tf32);
    else if (mode == "bf16") set_cuda_math(CudaMath::bf16);
    else fail("--cuda-math: expected fp32, tf32 or bf16, got '", mode, "'");
}

// The plugin has its own copy of the header-only globals (Eigen's thread count among them):
// each verb sets --threads again on this side.
void train(const GlobalFlags& g, const TrainFlags& f) {
    set_cpu_threads(g.threads);
    run_train<Cuda>(g, f);
}
void score(const GlobalFlags& g, const ScoreFlags& f) {
    set_cpu_threads(g.threads);
    run_score<Cuda>(g, f);
}
void eval(const GlobalFlags& g, const EvalFlags& f) {
    set_cpu_threads(g.threads);
    run_eval<Cuda>(g, f);
}
void clean(const GlobalFlags& g, const CleanFlags& f) {
    set_cpu_threads(g.threads);
    run_clean<Cuda>(g, f);
}
bool available() { return cuda_device_available(); }

const CudaVerbs verbs{cuda_plugin_abi, available, set_math, train, score, eval, clean};

}  // namespace
}  // namespace tokclean::cli

extern "C" __attribute__((visibility("default"))) const tokclean::cli::CudaVerbs* tokclean_cuda_verbs() {
    return &tokclean::cli::verbs;
}
