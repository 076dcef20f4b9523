#pragma once
// The model verbs: init, train (plain, or RHO-1 online with --ref), score, eval, generate.
#include <algorithm>
#include <span>

#include "common.hpp"
#include "tokclean/clean/rho1.hpp"
#include "tokclean/core/interrupt.hpp"
#include "tokclean/data/hf_tokenizer.hpp"  // init --tokenizer DIR of the Llama family
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/file_hash.hpp"
#include "tokclean/io/number_format.hpp"
#include "tokclean/nn/gpt_init.hpp"
#include "tokclean/nn/llama.hpp"
#include "tokclean/nn/llama_init.hpp"
#include "tokclean/nn/token_losses.hpp"
#include "tokclean/nn/train_checkpoint.hpp"
#include "tokclean/nn/trainer.hpp"

namespace tokclean::cli {

struct InitFlags {
    fs::path out;
    std::string arch = "gpt2";
    int layers = 4, heads = 4, embd = 256, positions = 256;
    int kv_heads = 0, intermediate = 0, head_dim = 0;  // Llama family; 0: the default
    double rope_theta = 10000.0;
    bool tie = false;
    std::string tokenizer = "byte";
    int vocab = 0;
    std::uint64_t seed = 0;
    bool force = false;
    std::string dtype = "fp32";

    static constexpr VerbHelp help{"init", "write a freshly initialised model directory (GPT-2 or Llama family)",
        "\nExample:\n  tokclean init --out base --layers 4 --heads 4 --embd 256 --positions 256 --tokenizer byte\n"
        "  tokclean init --out base --tokenizer gpt2-files/    # vocab.json + merges.txt or tokenizer.json\n"
        "  tokclean init --out base --arch llama --tokenizer Llama-3.1-8B/   # its tokenizer.json and chat template\n"
        "  tokclean init --out base --arch qwen3 --layers 4 --heads 8 --kv-heads 2 --embd 256 --head-dim 64\n"
        "Writes a Hugging Face directory (config.json, model.safetensors, tokenizer files) that\n"
        "transformers loads as GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM\n"
        "or Qwen3ForCausalLM.\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--out", f.out, "model directory to create", required);
        force_flag(f.force, v);
        v.option("--arch", f.arch, "architecture", one_of({"gpt2", "llama", "mistral", "qwen2", "qwen3"}));
        v.option("--layers", f.layers, "transformer blocks", positive_integer());
        v.option("--heads", f.heads, "attention heads", positive_integer());
        v.option("--embd", f.embd, "embedding width (hidden_size)", positive_integer());
        v.option("--positions", f.positions, "maximum sequence length", positive_integer());
        v.option("--kv-heads", f.kv_heads, "Llama family: key/value heads, dividing --heads (default: --heads)",
                 positive_integer());
        v.option("--intermediate", f.intermediate, "Llama family: MLP width (default: 4 x --embd)",
                 positive_integer());
        v.option("--head-dim", f.head_dim, "Llama family: width of a head, even (default: --embd / --heads)",
                 positive_integer());
        v.option("--rope-theta", f.rope_theta, "Llama family: RoPE base", finite_in(1.0, HUGE_VAL, "a number > 1"));
        v.flag("--tie", f.tie, "Llama family: tie the LM head to the token embedding (GPT-2 always is)");
        v.option("--tokenizer", f.tokenizer,
                 "'byte' (built in), or a directory: for gpt2, GPT-2's vocab.json + merges.txt or tokenizer.json; for the "
                 "Llama family, any tokenizer.json (with tokenizer_config.json: EOS and chat template), copied");
        v.option("--vocab", f.vocab, "vocabulary size for pre-tokenized data (no tokenizer)", positive_integer());
        v.exclusive("--vocab", "--tokenizer");
        v.option("--seed", f.seed, "initialisation seed");
        v.option("--dtype", f.dtype,
                 "Llama family: the dtype of the weights written, fp32 or bf16 (BF16 files, half the size, as Llama and "
                 "Qwen checkpoints ship; never held in float32, so an 8B shape initialises in 16 GB)",
                 one_of({"fp32", "bf16"}));
    }
};

// The directory --tokenizer names (a directory, or a file in it), checked to exist and to be
// apart from --out.
inline fs::path tokenizer_source(const InitFlags& f, const char* expected) {
    std::error_code ec;
    if (!fs::exists(f.tokenizer, ec))
        fail("--tokenizer: ", f.tokenizer, ": no such file or directory (expected 'byte', or ", expected, ")");
    const fs::path src = fs::is_directory(f.tokenizer) ? fs::path(f.tokenizer) : fs::path(f.tokenizer).parent_path();
    check_paths({{"--tokenizer", src}}, {{"--out", f.out}});
    return src;
}

