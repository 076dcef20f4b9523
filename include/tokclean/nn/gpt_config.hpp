#pragma once
// GPT-2 hyper-parameters, as in a Hugging Face config.json (model_type "gpt2").
#include <cstdint>
#include <string>

#include "tokclean/core/error.hpp"

namespace tokclean {

struct GptConfig {
    int n_layer = 4;
    int n_head = 4;
    int n_embd = 256;
    int vocab_size = 257;
    int n_positions = 256;
    float layer_norm_epsilon = 1e-5f;
    // "byte": the built-in byte tokenizer (ids 0..255 = bytes, eos_token_id = 256);
    // "gpt2-bpe": vocab.json + merges.txt / tokenizer.json beside config.json;
    // "": none (pre-tokenized data only).
    std::string tokenizer = "byte";
    int eos_token_id = 256;

    int head_size() const { return n_embd / n_head; }

    // A model for pre-tokenized data (no tokenizer): EOS is the vocabulary's last id.
    static GptConfig pretokenized(int layers, int heads, int embd, int vocab, int positions) {
        GptConfig c;
        c.n_layer = layers;
        c.n_head = heads;
        c.n_embd = embd;
        c.vocab_size = vocab;
        c.n_positions = positions;
        c.tokenizer = "";
        c.eos_token_id = vocab - 1;
        return c;
    }
    // GPT-2 small's shape (124M parameters), for pre-tokenized GPT-2 BPE ids.
    static GptConfig gpt2_small() { return pretokenized(12, 12, 768, 50257, 1024); }

    // Throws Error naming `where` (the config file) if the numbers cannot make a model.
    void validate(const std::string& where) const {
        auto positive = [&](const char* field, int v) {
            if (v <= 0) fail(where, ": field '", field, "': expected a positive integer, got ", v);
        };
        positive("n_layer", n_layer);
        positive("n_head", n_head);
        positive("n_embd", n_embd);
        positive("vocab_size", vocab_size);
        positive("n_positions", n_positions);
        if (n_embd % n_head != 0)
            fail(where, ": field 'n_embd': ", n_embd, " is not divisible by n_head = ", n_head);
        if (!(layer_norm_epsilon > 0.0f))
            fail(where, ": field 'layer_norm_epsilon': expected > 0, got ", layer_norm_epsilon);
        if (tokenizer == "byte" && vocab_size < 257)
            fail(where, ": field 'vocab_size': the byte tokenizer needs >= 257 (256 bytes + EOS), got ",
                 vocab_size);
        if (eos_token_id < 0 || eos_token_id >= vocab_size)
            fail(where, ": field 'eos_token_id': ", eos_token_id, " is outside [0, vocab_size = ",
                 vocab_size, ")");
    }
};

}  // namespace tokclean
