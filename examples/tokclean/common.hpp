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

#include "flags.hpp"
#include "tokclean/core/interrupt.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/gpt2_bpe.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/file_hash.hpp"
#include "tokclean/io/number_format.hpp"
#include "tokclean/io/path_overlap.hpp"
#include "tokclean/io/progress.hpp"
#include "tokclean/nn/llama_config.hpp"
#include "tokclean/nn/model_dir.hpp"
#include "tokclean/nn/memory_plan.hpp"
#include "tokclean/nn/open_model.hpp"

namespace tokclean::cli {

namespace fs = std::filesystem;

struct GlobalFlags {
    bool quiet = false;
    int threads = 0;
    std::string device = {};        // --device: "cpu", "cuda", or "" (main.cpp decides)
    std::string cuda_math = "fp32"; // --cuda-math: fp32, tf32 or bf16 (products on the GPU)

    template <class Self, class V>
    static void each_flag(Self& g, V& v) {
        v.flag("--quiet,-q", g.quiet, "no progress on stderr");
        v.option("--threads", g.threads, "CPU threads (0: OMP_NUM_THREADS or all cores)", non_negative_integer());
        v.option("--device", g.device,
                 "cpu|cuda (default: cuda for train, score, eval and clean when built with CUDA and a GPU is present)",
                 one_of({"cpu", "cuda"}));
        v.option("--cuda-math", g.cuda_math, "products on the GPU: fp32|tf32|bf16", one_of({"fp32", "tf32", "bf16"}));
    }
};

// A model directory's fingerprint: its config.json and weight files (shards too); an adapter
// directory's: its two files.
inline std::string model_fingerprint(const fs::path& dir) {
    if (is_adapter_dir(dir))
        return hex64(file_hash(dir / std::string(adapter_weights_file_name),
                               file_hash(dir / std::string(adapter_config_file_name))));
    std::uint64_t h = file_hash(dir / std::string(config_file_name));
    for (const auto& f : weight_files(dir)) h = file_hash(f, h);
    return hex64(h);
}

// What a resumable run of a verb depends on (its flags marked Resume; see flags.hpp): a
// checkpoint or work directory only continues a run with the same settings.
template <class F>
nlohmann::json resume_settings(const F& f) {
    SettingsCollector c(model_fingerprint);
    F::each_flag(f, c);
    return std::move(c).settings();
}

// ---- paths: nothing a user owns is written over ---------------------------------------------

// The sibling of `out` named OUT + suffix ("tuned" -> "tuned.ckpt"; "tuned/" too).
inline fs::path beside(fs::path out, const std::string& suffix) {
    if (out.filename().empty()) out = out.parent_path();
    return fs::path(out.string() + suffix);
}

struct NamedPath {
    std::string flag;  // "--data"
    fs::path path;     // empty: not given
};

// Refuses, before any work, an output that is an input, holds one or lies inside one, and two
// outputs that overlap: writing one would overwrite or delete the other.
inline void check_paths(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs) {
    const auto show = [](const NamedPath& p) { return p.flag + " '" + p.path.string() + "'"; };
    const auto check = [&](const NamedPath& out, const NamedPath& other, bool other_is_input) {
        if (out.path.empty() || other.path.empty()) return;
        const char* why = other_is_input ? "tokclean never writes over nor into its inputs"
                                         : "one output would overwrite or delete the other";
        if (same_path(out.path, other.path)) fail(show(out), ": is also ", show(other), " (", why, ")");
        if (path_is_inside(other.path, out.path)) fail(show(out), ": contains ", show(other), " (", why, ")");
        if (path_is_inside(out.path, other.path)) {
            if (other_is_input) fail(show(out), ": lies inside ", show(other), " (", why, ")");
            fail(show(other), ": contains ", show(out), " (", why, ")");
        }
    };
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        for (const auto& in : inputs) check(outputs[i], in, true);
        for (std::size_t k = i + 1; k < outputs.size(); ++k) check(outputs[i], outputs[k], false);
    }
}

// Between two steps of long work: SIGINT/SIGTERM (under an InterruptScope) stop it here,
// before any output appears (outputs are written whole or not at all).
inline void stop_if_interrupted(const std::string& verb) {
    if (const int sig = interrupt_signal())
        throw Interrupted(sig, verb + ": " + signal_name(sig) + "; stopped, no output written");
}

inline void log(const GlobalFlags& g, const std::string& line) {
    if (!g.quiet) std::cerr << line << '\n';
}

// Progress on stderr: a bar on a terminal, plain lines otherwise, nothing with --quiet.
inline Progress::Mode progress_mode(const GlobalFlags& g) { return Progress::mode_for(g.quiet); }