// The configuration `tokclean init --arch llama|mistral|qwen2|qwen3` writes.
inline LlamaConfig llama_init_config(const InitFlags& f) {
    LlamaShape s;
    s.model_type = f.arch;
    s.n_layer = f.layers;
    s.hidden = f.embd;
    s.heads = f.heads;
    s.kv_heads = f.kv_heads;
    s.intermediate = f.intermediate;
    s.head_dim = f.head_dim;
    s.max_positions = f.positions;
    s.rope_theta = f.rope_theta;
    s.tied = f.tie;
    if (f.vocab > 0) {  // no tokenizer; the last id ends examples
        s.vocab_size = f.vocab;
        s.eos_token_id = f.vocab - 1;
        s.tokenizer = "";
    } else if (f.tokenizer == "byte") {
        s.vocab_size = 257;
        s.eos_token_id = 256;
    } else {  // a tokenizer.json: the vocabulary is its ids, EOS its tokenizer_config.json's
        const fs::path src = tokenizer_source(f, "a directory with tokenizer.json");
        if (!fs::exists(src / "tokenizer.json"))
            fail("--tokenizer: ", src.string(), ": no tokenizer.json (", f.arch, " models read any tokenizer.json)");
        const HfTokenizer tok = HfTokenizer::from_model_dir(src);
        if (tok.eos_id() < 0)
            fail("--tokenizer: ", (src / "tokenizer_config.json").string(),
                 ": no eos_token (the id that ends completions and turns); add it to tokenizer_config.json");
        s.vocab_size = tok.vocab_size();
        s.eos_token_id = tok.eos_id();
        s.tokenizer = "hf-tokenizer";
    }
    if (f.embd % f.heads != 0 && f.head_dim == 0)
        fail("--embd: ", f.embd, " is not a multiple of --heads = ", f.heads, " (or give --head-dim)");
    return llama_config(s, "--arch " + f.arch);
}

// Flags of the Llama family given with --arch gpt2 are refused rather than ignored.
inline void refuse_llama_flags_for_gpt2(const InitFlags& f) {
    const InitFlags defaults;
    for (const auto& [name, given] : {std::pair{"--kv-heads", f.kv_heads != defaults.kv_heads},
                                      {"--intermediate", f.intermediate != defaults.intermediate},
                                      {"--head-dim", f.head_dim != defaults.head_dim},
                                      {"--rope-theta", f.rope_theta != defaults.rope_theta},
                                      {"--tie", f.tie != defaults.tie},
                                      {"--dtype", f.dtype != defaults.dtype}})
        if (given) fail(name, ": applies to --arch llama, mistral, qwen2 or qwen3, not gpt2");
}

inline void run_llama_init(const GlobalFlags& g, const InitFlags& f) {
    const LlamaConfig c = llama_init_config(f);
    const std::int64_t numel = LlamaLayout(c).numel;
    const std::vector<fs::path> tokenizer_copy =
        c.tokenizer == "hf-tokenizer" ? tokenizer_files(tokenizer_source(f, "a directory with tokenizer.json")) : std::vector<fs::path>{};
    const InterruptScope interrupts;
    AtomicDirectory out = open_model_output(f.out, f.force, tokenizer_copy);
    const bool bf16 = f.dtype == "bf16";
    const std::int64_t bytes = numel * (bf16 ? 2 : 4);
    if (const auto avail = available_memory(); avail && bytes > *avail)
        fail("init: the weights need about ", memory_detail::gib(bytes), " but ", memory_detail::gib(*avail),
             " is available: initialise a smaller shape", bf16 ? "" : ", or in bf16 (--dtype bf16)");
    const auto no_memory = [&] {
        fail("--out ", f.out.string(), ": not enough memory for the ", numel, " parameters (", bytes / (1 << 20),
             " MiB of ", bf16 ? "bfloat16" : "float32", ") of this shape");
    };
    std::unique_ptr<Llama<Cpu>> model;
    try {
        if (bf16) model = std::make_unique<Llama<Cpu>>(c, std::make_shared<const LlamaBf16Weights>(llama_init_bf16(c, f.seed)));
        else model = std::make_unique<Llama<Cpu>>(c, llama_init(c, f.seed));
    } catch (const std::bad_alloc&) {
        no_memory();
    }
    stop_if_interrupted("init");
    model->save(out, tokenizer_copy);
    log(g, "initialised " + f.out.string() + ": " + std::to_string(numel) + " parameters");
    std::cout << "{\"model\": " << quoted(f.out.string()) << ", \"parameters\": " << numel << "}\n";
}

