#pragma once
// tokclean/cleaning.hpp: token cleaning with models that are already trained (the paper's
// fixed-model cleaning, and single-model scorers). Unlike the umbrella tokclean/tokclean.hpp it
// leaves out training (Trainer, AdamW, schedules), self-evolving cleaning and RHO-1 (which
// train), and the GPT-2 BPE tokenizer.
//   tokclean/model.hpp                 Gpt<Cpu>, load_model_dir, set_cpu_threads, ...
//   TokenCleaner, NoReference,         clean/reference.hpp (with clean/token_cleaner.hpp,
//   FixedReference, the Scorers,       clean/scorer.hpp, clean/cleaned_set.hpp)
//   CleanedSet, save_cleaned,
//   read_cleaned_file, read_examples
//   GlobalTopK, SampleTopK, ...,       clean/threshold_policies.hpp
//   KeepEos<P>, MinPerExample<P>
//   AnyThreshold                       clean/any_threshold.hpp
//   reselect                           clean/reselect.hpp
//   ByteTokenizer                      data/byte_tokenizer.hpp (text data for "byte" models)
//   AtomicFile                         io/atomic_file.hpp
// Text data for a model whose tokenizer is GPT-2's BPE needs data/gpt2_bpe.hpp (or
// nn/open_model.hpp, which opens a model directory with its tokenizer) besides this header;
// SelfEvolving is clean/self_evolving.hpp, Rho1 clean/rho1.hpp.
// Compile times (bench/compile_time.sh, bench/RESULTS.md "Compile time of a consumer"): this
// header saves under a second and 90 MB against the umbrella; most of a cleaning program's
// time is Eigen's GEMM, nlohmann-json and the code the program itself instantiates.
#include "tokclean/clean/any_threshold.hpp"
#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/reselect.hpp"
#include "tokclean/clean/threshold_policies.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/model.hpp"
