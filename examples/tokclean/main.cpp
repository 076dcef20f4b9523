// The tokclean command-line program: CLI11 wiring only. Each verb lives in a cmd_*.hpp as a
// thin layer over the library: parse, load, call, write atomically. Errors are one line on
// stderr and exit status 1 (2 for a bad command line).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iterator>

#include "cmd_clean.hpp"
#include "cmd_demo.hpp"
#include "cmd_model.hpp"
#include "cmd_report.hpp"
#include "help.hpp"
#include "tokclean/core/threads.hpp"
#ifdef TOKCLEAN_WITH_CUDA_PLUGIN
#include "cuda_plugin.hpp"
#endif

using namespace tokclean;
using namespace tokclean::cli;

namespace {

void add_data_flags(CLI::App* cmd, DataFlags& d) {
    cmd->add_option("--data", d.data, "JSONL: {\"text\"}, {\"prompt\",\"completion\"}, {\"messages\"} or {\"input_ids\",\"labels\"}")
        ->required();
    cmd->add_option("--seq-len", d.seq_len, "maximum tokens per example (default: n_positions)");
    cmd->add_flag("--strict", d.strict, "reject over-long examples instead of truncating them");
}

// The fine-tuning flags shared by train and evolve.
void add_train_flags(CLI::App* cmd, TrainFlags& f) {
    auto& o = f.options;
    auto* epochs = cmd->add_option("--epochs", o.epochs, "passes over the data")->capture_default_str();
    cmd->add_option("--steps", o.steps, "optimizer steps (instead of --epochs)")->excludes(epochs);
    cmd->add_option("--batch-size", o.batch_size, "examples per step")->capture_default_str();
    cmd->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
    cmd->add_option("--schedule", f.schedule, "constant|linear|cosine")->capture_default_str();
    cmd->add_option("--warmup-ratio", o.warmup_ratio, "share of steps warming up linearly from 0")->capture_default_str();
    cmd->add_option("--weight-decay", o.weight_decay, "decoupled weight decay (all parameters)")->capture_default_str();
    cmd->add_option("--grad-clip", o.grad_clip, "global gradient-norm limit (0: off)")->capture_default_str();
    auto* shuffle = cmd->add_flag("--shuffle", f.shuffle, "shuffle the examples every epoch (default)");
    cmd->add_flag("--no-shuffle", f.no_shuffle, "take batches in file order")->excludes(shuffle);
    cmd->add_option("--seed", o.seed, "shuffling seed")->capture_default_str();
}

void add_select_flags(CLI::App* cmd, SelectFlags& s) {
    cmd->add_option("--keep", s.keep, "fraction of target tokens to keep")->capture_default_str();
    cmd->add_option("--select", s.select, "global|sample|batch|threshold|positive|random")->capture_default_str();
    cmd->add_option("--threshold", s.threshold, "--select threshold: keep score > TAU")->capture_default_str();
    cmd->add_option("--select-seed", s.seed, "--select random: seed")->capture_default_str();
    cmd->add_option("--select-batch", s.batch_examples, "--select batch: examples per batch")->capture_default_str();
    cmd->add_flag("--keep-eos", s.keep_eos, "always keep the EOS that closes a response");
    cmd->add_option("--min-keep", s.min_keep, "keep at least this many tokens per example")->capture_default_str();
}

// The GPU verbs when `verb` runs on the GPU, else nullptr: --device cuda (an error where it
// cannot), --device cpu, or by default the GPU when this program has the GPU plugin, a device
// is present and the verb has a GPU path (train, score, eval, clean). Only a verb bound for
// the GPU loads the plugin, and without the NVIDIA driver the default does not even try.
#ifdef TOKCLEAN_WITH_CUDA_PLUGIN
const CudaVerbs* gpu_verbs(const GlobalFlags& g, const char* verb, bool has_gpu_path) {
    if (g.device == "cpu") return nullptr;
    if (!g.device.empty() && g.device != "cuda") fail("--device: expected cpu or cuda, got '", g.device, "'");
    std::string why;
    if (g.device.empty()) {
        if (!has_gpu_path || !cuda_driver_present()) return nullptr;
        const CudaVerbs* verbs = load_cuda_plugin(why);
        if (!verbs) log(g, "warning: " + why + "; running on the CPU");
        return verbs && verbs->available() ? verbs : nullptr;
    }
    if (!has_gpu_path) fail("--device cuda: '", verb, "' runs on the CPU only (use --device cpu)");
    const CudaVerbs* verbs = load_cuda_plugin(why);
    if (!verbs) fail("--device cuda: ", why);
    if (!verbs->available()) fail("--device cuda: no CUDA device is available (cudaGetDeviceCount)");
    return verbs;
}
#else
const void* gpu_verbs(const GlobalFlags& g, const char*, bool) {
    if (g.device.empty() || g.device == "cpu") return nullptr;
    if (g.device != "cuda") fail("--device: expected cpu or cuda, got '", g.device, "'");
    fail("--device cuda: this tokclean was built without the GPU backend (configure where nvcc, cuBLAS and cuDNN "
         "are found)");
}
#endif

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tokclean: token cleaning for supervised fine-tuning data"};
    app.require_subcommand(1);
    app.fallthrough();
    GlobalFlags g;
    app.add_flag("--quiet,-q", g.quiet, "no progress on stderr");
    app.add_option("--threads", g.threads, "CPU threads (default: OMP_NUM_THREADS or all cores)");
    app.add_option("--device", g.device,
                   "cpu|cuda (default: cuda for train, score, eval and clean when built with CUDA and a GPU is present)");
    app.add_option("--cuda-math", g.cuda_math, "products on the GPU: fp32|tf32|bf16")->capture_default_str();