inline void run_init(const GlobalFlags& g, const InitFlags& f) {
    if (f.arch != "gpt2") return run_llama_init(g, f);
    refuse_llama_flags_for_gpt2(f);
    GptConfig c;
    c.n_layer = f.layers;
    c.n_head = f.heads;
    c.n_embd = f.embd;
    c.n_positions = f.positions;
    std::vector<fs::path> tokenizer_copy;
    if (f.vocab > 0) {  // --vocab: no tokenizer, pre-tokenized data only
        c = GptConfig::pretokenized(f.layers, f.heads, f.embd, f.vocab, f.positions);
    } else if (f.tokenizer == "byte") {
        c.tokenizer = "byte";
        c.vocab_size = 257;
        c.eos_token_id = 256;
    } else {  // a directory (or file) with GPT-2 BPE tokenizer files
        const fs::path src = tokenizer_source(f, "a directory with GPT-2's vocab.json + merges.txt or tokenizer.json");
        const Gpt2Bpe bpe = load_bpe(g, src);
        c.tokenizer = "gpt2-bpe";
        c.vocab_size = static_cast<int>(bpe.vocab_size());
        c.eos_token_id = bpe.eos_id();
        tokenizer_copy = tokenizer_files(src);
    }
    c.validate("--out " + f.out.string());
    const InterruptScope interrupts;
    AtomicDirectory out = open_model_output(f.out, f.force, tokenizer_copy);
    const GptParams<Cpu> params = [&] {
        try {
            return gpt_init(c, f.seed);
        } catch (const std::bad_alloc&) {
            fail("--out ", f.out.string(), ": not enough memory for the ", gpt_param_numel(c), " parameters (",
                 gpt_param_numel(c) * 4 / (1 << 20), " MiB of float32) of this shape");
        }
    }();
    stop_if_interrupted("init");
    save_model_dir(out, c, params, tokenizer_copy);
    log(g, "initialised " + f.out.string() + ": " + std::to_string(params.numel()) + " parameters");
    std::cout << "{\"model\": " << quoted(f.out.string()) << ", \"parameters\": " << params.numel() << "}\n";
}

// The fine-tuning flags shared by train and evolve.
struct FineTuneFlags {
    TrainOptions options;
    std::string schedule = "linear";
    bool no_shuffle = false;
    bool shuffle = false;  // --shuffle: the default, accepted so scripts can say it

    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        auto& o = f.options;
        v.option("--epochs", o.epochs, "passes over the data", positive_integer(), Resume::match);
        v.option("--steps", o.steps, "optimizer steps (instead of --epochs)", positive_integer(), Resume::match);
        v.exclusive("--steps", "--epochs");
        v.option("--batch-size", o.batch_size, "examples per step", positive_integer(), Resume::match);
        v.option("--lr", o.lr, "peak learning rate", finite_at_least(0), Resume::match);
        v.option("--schedule", f.schedule, "constant|linear|cosine", one_of({"constant", "linear", "cosine"}),
                 Resume::match);
        v.option("--warmup-ratio", o.warmup_ratio, "share of steps warming up linearly from 0", fraction(),
                 Resume::match);
        v.option("--weight-decay", o.weight_decay, "decoupled weight decay (all parameters)", finite_at_least(0),
                 Resume::match);
        v.option("--grad-clip", o.grad_clip, "global gradient-norm limit (0: off)", finite_at_least(0), Resume::match);
        v.flag("--shuffle", f.shuffle, "shuffle the examples every epoch (default)");
        v.flag("--no-shuffle", f.no_shuffle, "take batches in file order", Resume::match);
        v.exclusive("--no-shuffle", "--shuffle");
        v.option("--seed", o.seed, "seed of shuffling, LoRA's initialisation and dropout", Resume::match);
    }
    // The options with --schedule and --no-shuffle applied.
    TrainOptions resolved() const {
        TrainOptions o = options;
        o.schedule = parse_schedule(schedule);
        o.shuffle = !no_shuffle;
        return o;
    }
};

