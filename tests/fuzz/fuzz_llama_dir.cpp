// Fuzz target: the files only a Llama-family directory has. Input: one mode byte (bit 0 clear:
// config.json; set: model.safetensors.index.json), then the file's bytes. Checks: an accepted
// config makes a model (positive sizes, key/value heads dividing the heads, an even head_dim,
// EOS in the vocabulary, eps in (0, 1], a RoPE base > 1, llama3 scaling with ordered factors,
// a bounded parameter count); an accepted index names only plain files of the directory; and
// errors are one line naming the file.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "tokclean/nn/llama_params.hpp"

using namespace tokclean;

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

namespace {

void check_config(std::string_view text) {
    const LlamaConfig c = parse_llama_config_text(text, "fuzz/config.json");
    if (c.n_layer <= 0 || c.hidden <= 0 || c.intermediate <= 0 || c.heads <= 0 || c.kv_heads <= 0 ||
        c.head_dim <= 0 || c.vocab_size <= 0 || c.max_positions <= 0)
        fuzz::violated("a non-positive size was accepted");
    if (c.heads % c.kv_heads != 0) fuzz::violated("kv heads do not divide the heads");
    if (c.head_dim % 2 != 0) fuzz::violated("odd head_dim");
    if (c.eos_token_id < 0 || c.eos_token_id >= c.vocab_size) fuzz::violated("EOS outside the vocabulary");
    if (!(c.rms_norm_eps > 0.0f) || !(c.rms_norm_eps <= 1.0f)) fuzz::violated("bad epsilon");
    if (!(c.rope_theta > 1.0) || !std::isfinite(c.rope_theta)) fuzz::violated("bad rope_theta");
    if (c.rope_scaling.llama3 && !(c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor &&
                                   c.rope_scaling.low_freq_factor > 0 && c.rope_scaling.factor > 0))
        fuzz::violated("llama3 factors out of order");
    if (c.sliding_window < 0) fuzz::violated("negative sliding window");
    if (c.tokenizer != "" && c.tokenizer != "byte") fuzz::violated("unknown tokenizer");
    if (c.tokenizer == "byte" && c.vocab_size < 257) fuzz::violated("byte tokenizer without room for its ids");
    const LlamaLayout layout(c);  // counted without overflow: the parse bounds it by 2^40
    if (layout.numel <= 0 || layout.numel > (std::int64_t{1} << 41)) fuzz::violated("parameter count out of bounds");
    const auto keys = llama_param_keys(c);
    for (const auto& k : keys)
        if (k.offset < 0 || k.offset + k.shape.numel() > layout.numel) fuzz::violated("a tensor outside the buffer");
}

void check_index(std::string_view text) {
    const JsonWhere where{"fuzz/model.safetensors.index.json", 0};
    for (const auto& [tensor, file] : weights_detail::parse_weight_index(parse_json(text, where), where))
        if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos ||
            file.find('\\') != std::string::npos || file.find('\0') != std::string::npos)
            fuzz::violated("a shard name outside the directory", file);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const bool index = data[0] & 1;
    try {
        if (index) check_index(text);
        else check_config(text);
    } catch (const Error& e) {
        fuzz::check_error(e, index ? "fuzz/model.safetensors.index.json" : "fuzz/config.json");
    }
    return 0;
}