    InitFlags init;
    auto* init_cmd = app.add_subcommand("init", "write a freshly initialised GPT-2 model directory");
    init_cmd->add_option("--out", init.out, "model directory to create")->required();
    init_cmd->add_option("--layers", init.layers, "transformer blocks")->capture_default_str();
    init_cmd->add_option("--heads", init.heads, "attention heads")->capture_default_str();
    init_cmd->add_option("--embd", init.embd, "embedding width")->capture_default_str();
    init_cmd->add_option("--positions", init.positions, "maximum sequence length")->capture_default_str();
    auto* tok_opt = init_cmd->add_option("--tokenizer", init.tokenizer,
                                         "'byte' (built in) or a directory with GPT-2 vocab.json + merges.txt or tokenizer.json")
                        ->capture_default_str();
    init_cmd->add_option("--vocab", init.vocab, "vocabulary size for pre-tokenized data (no tokenizer)")->excludes(tok_opt);
    init_cmd->add_option("--seed", init.seed, "initialisation seed")->capture_default_str();

    TrainFlags train_flags;
    auto* train_cmd = app.add_subcommand("train", "fine-tune a model (AdamW, mean loss over target tokens)");
    train_cmd->add_option("--model", train_flags.model, "model directory to start from")->required();
    add_data_flags(train_cmd, train_flags.data);
    train_cmd->add_option("--out", train_flags.out, "model directory to write")->required();
    add_train_flags(train_cmd, train_flags);
    train_cmd->add_option("--ref", train_flags.ref, "reference model: RHO-1's online selection (with --select batch)");
    train_cmd->add_option("--select", train_flags.select, "with --ref: batch");
    train_cmd->add_option("--keep", train_flags.keep, "with --ref: fraction of each batch's targets trained on")
        ->capture_default_str();
    train_cmd->add_option("--checkpoint-every", train_flags.checkpoint_every,
                          "save a checkpoint every N steps (0: only on SIGINT/SIGTERM)")->capture_default_str();
    train_cmd->add_option("--checkpoint-dir", train_flags.checkpoint_dir, "where checkpoints go (default: OUT.ckpt)");
    train_cmd->add_flag("--resume", train_flags.resume, "continue from the checkpoint of an interrupted run");