// A new LoRA adapter's settings (train, evolve): --lora-r 0 trains every weight instead.
struct LoraFlags {
    std::int64_t r = 0;
    double alpha = 16;
    double dropout = 0;
    std::string targets = "all-linear";

    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--lora-r", f.r, "train a LoRA adapter of this rank on the frozen base (0: every weight)",
                 non_negative_integer(), Resume::match);
        v.option("--lora-alpha", f.alpha, "LoRA's alpha: the update is scaled by alpha / r", Resume::match);
        v.option("--lora-dropout", f.dropout, "dropout on the adapters' input while training", fraction(),
                 Resume::match);
        v.option("--lora-targets", f.targets,
                 "comma-separated modules to adapt (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj) or all-linear",
                 Resume::match);
    }
    void check() const {
        if (dropout >= 1) fail("--lora-dropout: ", dropout, " is not below 1");
        if (r == 0 && (dropout != 0 || targets != "all-linear" || alpha != 16))
            fail("--lora-alpha, --lora-dropout and --lora-targets need --lora-r R (a LoRA adapter of rank R)");
    }
    LoraConfig config(const fs::path& base) const {
        LoraConfig c;
        c.r = r;
        c.alpha = alpha;
        c.dropout = dropout;
        c.base_model = base.string();
        c.where = "--lora-targets";
        for (std::size_t start = 0; start <= targets.size();) {
            const std::size_t comma = std::min(targets.find(',', start), targets.size());
            if (comma > start) c.targets.push_back(targets.substr(start, comma - start));
            start = comma + 1;
        }
        if (c.targets.empty()) fail("--lora-targets: no module names");
        return c;
    }
};

struct TrainFlags {
    fs::path model, out, ref;
    DataFlags data;
    FineTuneFlags tune;
    std::string select;  // with --ref: "batch" (RHO-1) or "auto" (a tau from each batch's scores)
    std::string auto_rule = "otsu";
    double keep = 0.6;
    std::int64_t checkpoint_every = 0;  // steps between checkpoints; 0: only on SIGINT/SIGTERM
    fs::path checkpoint_dir;            // default: OUT.ckpt
    bool resume = false;
    bool force = false;
    LoraFlags lora;   // --lora-r > 0: a new adapter on the frozen --model
    fs::path adapter;  // or one to train further
    std::string dtype = "fp32";  // of the frozen base (bf16: LoRA only)
    bool trains_adapter() const { return lora.r > 0 || !adapter.empty(); }

    static constexpr VerbHelp help{"train", "fine-tune a model (AdamW, mean loss over target tokens)",
        "\nExamples:\n  tokclean train --model base --data sft.jsonl --out tuned --epochs 1 --lr 1e-4 --warmup-ratio 0.03\n"
        "  tokclean train --model base --data sft.jsonl --out tuned --checkpoint-every 200   # then, after a crash:\n"
        "  tokclean train --model base --data sft.jsonl --out tuned --checkpoint-every 200 --resume\n"
        "Checkpoints (weights, AdamW moments, step, data position, shuffling RNG) go to OUT.ckpt (--checkpoint-dir)\n"
        "every N steps and on SIGINT/SIGTERM, which then exit with 130/143. --resume continues the same run (same\n"
        "data and flags) and ends with the same model, bit for bit, as a run never stopped; the checkpoint is\n"
        "removed once OUT is written. A second Ctrl-C stops at once (the last checkpoint stays usable).\n"
        "The checkpoint directory must be new, empty or tokclean's own: any other is refused, never written into.\n"
        "LoRA (PEFT's format): --lora-r 64 --lora-alpha 16 --lora-dropout 0.1 trains an adapter on every projection\n"
        "(--lora-targets q_proj,v_proj,... to choose) with --model frozen, and writes adapter_config.json and\n"
        "adapter_model.safetensors to OUT; --adapter DIR continues training an adapter. Use it as --model BASE\n"
        "--adapter OUT, or as clean's --ref / evolve's --warmup directly; tokclean merge writes base + adapter.\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--model", f.model, "model directory to start from", required, Resume::model_files);
        DataFlags::each_flag(f.data, v);
        v.option("--out", f.out, "model directory to write", required);
        force_flag(f.force, v);
        FineTuneFlags::each_flag(f.tune, v);
        v.option("--ref", f.ref, "reference model: RHO-1's online selection (with --select batch|auto)",
                 Resume::model_files);
        v.option("--select", f.select, "with --ref: batch (top --keep of each batch) or auto (tau from each batch)",
                 one_of({"batch", "auto"}), Resume::match);
        v.option("--auto-rule", f.auto_rule, "--select auto: how tau is chosen from the scores (otsu|mixture)",
                 one_of({"otsu", "mixture"}), Resume::match);
        v.option("--keep", f.keep, "with --ref: fraction of each batch's targets trained on", fraction(),
                 Resume::match);
        v.option("--checkpoint-every", f.checkpoint_every, "save a checkpoint every N steps (0: only on SIGINT/SIGTERM)",
                 non_negative_integer());
        v.option("--checkpoint-dir", f.checkpoint_dir, "where checkpoints go (default: OUT.ckpt)");
        v.flag("--resume", f.resume, "continue from the checkpoint of an interrupted run");
        LoraFlags::each_flag(f.lora, v);
        v.option("--adapter", f.adapter, "a LoRA adapter directory on --model to train further", Resume::model_files);
        dtype_flag(f.dtype, v);
    }
};

