#pragma once
// tokclean/data.hpp: data and tokenizers, without the model (no Eigen, no GPT-2, no training):
//   Example, TokenizerRef            data/example.hpp
//   read_examples, ReadOptions       data/jsonl_reader.hpp (the JSONL formats, README "Data")
//   ByteTokenizer                    data/byte_tokenizer.hpp
//   Gpt2Bpe                          data/gpt2_bpe.hpp (vocab.json + merges.txt, tokenizer.json)
//   HfTokenizer                      data/hf_tokenizer.hpp (any tokenizer.json: Llama, Qwen, ...)
//   nfc, nfkc, nfd, nfkd             data/unicode_normalization.hpp
//   jinja::Template                  data/chat/jinja.hpp (Hugging Face chat templates)
//   make_batch, for_each_batch       data/batch.hpp
// A program that cleans byte-tokenized or pre-tokenized data does not need the BPE, and
// tokclean/cleaning.hpp leaves it out (compile times: bench/RESULTS.md, "Compile time of a
// consumer").
#include "tokclean/data/batch.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/data/chat/jinja.hpp"
#include "tokclean/data/gpt2_bpe.hpp"
#include "tokclean/data/hf_tokenizer.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/data/unicode_normalization.hpp"