    ScoreFlags score_flags;
    auto* score_cmd = app.add_subcommand("score", "per-token losses of every example: {\"losses\": [null, ...]}");
    score_cmd->add_option("--model", score_flags.model, "model directory")->required();
    add_data_flags(score_cmd, score_flags.data);
    score_cmd->add_option("--out", score_flags.out, "JSONL output")->required();
    score_cmd->add_option("--batch-size", score_flags.batch_size, "examples per forward pass")->capture_default_str();

    TokenizeFlags tok_flags;
    auto* tok_cmd = app.add_subcommand("tokenize", "any input format -> {\"input_ids\", \"labels\"} per line");
    tok_cmd->add_option("--model", tok_flags.model, "model directory (its tokenizer)")->required();
    add_data_flags(tok_cmd, tok_flags.data);
    tok_cmd->add_option("--out", tok_flags.out, "JSONL output")->required();

    CleanFlags clean_flags;
    auto* clean_cmd = app.add_subcommand("clean", "score tokens with (base, reference), keep the informative ones");
    clean_cmd->add_option("--base", clean_flags.base, "base model directory")->required();
    clean_cmd->add_option("--ref", clean_flags.ref, "reference model directory (the base fine-tuned on a warm-up set)");
    add_data_flags(clean_cmd, clean_flags.data);
    clean_cmd->add_option("--out", clean_flags.out, "cleaned JSONL: dropped targets get label -100")->required();
    add_select_flags(clean_cmd, clean_flags.select);
    clean_cmd->add_option("--scorer", clean_flags.scorer, "delta (L_base - L_ref)|reverse|loss|entropy")->capture_default_str();
    clean_cmd->add_option("--batch-size", clean_flags.batch_size, "examples per forward pass")->capture_default_str();
    clean_cmd->add_flag("--with-scores", clean_flags.with_scores, "add \"scores\" (null where not scored)");

    EvolveFlags evolve_flags;
    auto* evolve_cmd = app.add_subcommand("evolve", "self-evolving cleaning: chunk by chunk, the reference keeps learning");
    evolve_cmd->add_option("--base", evolve_flags.base, "base model directory")->required();
    add_data_flags(evolve_cmd, evolve_flags.train.data);
    evolve_cmd->add_option("--out", evolve_flags.out, "final model directory (with cleaned.jsonl)")->required();
    evolve_cmd->add_option("--chunks", evolve_flags.chunks, "T + 1 chunks of the pool")->capture_default_str();
    add_select_flags(evolve_cmd, evolve_flags.select);
    add_train_flags(evolve_cmd, evolve_flags.train);
    evolve_cmd->add_option("--warmup", evolve_flags.warmup, "a warm-up model that replaces the chunk-0 step");
    evolve_cmd->add_option("--work", evolve_flags.work, "checkpoint directory (default: OUT.work); a rerun resumes");
    evolve_cmd->add_option("--score-batch-size", evolve_flags.score_batch_size, "examples per scoring pass")
        ->capture_default_str();
    evolve_cmd->add_flag("--with-scores", evolve_flags.with_scores, "add \"scores\" to cleaned.jsonl");

    EvalFlags eval_flags;
    auto* eval_cmd = app.add_subcommand("eval", "teacher-forced loss, token accuracy and exact match of the targets");
    eval_cmd->add_option("--model", eval_flags.model, "model directory")->required();
    add_data_flags(eval_cmd, eval_flags.data);
    eval_cmd->add_option("--batch-size", eval_flags.batch_size, "examples per forward pass")->capture_default_str();

    GenerateFlags gen_flags;
    auto* gen_cmd = app.add_subcommand("generate", "greedy continuation of a prompt");
    gen_cmd->add_option("--model", gen_flags.model, "model directory")->required();
    gen_cmd->add_option("--prompt", gen_flags.prompt, "prompt text")->required();
    gen_cmd->add_option("--max-new-tokens", gen_flags.max_new_tokens, "tokens to generate at most")->capture_default_str();