// "step 12/200, loss 2.3456, lr 0.0001000" for progress.
inline std::string step_detail(const TrainStep& s) { return "loss " + fixed(s.loss, 4) + ", lr " + fixed(s.lr, 7); }

inline fs::path train_checkpoint_dir(const TrainFlags& f) {
    return f.checkpoint_dir.empty() ? beside(f.out, ".ckpt") : f.checkpoint_dir;
}

// Fine-tunes --model on --data into --out. With --checkpoint-every N the run saves a
// checkpoint (weights, AdamW moments, step, data position, shuffling RNG) every N steps, and
// always on SIGINT/SIGTERM, into --checkpoint-dir (default OUT.ckpt), then exits with 128 +
// the signal; --resume continues from it and ends with the same model, bit for bit, as an
// uninterrupted run. The checkpoint is removed once OUT is written. D: the device it runs on.
template <class D = Cpu>
TrainReport run_train(const GlobalFlags& g, TrainFlags f) {
    const fs::path ckpt_dir = train_checkpoint_dir(f);
    check_paths({{"--model", f.model}, {"--data", f.data.data}, {"--ref", f.ref}, {"--adapter", f.adapter}},
                {{"--out", f.out}, {"--checkpoint-dir", ckpt_dir}});
    if (f.lora.r > 0 && !f.adapter.empty())
        fail("--lora-r starts a new adapter and --adapter continues one: give one of them");
    f.lora.check();
    if (f.dtype == "bf16" && !f.trains_adapter())
        fail("--dtype bf16 holds --model's weights frozen: train a LoRA adapter on it (--lora-r R or --adapter DIR), "
             "or train every weight with --dtype fp32");
    const InterruptScope interrupts;  // from the start: a signal while loading stops at the first step
    AtomicDirectory out = f.trains_adapter() ? open_adapter_output(f.out, f.force, tokenizer_files(f.model))
                                   : open_model_output(f.out, f.force, tokenizer_files(f.model));
    OpenedModel m = load_cli_model(g, f.model);
    m.adapter = f.adapter;
    use_dtype(m, f.dtype);
    const std::vector<Example> data = load_data(g, f.data, m);
    require_targets(f.data.data, data);
    TrainOptions options = f.tune.resolved();
    if (!f.ref.empty() && f.select != "batch" && f.select != "auto")
        fail("--ref: online selection supports --select batch (RHO-1's rule) or auto, got '", f.select, "'");
    if (f.ref.empty() && !f.select.empty()) fail("--select with train needs --ref DIR (RHO-1's online rule)");
    std::unique_ptr<CausalLm<D>> model = m.take_model<D>();
    if (f.lora.r > 0) model = new_lora(*model, f.lora.config(f.model), options.seed);  // the base frozen, shared
    require_host_memory<D>(training_memory(*model, options.batch_size, longest_example(data)), "train",
                           "lower --batch-size or --seq-len, or train a LoRA adapter (--lora-r)");
    std::unique_ptr<CausalLm<D>> ref;
    if (!f.ref.empty()) {  // RHO-1: excess loss against a fixed reference, top-k per batch
        ref = load_second_model(f.model, *model, f.ref, "reference model");
        options.weighter = f.select == "auto" ? rho1_weighter(*ref, AutoThreshold{parse_auto_rule(f.auto_rule)})
                                              : rho1_weighter(*ref, f.keep);
    }
    Trainer<D> trainer(*model, std::span<const Example>(data), options);

    TrainCheckpoint checkpoint(ckpt_dir, resume_settings(f));
    const std::string ckpt = checkpoint.dir().string();
    if (checkpoint.exists()) {
        if (!f.resume)
            fail(checkpoint.state_file().string(), ": a checkpoint of an interrupted run is here (step ",
                 checkpoint.saved_step(), "): add --resume to continue it, or remove ", ckpt, " to start afresh");
        checkpoint.restore(trainer);
        log(g, "resuming at step " + std::to_string(trainer.steps_done()) + "/" + std::to_string(trainer.total_steps()) +
                   " from " + ckpt);
    } else if (f.resume) {
        log(g, "--resume: no checkpoint in " + ckpt + "; starting at step 0");
    }

    Progress progress("train", trainer.total_steps(), "steps", progress_mode(g), trainer.steps_done());
    const std::int64_t tokens0 = trainer.report().tokens;
    while (!trainer.done()) {
        const TrainStep s = trainer.step();
        progress.update(s.step, s.tokens - tokens0, step_detail(s));
        if (trainer.done()) break;
        if (const int sig = interrupt_signal()) {
            checkpoint.save(trainer);
            throw Interrupted(sig, std::string("train: ") + signal_name(sig) + " at step " + std::to_string(s.step) + "/" +
                                       std::to_string(s.total_steps) + "; checkpoint saved in " + ckpt +
                                       ": run the same command with --resume to continue");
        }
        if (f.checkpoint_every > 0 && s.step % f.checkpoint_every == 0) checkpoint.save(trainer);
    }
    const TrainReport report = trainer.report();
    progress.finish("loss " + fixed(report.last_loss, 4));
    model->save(out, tokenizer_files(f.model));
    checkpoint.remove();
    std::cout << "{\"model\": " << quoted(f.out.string()) << ", \"steps\": " << report.steps
              << ", \"first_loss\": " << report.first_loss << ", \"last_loss\": " << report.last_loss
              << ", \"seconds\": " << fixed(report.seconds, 3) << ", \"tokens_per_s\": "
              << fixed(static_cast<double>(report.tokens) / std::max(report.seconds, 1e-9), 1) << "}\n";
    return report;
}

