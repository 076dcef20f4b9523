// The tokclean command-line program. Each verb is a thin layer over the library: parse the
// flags, load, call, write atomically. Errors are one line on stderr and a non-zero exit.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "tokclean/core/threads.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/number_format.hpp"
#include "tokclean/nn/checkpoint.hpp"
#include "tokclean/nn/gpt_init.hpp"
#include "tokclean/nn/scorer.hpp"
#include "tokclean/nn/trainer.hpp"

namespace fs = std::filesystem;
using namespace tokclean;

namespace {

struct GlobalFlags {
    bool quiet = false;
    int threads = 0;
};

struct InitFlags {
    fs::path out;
    int layers = 4, heads = 4, embd = 256, positions = 256;
    std::string tokenizer = "byte";
    int vocab = 0;
    std::uint64_t seed = 0;
};

struct DataFlags {
    fs::path data;
    std::int64_t seq_len = 0;  // 0: the model's n_positions
    bool strict = false;
};

struct TrainFlags {
    fs::path model, out;
    DataFlags data;
    TrainOptions options;
    std::string schedule = "linear";
    bool no_shuffle = false;
};

struct ScoreFlags {
    fs::path model, out;
    DataFlags data;
    std::int64_t batch_size = 8;
};

struct DemoFlags {
    fs::path data = TOKCLEAN_DEMO_DATA;
    fs::path work = "tokclean-demo";
    std::int64_t steps = 300;
};

void log(const GlobalFlags& g, const std::string& line) {
    if (!g.quiet) std::cerr << line << '\n';
}

std::string fixed(double x, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, x);
    return buf;
}

// Reads a data file for `config`, truncating (or, with --strict, rejecting) examples longer
// than --seq-len, and reports truncation once.
std::vector<Example> load_data(const GlobalFlags& g, const DataFlags& f, const GptConfig& config) {
    const std::int64_t max_len = f.seq_len > 0 ? f.seq_len : config.n_positions;
    if (max_len > config.n_positions)
        fail("--seq-len: ", max_len, " exceeds the model's n_positions = ", config.n_positions);
    std::optional<ByteTokenizer> bytes;
    if (config.tokenizer == "byte") bytes.emplace(config.eos_token_id);
    ReadOptions ro;
    ro.vocab_size = config.vocab_size;
    ro.max_len = static_cast<std::size_t>(max_len);
    ro.strict = f.strict;
    if (bytes) ro.tokenizer = &*bytes;
    ReadResult r = read_examples(f.data, ro);
    if (r.truncated > 0)
        log(g, "warning: " + f.data.string() + ": " + std::to_string(r.truncated) +
                   " example(s) longer than " + std::to_string(max_len) +
                   " tokens were truncated (--strict rejects them)");
    return std::move(r.examples);
}

void run_init(const GlobalFlags& g, const InitFlags& f) {
    GptConfig c;
    c.n_layer = f.layers;
    c.n_head = f.heads;
    c.n_embd = f.embd;
    c.n_positions = f.positions;
    if (f.vocab > 0) {  // --vocab: no tokenizer, pre-tokenized data only
        c.tokenizer = "";
        c.vocab_size = f.vocab;
        c.eos_token_id = f.vocab - 1;
    } else if (f.tokenizer == "byte") {
        c.tokenizer = "byte";
        c.vocab_size = 257;
        c.eos_token_id = 256;
    } else {
        fail("--tokenizer: '", f.tokenizer,
             "': only the built-in 'byte' tokenizer is available in this version");
    }
    c.validate("--out " + f.out.string());
    const GptParams<Cpu> params = gpt_init(c, f.seed);
    save_model_dir(f.out, c, params);
    log(g, "initialised " + f.out.string() + ": " + std::to_string(params.numel()) + " parameters");
    std::cout << "{\"model\": \"" << f.out.string() << "\", \"parameters\": " << params.numel() << "}\n";
}