    ReportFlags report_flags;
    auto* report_cmd = app.add_subcommand("report", "an HTML page of a cleaned file: kept/dropped tokens coloured by score");
    report_cmd->add_option("--data", report_flags.data, "cleaned JSONL (tokclean clean --with-scores)")->required();
    report_cmd->add_option("--out", report_flags.out, "HTML file to write")->required();
    report_cmd->add_option("--model", report_flags.model, "model directory whose tokenizer shows the tokens as text");
    report_cmd->add_option("--max-examples", report_flags.max_examples, "examples shown token by token")->capture_default_str();
    report_cmd->add_option("--kinds", report_flags.kinds, "JSONL aligned with --data: {\"kinds\": \"PPBI...\"}, one letter per token");

    DemoFlags demo;
    auto* demo_cmd = app.add_subcommand("demo", "the paper's pipeline and its baselines on the shipped task");
    demo_cmd->add_option("--data", demo.data, "directory with the demo task")->capture_default_str();
    demo_cmd->add_option("--work", demo.work, "directory for the demo's outputs")->capture_default_str();
    demo_cmd->add_option("--seed", demo.seed, "seed of initialisation, shuffling and random selection")->capture_default_str();
    demo_cmd->add_option("--keep", demo.keep, "fraction of target tokens the selection arms keep")->capture_default_str();
    demo_cmd->add_option("--pretrain-epochs", demo.pretrain_epochs, "epochs of base pre-training")->capture_default_str();
    demo_cmd->add_option("--sft-epochs", demo.sft_epochs, "epochs of each SFT arm")->capture_default_str();
    demo_cmd->add_option("--warmup-epochs", demo.warmup_epochs, "epochs of the reference's warm-up")->capture_default_str();
    demo_cmd->add_option("--lr", demo.lr, "peak learning rate of the SFT arms and the warm-up")->capture_default_str();
    demo_cmd->add_option("--json", demo.json, "also write the results as JSON to this file");

    add_help_footers(app);
    CLI11_PARSE(app, argc, argv);
    try {
        set_cpu_threads(g.threads);
        // The GPU verbs when --device says so (or by default, see on_gpu); everything else on the CPU.
        CLI::App* const gpu_cmds[] = {train_cmd, score_cmd, eval_cmd, clean_cmd};
        const auto* verb = app.get_subcommands().front();
        const auto* gpu = gpu_verbs(g, verb->get_name().c_str(),
                                    std::find(std::begin(gpu_cmds), std::end(gpu_cmds), verb) != std::end(gpu_cmds));
#ifdef TOKCLEAN_WITH_CUDA_PLUGIN
        if (gpu) {
            gpu->set_math(g.cuda_math);
            if (*train_cmd) gpu->train(g, train_flags);
            else if (*score_cmd) gpu->score(g, score_flags);
            else if (*eval_cmd) gpu->eval(g, eval_flags);
            else if (*clean_cmd) gpu->clean(g, clean_flags);
            return 0;
        }
#endif
        (void)gpu;
        if (*init_cmd) run_init(g, init);
        else if (*train_cmd) run_train(g, train_flags);
        else if (*score_cmd) run_score(g, score_flags);
        else if (*tok_cmd) run_tokenize(g, tok_flags);
        else if (*clean_cmd) run_clean(g, clean_flags);
        else if (*evolve_cmd) run_evolve(g, evolve_flags);
        else if (*eval_cmd) run_eval(g, eval_flags);
        else if (*gen_cmd) run_generate(g, gen_flags);
        else if (*report_cmd) run_report(g, report_flags);
        else if (*demo_cmd) run_demo(g, demo);
    } catch (const Interrupted& e) {  // SIGINT/SIGTERM: what could be saved is saved
        std::cerr << "tokclean: interrupted: " << e.what() << '\n';
        return e.exit_code();
    } catch (const std::exception& e) {
        std::cerr << "tokclean: error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
