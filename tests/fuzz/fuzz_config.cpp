// Fuzz target: config.json. Input: one flags byte (bit 0: tokenizer files present), then the
// file's bytes. Checks: an accepted config makes a model (positive sizes, n_embd divisible by
// n_head, EOS in the vocabulary, a bounded parameter count), and errors are one line naming
// the file.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "tokclean/nn/model_dir.hpp"

using namespace tokclean;

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const GptConfig c = parse_gpt_config(text, "fuzz/config.json", data[0] & 1);
        if (c.n_layer <= 0 || c.n_head <= 0 || c.n_embd <= 0 || c.vocab_size <= 0 || c.n_positions <= 0)
            fuzz::violated("a non-positive size was accepted");
        if (c.n_embd % c.n_head != 0) fuzz::violated("n_embd not divisible by n_head");
        if (c.eos_token_id < 0 || c.eos_token_id >= c.vocab_size) fuzz::violated("EOS outside the vocabulary");
        if (!(c.layer_norm_epsilon > 0.0f) || !std::isfinite(c.layer_norm_epsilon)) fuzz::violated("bad epsilon");
        if (c.tokenizer != "" && c.tokenizer != "byte" && c.tokenizer != "gpt2-bpe") fuzz::violated("unknown tokenizer");
        // Small enough to count without overflow.
        (void)gpt_param_numel(c);
    } catch (const Error& e) {
        fuzz::check_error(e, "fuzz/config.json");
    }
    return 0;
}
