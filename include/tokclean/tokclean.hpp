#pragma once
// tokclean: token cleaning for supervised fine-tuning data. The umbrella header, CPU only;
// the GPU backend is opt-in through the tokclean::cuda target.
// The focused headers, for programs that need less (each lists what it holds at its top;
// compile times: bench/RESULTS.md, "Compile time of a consumer"):
#include "tokclean/cleaning.hpp"  // cleaning with trained models (with model.hpp)
#include "tokclean/data.hpp"      // data and tokenizers, GPT-2 BPE included
#include "tokclean/model.hpp"     // the model alone
// and everything beyond them:
#include "tokclean/backend/cpu.hpp"
#include "tokclean/clean/rho1.hpp"
#include "tokclean/clean/self_evolving.hpp"
#include "tokclean/core/device.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/rng.hpp"
#include "tokclean/core/tensor.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/open_model.hpp"
#include "tokclean/nn/trainer.hpp"
#include "tokclean/optim/adamw.hpp"
#include "tokclean/optim/clip.hpp"
#include "tokclean/optim/schedule.hpp"