// fixed(x, digits), significant(x, digits): the library's (io/number_format.hpp).
using tokclean::fixed;
using tokclean::significant;

// A JSON string literal (quotes and escapes), for the one-line results on stdout. Bytes that
// are not UTF-8 (a byte-level model may stop inside a character) become U+FFFD.
inline std::string quoted(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One warning when merges.txt (or tokenizer.json's merges) cannot make every token of the
// vocabulary: a truncated download or another tokenizer's merges give other tokens, silently.
inline void warn_unreachable_tokens(const GlobalFlags& g, const fs::path& dir, const Gpt2Bpe& bpe) {
    if (bpe.unreachable_tokens() == 0) return;
    std::error_code ec;
    const bool json = !fs::exists(dir / "merges.txt", ec);
    log(g, "warning: " + (dir / (json ? "tokenizer.json" : "merges.txt")).string() + ": " +
               std::to_string(bpe.unreachable_tokens()) + " tokens of the vocabulary are made by no merge (e.g. " +
               tokclean::detail::gpt2::show_token(bpe.unreachable_example()) + "): the merges may be truncated or of "
               "another tokenizer");
}

// GPT-2 BPE files of a directory, with a warning when merges.txt cannot make the whole
// vocabulary (a truncated download, another tokenizer's merges).
inline Gpt2Bpe load_bpe(const GlobalFlags& g, const fs::path& dir) {
    Gpt2Bpe bpe = Gpt2Bpe::from_model_dir(dir);
    warn_unreachable_tokens(g, dir, bpe);
    return bpe;
}

struct DataFlags {
    fs::path data;
    std::int64_t seq_len = 0;  // 0: the model's n_positions
    bool strict = false;
    std::uint64_t content_hash = 0;  // of the lines read (load_data): what a resumable run records

    template <class Self, class V>
    static void each_flag(Self& d, V& v) {
        v.option("--data", d.data,
                 "JSONL: {\"text\"}, {\"prompt\",\"completion\"}, {\"messages\"} or {\"input_ids\",\"labels\"}",
                 required, Resume::content(d.content_hash));
        v.option("--seq-len", d.seq_len, "maximum tokens per example (default: the model's n_positions)",
                 positive_integer(), Resume::match);
        v.flag("--strict", d.strict, "reject over-long examples instead of truncating them", Resume::match);
    }
};

// Reads `f.data` for model `m` (its vocabulary and tokenizer), truncating (or with --strict
// rejecting) examples longer than --seq-len, by default the model's n_positions; with
// limit_to_model false (tokenize, which feeds no model) only an explicit --seq-len limits.
inline std::vector<Example> load_data(const GlobalFlags& g, DataFlags& f, const OpenedModel& m,
                                      bool limit_to_model = true) {
    const std::int64_t positions = m.info.max_positions;
    const std::int64_t max_len = f.seq_len > 0 ? f.seq_len : limit_to_model ? positions : 0;
    if (limit_to_model && max_len > positions)
        fail("--seq-len: ", max_len, " exceeds the model's n_positions = ", positions);
    ReadOptions ro = m.read_options();
    ro.max_len = static_cast<std::size_t>(max_len);
    ro.strict = f.strict;
    ReadResult r = read_examples(f.data, ro);
    f.content_hash = r.content_hash;
    if (r.truncated > 0)
        log(g, "warning: " + f.data.string() + ": " + std::to_string(r.truncated) + " example(s) longer than " +
                   std::to_string(max_len) + " tokens were truncated (--strict rejects them)");
    return std::move(r.examples);
}

// A model directory opened (config.json, tokenizer), with the program's warnings.
inline OpenedModel load_cli_model(const GlobalFlags& g, const fs::path& dir) {
    OpenedModel m = open_model(dir);
    if (const Gpt2Bpe* bpe = m.tokenizer.bpe()) warn_unreachable_tokens(g, dir, *bpe);
    return m;
}

// --force of the verbs that write a model directory.
template <class Bool, class V>
void force_flag(Bool& force, V& v) {
    v.flag("--force", force,
           "write into an existing --out directory that holds other files, keeping them (without it such a "
           "directory is refused)");
}

// A model directory output, opened (checked, locked) before the work: an existing directory
// is replaced only when it holds nothing but the files written anew (a model written again),
// or, with --force, written into with its other files kept. `extra_files`: the files copied
// in beside config.json and model.safetensors.
inline AtomicDirectory open_model_output(const fs::path& out, bool force, const std::vector<fs::path>& extra_files) {
    AtomicDirectory dir(out, force ? ExistingDirectory::keep_other_files : ExistingDirectory::replace_if_nothing_lost);
    dir.expect_files(model_dir_file_names(extra_files), is_weight_file_name);  // weights: one file or shards
    return dir;
}

// The same for an adapter directory (adapter_config.json, adapter_model.safetensors).
inline AtomicDirectory open_adapter_output(const fs::path& out, bool force, const std::vector<fs::path>& extra_files) {
    AtomicDirectory dir(out, force ? ExistingDirectory::keep_other_files : ExistingDirectory::replace_if_nothing_lost);
    std::vector<std::string> names = {std::string(adapter_config_file_name), std::string(adapter_weights_file_name)};
    for (const auto& f : extra_files) names.push_back(f.filename().string());
    dir.expect_files(names);
    return dir;
}

// --dtype of the verbs that load a model: the dtype its weights are held in.
template <class String, class V>
void dtype_flag(String& dtype, V& v) {
    v.option("--dtype", dtype,
             "the dtype the weights are held in: fp32, or bf16 (half the memory, products still accumulate in fp32; "
             "the Llama family on the CPU; frozen: training then needs a LoRA adapter)",
             one_of({"fp32", "bf16"}), Resume::match);
}
// m's weights to be held in `dtype` (--dtype), refused at once for a model that cannot.
inline void use_dtype(OpenedModel& m, const std::string& dtype) {
    m.dtype = dtype == "bf16" ? WeightDtype::bf16 : WeightDtype::f32;
    if (m.dtype == WeightDtype::bf16) require_bf16_weights_support(m.dir, m.info.model_type);
}

// A second model used with the base one (a reference, a warm-up model), loaded on D: it must
// have the base's architecture, shape and tokenizer (the same ids must mean the same tokens).
// An adapter directory (LoRA) is the base plus that adapter; a model's weights are held in the
// base's dtype. `role` names it in the message.
template <Device D>
std::unique_ptr<CausalLm<D>> load_second_model(const fs::path& base_dir, const CausalLm<D>& base, const fs::path& dir,
                                               std::string_view role) {
    if (is_adapter_dir(dir)) return load_lora(base, dir);  // base + that adapter (LoRA)
    std::unique_ptr<CausalLm<D>> other = load_causal_lm<D>(dir, base.weight_dtype());
    if (const ShapeDifference d = base.shape_difference(*other))
        fail((dir / std::string(config_file_name)).string(), ": field '", d.field, "': ", d.other,
             ", but the base model ", base_dir.string(), " has ", d.mine, " (the ", role,
             d.field == "tokclean_tokenizer" ? " must read tokens as the base model does)"
                                             : " must have the base model's shape)");
    return other;
}

// The longest example of `data` (tokens).
inline std::int64_t longest_example(const std::vector<Example>& data) {
    std::int64_t T = 1;
    for (const auto& ex : data) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(ex.input_ids.size()));
    return T;
}

// Refuses a run on the CPU whose gradients, moments and activations would not fit in the
// memory left (nn/memory_plan.hpp), before it allocates them; GPU runs are the device's.
template <Device D>
void require_host_memory(const MemoryPlan& plan, const std::string& verb, const std::string& advice) {
    if constexpr (std::is_same_v<D, Cpu>) require_memory(plan, verb, advice);
}

// --batch-size of the verbs that score: 0 sizes the batches from the memory available.
inline constexpr const char* batch_size_help =
    "examples per forward pass (0: the largest, up to 64, whose activations fit the memory available)";

// The batch a scoring verb runs: `requested`, or for 0 the largest that fits (on the CPU; 8 on
// a GPU), logged.
template <class D>
std::int64_t scoring_batch_size(const GlobalFlags& g, const CausalLm<D>& model, std::int64_t requested, std::int64_t T) {
    if (requested > 0) return requested;
    std::int64_t batch = 8;
    if constexpr (std::is_same_v<D, Cpu>) batch = scoring_batch_that_fits(model, T);
    log(g, "--batch-size 0: " + std::to_string(batch) + " examples per forward pass (sequences of up to " +
               std::to_string(T) + " tokens)");
    return batch;
}

// Training data must hold at least one target token (a label other than -100 after position 0).
inline void require_targets(const fs::path& data_file, const std::vector<Example>& data) {
    for (const auto& ex : data)
        if (ex.num_targets() > 0) return;
    fail(data_file.string(), ": no target tokens in any example (every label after position 0 is -100): "
                             "nothing to train on");
}

}  // namespace tokclean::cli
