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
//   open_model, OpenedModel            nn/open_model.hpp (any architecture, with its tokenizer)
// SelfEvolving is clean/self_evolving.hpp, Rho1 clean/rho1.hpp.
// With TOKCLEAN_SEPARATE_COMPILATION (core/compiled_once.hpp) this header leaves out
// tokclean/model.hpp: the models are opened with open_model and compiled once, in the
// translation unit that includes <tokclean/implementation.hpp>. Compile times:
// bench/compile_time.sh, bench/RESULTS.md "Compile time of a consumer".
#include "tokclean/clean/any_threshold.hpp"
#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/reselect.hpp"
#include "tokclean/clean/threshold_policies.hpp"
#include "tokclean/core/compiled_once.hpp"
#include "tokclean/core/threads.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/nn/open_model.hpp"
#include "tokclean/nn/token_losses.hpp"
#if TOKCLEAN_DEFINE_COMPILED_ONCE
#include "tokclean/model.hpp"
#endif