TrainReport run_train(const GlobalFlags& g, TrainFlags f) {
    LoadedModel m = load_model_dir(f.model);
    const std::vector<Example> data = load_data(g, f.data, m.config);
    f.options.schedule = parse_schedule(f.schedule);
    f.options.shuffle = !f.no_shuffle;
    Gpt<Cpu> model(m.config, std::move(m.params));
    const auto report = train(model, std::span<const Example>(data), f.options, [&](const TrainStep& s) {
        const std::int64_t every = std::max<std::int64_t>(1, s.total_steps / 20);
        if (s.step % every == 0 || s.step == s.total_steps || s.step == 1)
            log(g, "step " + std::to_string(s.step) + "/" + std::to_string(s.total_steps) +
                       "  loss " + fixed(s.loss, 4) + "  lr " + fixed(s.lr, 7) + "  " +
                       fixed(static_cast<double>(s.tokens) / s.seconds, 0) + " tok/s");
    });
    save_model_dir(f.out, model.config(), model.params(), tokenizer_files(f.model));
    std::cout << "{\"model\": \"" << f.out.string() << "\", \"steps\": " << report.steps
              << ", \"first_loss\": " << report.first_loss << ", \"last_loss\": " << report.last_loss
              << ", \"seconds\": " << fixed(report.seconds, 3) << ", \"tokens_per_s\": "
              << fixed(static_cast<double>(report.tokens) / report.seconds, 1) << "}\n";
    return report;
}

double run_score(const GlobalFlags& g, const ScoreFlags& f) {
    LoadedModel m = load_model_dir(f.model);
    const std::vector<Example> data = load_data(g, f.data, m.config);
    Gpt<Cpu> model(m.config, std::move(m.params));
    AtomicFile out(f.out);
    std::string line;
    double sum = 0.0;
    std::int64_t targets = 0;
    score_examples(model, std::span<const Example>(data), f.batch_size,
                   [&](std::size_t, std::span<const float> losses) {
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
                   });
    out.commit();
    const double mean = targets ? sum / static_cast<double>(targets) : 0.0;
    log(g, "scored " + std::to_string(data.size()) + " examples, " + std::to_string(targets) +
               " target tokens, mean loss " + fixed(mean, 4) + " -> " + f.out.string());
    std::cout << "{\"out\": \"" << f.out.string() << "\", \"examples\": " << data.size()
              << ", \"tokens\": " << targets << ", \"mean_loss\": " << fixed(mean, 6) << "}\n";
    return mean;
}

// The short pipeline on shipped data: a fresh byte-level model, scored, trained, scored again.
void run_demo(const GlobalFlags& g, const DemoFlags& f) {
    if (!fs::exists(f.data)) fail(f.data.string(), ": demo data not found (pass --data FILE)");
    fs::create_directories(f.work);
    InitFlags init;
    init.out = f.work / "base";
    init.layers = 2;
    init.heads = 4;
    init.embd = 128;
    init.positions = 128;
    init.seed = 1;
    log(g, "[1/4] init a byte-level GPT-2 (2 layers, d 128) -> " + init.out.string());
    run_init(g, init);

    ScoreFlags score;
    score.model = init.out;
    score.data.data = f.data;
    score.out = f.work / "losses_before.jsonl";
    log(g, "[2/4] score the demo data with the untrained model");
    const double before = run_score(g, score);

    TrainFlags tr;
    tr.model = init.out;
    tr.out = f.work / "trained";
    tr.data.data = f.data;
    tr.options.steps = f.steps;
    tr.options.batch_size = 16;
    tr.options.lr = 3e-3;
    tr.schedule = "cosine";
    tr.options.warmup_ratio = 0.05;
    tr.options.seed = 1;
    log(g, "[3/4] train " + std::to_string(f.steps) + " steps -> " + tr.out.string());
    run_train(g, tr);

    score.model = tr.out;
    score.out = f.work / "losses_after.jsonl";
    log(g, "[4/4] score again with the trained model");
    const double after = run_score(g, score);
    std::cerr << "demo: mean per-token loss " << fixed(before, 3) << " -> " << fixed(after, 3)
              << " (uniform guess: " << fixed(std::log(257.0), 3) << "); outputs in "
              << f.work.string() << "\n";
}

