#pragma once
// What every verb of the tokclean program shares: global flags, logging, the model's
// tokenizer, and reading data for a model.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/gpt2_bpe.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/progress.hpp"
#include "tokclean/nn/checkpoint.hpp"

namespace tokclean::cli {

namespace fs = std::filesystem;

struct GlobalFlags {
    bool quiet = false;
    int threads = 0;
    std::string device = {};        // --device: "cpu", "cuda", or "" (main.cpp decides)
    std::string cuda_math = "fp32"; // --cuda-math: fp32, tf32 or bf16 (products on the GPU)
};

// A loaded model's parameters on the device D runs on: moved on the CPU, copied elsewhere.
template <class D>
GptParams<D> params_on(GptParams<Cpu>&& p) {
    if constexpr (std::is_same_v<D, Cpu>) return std::move(p);
    else return copy_to(D{}, p);
}

// Parameters where the host reads them (to save): the same object on the CPU, a copy elsewhere.
template <class D>
decltype(auto) params_on_host(const GptParams<D>& p) {
    if constexpr (std::is_same_v<D, Cpu>) return (p);
    else return copy_to(Cpu{}, p);
}

inline void log(const GlobalFlags& g, const std::string& line) {
    if (!g.quiet) std::cerr << line << '\n';
}

// Progress on stderr: a bar on a terminal, plain lines otherwise, nothing with --quiet.
inline Progress::Mode progress_mode(const GlobalFlags& g) { return Progress::mode_for(g.quiet); }

inline std::string fixed(double x, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, x);
    return buf;
}

// `digits` significant digits, in exponent form when small (a probability may be 1e-13).
inline std::string significant(double x, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    return buf;
}

// A JSON string literal (quotes and escapes), for the one-line results on stdout. Bytes that
// are not UTF-8 (a byte-level model may stop inside a character) become U+FFFD.
inline std::string quoted(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The tokenizer a model directory declares: the built-in byte tokenizer, GPT-2 BPE files
// beside config.json, or none (pre-tokenized data only).
class ModelTokenizer {
public:
    ModelTokenizer(const fs::path& dir, const GptConfig& config) {
        if (config.tokenizer == "byte") byte_.emplace(config.eos_token_id);
        else if (config.tokenizer == "gpt2-bpe") bpe_.emplace(Gpt2Bpe::from_model_dir(dir));
    }
    TokenizerRef ref() const {
        if (byte_) return &*byte_;
        if (bpe_) return &*bpe_;
        return {};
    }
    explicit operator bool() const { return byte_ || bpe_; }

private:
    std::optional<ByteTokenizer> byte_;
    std::optional<Gpt2Bpe> bpe_;
};

struct DataFlags {
    fs::path data;
    std::int64_t seq_len = 0;  // 0: the model's n_positions
    bool strict = false;
};

// Reads `f.data` for a model, truncating (or with --strict rejecting) examples longer than
// --seq-len, by default the model's n_positions; with limit_to_model false (tokenize, which
// feeds no model) only an explicit --seq-len limits.
inline std::vector<Example> load_data(const GlobalFlags& g, const DataFlags& f, const GptConfig& config,
                                      const ModelTokenizer& tokenizer, bool limit_to_model = true) {
    const std::int64_t max_len = f.seq_len > 0 ? f.seq_len : limit_to_model ? config.n_positions : 0;
    if (limit_to_model && max_len > config.n_positions)
        fail("--seq-len: ", max_len, " exceeds the model's n_positions = ", config.n_positions);
    ReadOptions ro;
    ro.vocab_size = config.vocab_size;
    ro.max_len = static_cast<std::size_t>(max_len);
    ro.strict = f.strict;
    ro.tokenizer = tokenizer.ref();
    ReadResult r = read_examples(f.data, ro);
    if (r.truncated > 0)
        log(g, "warning: " + f.data.string() + ": " + std::to_string(r.truncated) + " example(s) longer than " +
                   std::to_string(max_len) + " tokens were truncated (--strict rejects them)");
    return std::move(r.examples);
}

// A model directory with its tokenizer.
struct CliModel {
    fs::path dir;
    GptConfig config;
    GptParams<Cpu> params;
    ModelTokenizer tokenizer;
};

inline CliModel load_cli_model(const fs::path& dir) {
    LoadedModel m = load_model_dir(dir);
    ModelTokenizer tok(dir, m.config);
    return {dir, m.config, std::move(m.params), std::move(tok)};
}

// A second model used with the base one (a reference, a warm-up model) must have its shape
// and its tokenizer: the same ids must mean the same tokens. `role` names it in the message.
inline void require_same_shape(const fs::path& base_dir, const GptConfig& base, const fs::path& other_dir,
                               const GptConfig& other, std::string_view role) {
    const auto where = (other_dir / std::string(config_file_name)).string();
    const auto check = [&](const char* field, long long want, long long got) {
        if (want != got)
            fail(where, ": field '", field, "': ", got, ", but the base model ", base_dir.string(), " has ", want,
                 " (the ", role, " must have the base model's shape)");
    };
    check("n_layer", base.n_layer, other.n_layer);
    check("n_head", base.n_head, other.n_head);
    check("n_embd", base.n_embd, other.n_embd);
    check("vocab_size", base.vocab_size, other.vocab_size);
    check("n_positions", base.n_positions, other.n_positions);
    check("eos_token_id", base.eos_token_id, other.eos_token_id);
    if (base.tokenizer != other.tokenizer)
        fail(where, ": field 'tokclean_tokenizer': \"", other.tokenizer.empty() ? "none" : other.tokenizer,
             "\", but the base model ", base_dir.string(), " has \"", base.tokenizer.empty() ? "none" : base.tokenizer,
             "\" (the ", role, " must read tokens as the base model does)");
}

// Training data must hold at least one target token (a label other than -100 after position 0).
inline void require_targets(const fs::path& data_file, const std::vector<Example>& data) {
    for (const auto& ex : data)
        if (ex.num_targets() > 0) return;
    fail(data_file.string(), ": no target tokens in any example (every label after position 0 is -100): "
                             "nothing to train on");
}

}  // namespace tokclean::cli