struct ScoreFlags {
    fs::path model, out, adapter;
    DataFlags data;
    std::int64_t batch_size = 8;
    std::string dtype = "fp32";

    static constexpr VerbHelp help{"score", "per-token losses of every example: {\"losses\": [null, ...]}",
        "\nExample:\n  tokclean score --model base --data sft.jsonl --out losses.jsonl\n"
        "Writes {\"losses\": [null, 1.23, ...]} per example: entry j is the loss of token j (null: not a target).\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--model", f.model, "model directory", required);
        v.option("--adapter", f.adapter, "a LoRA adapter directory: score with --model plus this adapter");
        DataFlags::each_flag(f.data, v);
        v.option("--out", f.out, "JSONL output", required);
        v.option("--batch-size", f.batch_size, batch_size_help, non_negative_integer());
        dtype_flag(f.dtype, v);
    }
};

template <class D = Cpu>
double run_score(const GlobalFlags& g, ScoreFlags f) {
    check_paths({{"--model", f.model}, {"--data", f.data.data}, {"--adapter", f.adapter}}, {{"--out", f.out}});
    const InterruptScope interrupts;
    AtomicFile out(f.out);
    OpenedModel m = load_cli_model(g, f.model);
    m.adapter = f.adapter;
    use_dtype(m, f.dtype);
    const std::vector<Example> data = load_data(g, f.data, m);
    const std::unique_ptr<CausalLm<D>> model = m.take_model<D>();
    f.batch_size = scoring_batch_size<D>(g, *model, f.batch_size, longest_example(data));
    require_host_memory<D>(scoring_memory(*model, f.batch_size, longest_example(data)), "score",
                           "lower --batch-size or --seq-len");
    std::string line;
    double sum = 0.0;
    std::int64_t targets = 0, tokens = 0;
    Progress progress("score", static_cast<std::int64_t>(data.size()), "examples", progress_mode(g));
    score_examples(*model, std::span<const Example>(data), f.batch_size, [&](std::size_t i, std::span<const float> losses) {
        stop_if_interrupted("score");
        tokens += static_cast<std::int64_t>(losses.size());
        progress.update(static_cast<std::int64_t>(i) + 1, tokens);
        line = "{\"losses\": [";
        for (std::size_t j = 0; j < losses.size(); ++j) {
            if (j) line += ", ";
            append_float_json(line, losses[j]);
            if (std::isfinite(losses[j])) {
                sum += losses[j];
                ++targets;
            }
        }
        line += "]}\n";
        out.write(line);
    }, f.data.data.string());
    out.commit();
    progress.finish();
    const double mean = targets ? sum / static_cast<double>(targets) : 0.0;
    log(g, "scored " + std::to_string(data.size()) + " examples, " + std::to_string(targets) +
               " target tokens, mean loss " + fixed(mean, 4) + " -> " + f.out.string());
    std::cout << "{\"out\": " << quoted(f.out.string()) << ", \"examples\": " << data.size()
              << ", \"tokens\": " << targets << ", \"mean_loss\": " << fixed(mean, 6) << "}\n";
    return mean;
}

