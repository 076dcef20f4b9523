#pragma once
// The verbs that run on the GPU. nvcc compiles them (cuda_verbs.cu) into a plugin,
// libtokclean-cuda.so, that main.cpp loads (cuda_plugin.hpp) only when a verb is to run on the
// GPU: the CPU verbs never load cudart, cuBLAS and cuDNN (about 0.1 s at every start), and the
// program still runs on a machine that lacks them. This header is the plugin's interface.
#include <cstdint>
#include <string>

#include "cmd_clean.hpp"
#include "cmd_model.hpp"

namespace tokclean::cli {

// Bumped whenever CudaVerbs or the flag structs change: a plugin from another build is refused.
inline constexpr std::uint32_t cuda_plugin_abi = 2;
inline constexpr const char* cuda_plugin_file = "libtokclean-cuda.so";
// The plugin's one exported symbol: extern "C" const CudaVerbs* tokclean_cuda_verbs().
inline constexpr const char* cuda_plugin_entry = "tokclean_cuda_verbs";

struct CudaVerbs {
    std::uint32_t abi;
    bool (*available)();                        // a CUDA device can be used
    void (*set_math)(const std::string& mode);  // --cuda-math: fp32, tf32 or bf16
    void (*train)(const GlobalFlags&, const TrainFlags&);
    void (*score)(const GlobalFlags&, const ScoreFlags&);
    void (*eval)(const GlobalFlags&, const EvalFlags&);
    void (*clean)(const GlobalFlags&, const CleanFlags&);
};

}  // namespace tokclean::cli
