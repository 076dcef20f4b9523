#pragma once
// The one translation unit of a program built with TOKCLEAN_SEPARATE_COMPILATION that defines
// what the headers only declare there (see core/compiled_once.hpp):
//
//   // tokclean_implementation.cpp, compiled with the program's flags
//   #include <tokclean/implementation.hpp>
//
// Without TOKCLEAN_SEPARATE_COMPILATION this header is the umbrella header and defines nothing more.
#define TOKCLEAN_IMPLEMENTATION
#include "tokclean/nn/load_model.hpp"
#include "tokclean/nn/open_model.hpp"
#include "tokclean/tokclean.hpp"

#if defined(TOKCLEAN_SEPARATE_COMPILATION)
namespace tokclean {
template std::unique_ptr<CausalLm<Cpu>> load_causal_lm<Cpu>(const std::filesystem::path&, WeightDtype);
}  // namespace tokclean
#endif