struct EvalFlags {
    fs::path model, adapter;
    DataFlags data;
    std::int64_t batch_size = 8;
    std::string dtype = "fp32";

    static constexpr VerbHelp help{"eval", "teacher-forced loss, token accuracy and exact match of the targets",
        "\nExample:\n  tokclean eval --model tuned --data test.jsonl\n"
        "Prints {\"loss\", \"token_accuracy\", \"exact_match\", \"sampled_exact_match\", \"examples\", \"tokens\"}\n"
        "for the target tokens (teacher forcing): token_accuracy = share of targets that are the argmax,\n"
        "exact_match = share of examples whose targets all are (greedy decoding gets them right),\n"
        "sampled_exact_match = mean P(all targets of an example) (what sampling at temperature 1 gets right).\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--model", f.model, "model directory", required);
        v.option("--adapter", f.adapter, "a LoRA adapter directory: evaluate --model plus this adapter");
        DataFlags::each_flag(f.data, v);
        v.option("--batch-size", f.batch_size, "examples per forward pass", positive_integer());
        dtype_flag(f.dtype, v);
    }
};

struct EvalResult {
    double loss = 0.0, token_accuracy = 0.0, exact_match = 0.0;
    // The exact match to expect when sampling at temperature 1 instead of decoding greedily:
    // the mean over examples of P(all targets) = exp(-sum of their losses).
    double sampled_exact_match = 0.0;
    std::int64_t examples = 0, tokens = 0;
};

// Teacher-forced evaluation of the targets of `data`: mean loss per target token, share of
// targets that are the argmax, share of examples (with at least one target) whose targets all
// are, and the mean probability of an example's targets (sampled_exact_match).
template <class D>
EvalResult evaluate_examples(CausalLm<D>& model, std::span<const Example> data, std::int64_t batch_size,
                             std::string_view source = {}) {
    double loss_sum = 0.0, sampled = 0.0;
    std::int64_t correct = 0, exact = 0;
    EvalResult r;
    for_each_batch(data, batch_size, [&](std::size_t first, const Batch& batch) {
        const std::int64_t B = batch.batch_size(), T = batch.seq_len();
        model.forward(batch.input_ids.data(), batch.labels.data(), B, T);
        const auto losses = model.token_losses();
        const auto argmax = model.target_argmax();
        for (std::int64_t b = 0; b < B; ++b) {
            const Example& ex = data[first + static_cast<std::size_t>(b)];
            require_finite_target_losses(ex, losses.subspan(static_cast<std::size_t>(b * T), ex.size()), source);
            std::int64_t n = 0, ok = 0;
            double example_loss = 0.0;
            for (std::int64_t j = 1; j < static_cast<std::int64_t>(ex.size()); ++j) {
                const auto slot = static_cast<std::size_t>(b * T + j);
                if (ex.labels[static_cast<std::size_t>(j)] == ignore_label) continue;
                ++n;
                example_loss += losses[slot];
                ok += argmax[slot] == batch.labels.data()[slot];
            }
            r.tokens += n;
            correct += ok;
            loss_sum += example_loss;
            if (n > 0) {
                ++r.examples;
                exact += ok == n;
                sampled += std::exp(-example_loss);
            }
        }
    });
    if (r.tokens == 0) return r;
    r.loss = loss_sum / static_cast<double>(r.tokens);
    r.token_accuracy = static_cast<double>(correct) / static_cast<double>(r.tokens);
    r.exact_match = static_cast<double>(exact) / static_cast<double>(r.examples);
    r.sampled_exact_match = sampled / static_cast<double>(r.examples);
    return r;
}

template <class D = Cpu>
EvalResult run_eval(const GlobalFlags& g, EvalFlags f, bool print = true) {
    OpenedModel m = load_cli_model(g, f.model);
    m.adapter = f.adapter;
    use_dtype(m, f.dtype);
    const std::vector<Example> data = load_data(g, f.data, m);
    const std::unique_ptr<CausalLm<D>> model = m.take_model<D>();
    const EvalResult r = evaluate_examples(*model, data, f.batch_size, f.data.data.string());
    if (r.tokens == 0) fail(f.data.data.string(), ": no target tokens to evaluate");
    if (print)
        std::cout << "{\"loss\": " << fixed(r.loss, 6) << ", \"token_accuracy\": " << fixed(r.token_accuracy, 6)
                  << ", \"exact_match\": " << fixed(r.exact_match, 6)
                  << ", \"sampled_exact_match\": " << significant(r.sampled_exact_match, 6)
                  << ", \"examples\": " << r.examples
                  << ", \"tokens\": " << r.tokens << "}\n";
    return r;
}

