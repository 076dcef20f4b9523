#pragma once
// tokclean/model.hpp: the GPT-2 model alone, on the CPU, without training, cleaning, JSONL
// data or tokenizers:
//   Gpt<Cpu> (forward, token_losses, backward), GptConfig, GptParams   nn/gpt.hpp
//   gpt_init (GPT-2's initialisation)                                   nn/gpt_init.hpp
//   load_model_dir, save_model_dir (config.json + model.safetensors)    nn/model_dir.hpp
//   score_examples (per-token losses of a set, in batches)              nn/token_losses.hpp
//   set_cpu_threads, cpu_threads                                        core/threads.hpp
// Fine-tuning (Trainer, AdamW, schedules) is nn/trainer.hpp; everything is tokclean/tokclean.hpp.
#include "tokclean/core/threads.hpp"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/nn/gpt_init.hpp"
#include "tokclean/nn/model_dir.hpp"
#include "tokclean/nn/token_losses.hpp"