void add_data_flags(CLI::App* cmd, DataFlags& d) {
    cmd->add_option("--data", d.data, "JSONL: {\"text\"} or {\"input_ids\", \"labels\"} per line")
        ->required();
    cmd->add_option("--seq-len", d.seq_len, "maximum tokens per example (default: n_positions)");
    cmd->add_flag("--strict", d.strict, "reject over-long examples instead of truncating them");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tokclean: token cleaning for supervised fine-tuning data"};
    app.require_subcommand(1);
    GlobalFlags g;
    app.add_flag("--quiet,-q", g.quiet, "no progress on stderr");
    app.add_option("--threads", g.threads, "CPU threads (default: OMP_NUM_THREADS or all cores)");

    InitFlags init;
    auto* init_cmd = app.add_subcommand("init", "write a freshly initialised GPT-2 model directory");
    init_cmd->add_option("--out", init.out, "model directory to create")->required();
    init_cmd->add_option("--layers", init.layers, "transformer blocks")->capture_default_str();
    init_cmd->add_option("--heads", init.heads, "attention heads")->capture_default_str();
    init_cmd->add_option("--embd", init.embd, "embedding width")->capture_default_str();
    init_cmd->add_option("--positions", init.positions, "maximum sequence length")->capture_default_str();
    auto* tok_opt = init_cmd->add_option("--tokenizer", init.tokenizer, "'byte' (built in)")->capture_default_str();
    init_cmd->add_option("--vocab", init.vocab, "vocabulary size for pre-tokenized data (no tokenizer)")
        ->excludes(tok_opt);
    init_cmd->add_option("--seed", init.seed, "initialisation seed")->capture_default_str();

    TrainFlags train_flags;
    auto* train_cmd = app.add_subcommand("train", "fine-tune a model (AdamW, mean loss over target tokens)");
    train_cmd->add_option("--model", train_flags.model, "model directory to start from")->required();
    add_data_flags(train_cmd, train_flags.data);
    train_cmd->add_option("--out", train_flags.out, "model directory to write")->required();
    auto& o = train_flags.options;
    auto* epochs = train_cmd->add_option("--epochs", o.epochs, "passes over the data")->capture_default_str();
    train_cmd->add_option("--steps", o.steps, "optimizer steps (instead of --epochs)")->excludes(epochs);
    train_cmd->add_option("--batch-size", o.batch_size, "examples per step")->capture_default_str();
    train_cmd->add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
    train_cmd->add_option("--schedule", train_flags.schedule, "constant|linear|cosine")->capture_default_str();
    train_cmd->add_option("--warmup-ratio", o.warmup_ratio, "share of steps warming up linearly from 0")->capture_default_str();
    train_cmd->add_option("--weight-decay", o.weight_decay, "decoupled weight decay (all parameters)")->capture_default_str();
    train_cmd->add_option("--grad-clip", o.grad_clip, "global gradient-norm limit (0: off)")->capture_default_str();
    bool shuffle_flag = false;  // the default; the flag exists for explicit scripts
    auto* shuffle = train_cmd->add_flag("--shuffle", shuffle_flag, "shuffle the examples every epoch (default)");
    train_cmd->add_flag("--no-shuffle", train_flags.no_shuffle, "take batches in file order")->excludes(shuffle);
    train_cmd->add_option("--seed", o.seed, "shuffling seed")->capture_default_str();

    ScoreFlags score_flags;
    auto* score_cmd = app.add_subcommand("score", "per-token losses of every example: {\"losses\": [null, ...]}");
    score_cmd->add_option("--model", score_flags.model, "model directory")->required();
    add_data_flags(score_cmd, score_flags.data);
    score_cmd->add_option("--out", score_flags.out, "JSONL output")->required();
    score_cmd->add_option("--batch-size", score_flags.batch_size, "examples per forward pass")->capture_default_str();

    DemoFlags demo;
    auto* demo_cmd = app.add_subcommand("demo", "the pipeline on shipped data: init, score, train, score");
    demo_cmd->add_option("--data", demo.data, "demo data")->capture_default_str();
    demo_cmd->add_option("--work", demo.work, "directory for the demo's outputs")->capture_default_str();
    demo_cmd->add_option("--steps", demo.steps, "training steps")->capture_default_str();

    CLI11_PARSE(app, argc, argv);
    try {
        set_cpu_threads(g.threads);
        if (*init_cmd) run_init(g, init);
        else if (*train_cmd) run_train(g, train_flags);
        else if (*score_cmd) run_score(g, score_flags);
        else if (*demo_cmd) run_demo(g, demo);
    } catch (const Error& e) {
        std::cerr << "tokclean: error: " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "tokclean: error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