struct GenerateFlags {
    fs::path model, adapter;
    std::string prompt;
    std::int64_t max_new_tokens = 64;
    std::string dtype = "fp32";

    static constexpr VerbHelp help{"generate", "greedy continuation of a prompt",
        "\nExample:\n  tokclean generate --model tuned --prompt 'Q: 2+2?\\nA:' --max-new-tokens 16\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--model", f.model, "model directory", required);
        v.option("--adapter", f.adapter, "a LoRA adapter directory: generate with --model plus this adapter");
        v.option("--prompt", f.prompt, "prompt text", required);
        v.option("--max-new-tokens", f.max_new_tokens, "tokens to generate at most", non_negative_integer());
        dtype_flag(f.dtype, v);
    }
};

// Greedy decoding until EOS or max_new_tokens; the context keeps the last n_positions tokens.
inline void run_generate(const GlobalFlags& g, const GenerateFlags& f) {
    OpenedModel m = load_cli_model(g, f.model);
    m.adapter = f.adapter;
    use_dtype(m, f.dtype);
    if (!m.tokenizer) fail(f.model.string(), ": the model has no tokenizer, so it cannot read a text prompt");
    const TokenizerRef tok = m.tokenizer.ref();
    const std::unique_ptr<CausalLm<Cpu>> model = m.take_model();
    // The prompt as transformers' tokenizer(prompt) gives it: with the special tokens the
    // tokenizer puts before a text (Llama's BOS).
    std::vector<std::int32_t> ids = m.read_options().text_prefix;
    const std::vector<std::int32_t> prompt = tok.encode(f.prompt);
    ids.insert(ids.end(), prompt.begin(), prompt.end());
    if (ids.empty()) ids.push_back(m.info.eos_token_id);  // an empty prompt starts from EOS
    std::vector<std::int32_t> generated;
    for (std::int64_t step = 0; step < f.max_new_tokens; ++step) {
        // The context plus one placeholder whose label asks for the logits of the last position.
        const std::int64_t keep = std::min<std::int64_t>(static_cast<std::int64_t>(ids.size()), m.info.max_positions - 1);
        std::vector<std::int32_t> input(ids.end() - keep, ids.end());
        input.push_back(0);
        std::vector<std::int32_t> labels(input.size(), ignore_label);
        labels.back() = 0;
        const auto T = static_cast<std::int64_t>(input.size());
        model->forward(input.data(), labels.data(), 1, T);
        const std::int32_t next = model->target_argmax()[static_cast<std::size_t>(T - 1)];
        if (next == m.info.eos_token_id || next == tok.eos_id()) break;  // config.json's or the tokenizer's (<|eot_id|>)
        ids.push_back(next);
        generated.push_back(next);
    }
    std::cout << "{\"completion\": " << quoted(tok.decode(generated)) << ", \"tokens\": " << generated.size() << "}\n";
}

struct MergeFlags {
    fs::path model, adapter, out;
    bool force = false;

    static constexpr VerbHelp help{"merge", "write a model with a LoRA adapter merged into its weights",
        "\nExample:\n  tokclean merge --model base --adapter warmup_adapter --out warmup_merged\n"
        "Each adapted weight becomes W + (alpha / r) * B * A (PEFT's merge_and_unload); the result is a plain\n"
        "model directory, in the layout transformers loads, with the base's tokenizer files.\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--model", f.model, "the base model directory", required);
        v.option("--adapter", f.adapter, "the LoRA adapter directory (adapter_config.json, adapter_model.safetensors)",
                 required);
        v.option("--out", f.out, "model directory to write", required);
        force_flag(f.force, v);
    }
};

inline void run_merge(const GlobalFlags& g, const MergeFlags& f) {
    check_paths({{"--model", f.model}, {"--adapter", f.adapter}}, {{"--out", f.out}});
    AtomicDirectory out = open_model_output(f.out, f.force, tokenizer_files(f.model));
    OpenedModel m = load_cli_model(g, f.model);
    m.adapter = f.adapter;
    const std::unique_ptr<CausalLm<Cpu>> model = m.take_model();
    model->merged()->save(out, tokenizer_files(f.model));
    std::cout << "{\"model\": " << quoted(f.out.string()) << ", \"modules\": "
              << model->lora_layout(*model->lora()).modules.size() << "}\n";
}

}  // namespace tokclean::cli
