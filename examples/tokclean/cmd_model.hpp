#pragma once
// The model verbs: init, train (plain, or RHO-1 online with --ref), score, eval, generate.
#include <algorithm>
#include <span>

#include "common.hpp"
#include "tokclean/clean/rho1.hpp"
#include "tokclean/core/interrupt.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/file_hash.hpp"
#include "tokclean/io/number_format.hpp"
#include "tokclean/nn/gpt_init.hpp"
#include "tokclean/nn/scorer.hpp"
#include "tokclean/nn/train_checkpoint.hpp"
#include "tokclean/nn/trainer.hpp"

namespace tokclean::cli {

struct InitFlags {
    fs::path out;
    int layers = 4, heads = 4, embd = 256, positions = 256;
    std::string tokenizer = "byte";
    int vocab = 0;
    std::uint64_t seed = 0;
};

inline void run_init(const GlobalFlags& g, const InitFlags& f) {
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
        std::error_code ec;
        if (!fs::exists(f.tokenizer, ec))
            fail("--tokenizer: ", f.tokenizer, ": no such file or directory (expected 'byte', or a directory with "
                 "GPT-2's vocab.json + merges.txt or tokenizer.json)");
        const fs::path src = fs::is_directory(f.tokenizer) ? fs::path(f.tokenizer) : fs::path(f.tokenizer).parent_path();
        const Gpt2Bpe bpe = Gpt2Bpe::from_model_dir(src);
        c.tokenizer = "gpt2-bpe";
        c.vocab_size = static_cast<int>(bpe.vocab_size());
        c.eos_token_id = bpe.eos_id();
        tokenizer_copy = tokenizer_files(src);
    }
    c.validate("--out " + f.out.string());
    const GptParams<Cpu> params = gpt_init(c, f.seed);
    save_model_dir(f.out, c, params, tokenizer_copy);
    log(g, "initialised " + f.out.string() + ": " + std::to_string(params.numel()) + " parameters");
    std::cout << "{\"model\": " << quoted(f.out.string()) << ", \"parameters\": " << params.numel() << "}\n";
}

struct TrainFlags {
    fs::path model, out, ref;
    DataFlags data;
    TrainOptions options;
    std::string schedule = "linear";
    bool no_shuffle = false;
    bool shuffle = false;  // --shuffle: the default, accepted so scripts can say it
    std::string select;  // with --ref: "batch" (RHO-1)
    double keep = 0.6;
    std::int64_t checkpoint_every = 0;  // steps between checkpoints; 0: only on SIGINT/SIGTERM
    fs::path checkpoint_dir;            // default: OUT.ckpt
    bool resume = false;
};

inline void finish_train_options(TrainFlags& f) {
    f.options.schedule = parse_schedule(f.schedule);
    f.options.shuffle = !f.no_shuffle;
}

// "step 12/200, loss 2.3456, lr 0.0001000" for progress.
inline std::string step_detail(const TrainStep& s) { return "loss " + fixed(s.loss, 4) + ", lr " + fixed(s.lr, 7); }

// A model directory's fingerprint: its config.json and weights.
inline std::string model_fingerprint(const fs::path& dir) {
    return hex64(file_hash(dir / std::string(weights_file_name), file_hash(dir / std::string(config_file_name))));
}

// What a train run depends on, for its checkpoints: a checkpoint only continues the same run.
inline nlohmann::json train_settings(const TrainFlags& f) {
    const auto& o = f.options;
    return {{"--model", model_fingerprint(f.model)},
            {"--data", hex64(file_hash(f.data.data))},
            {"--ref", f.ref.empty() ? std::string() : model_fingerprint(f.ref)},
            {"--select", f.select}, {"--keep", f.keep}, {"--epochs", o.epochs}, {"--steps", o.steps},
            {"--batch-size", o.batch_size}, {"--lr", o.lr}, {"--schedule", f.schedule},
            {"--warmup-ratio", o.warmup_ratio}, {"--weight-decay", o.weight_decay}, {"--grad-clip", o.grad_clip},
            {"--shuffle", o.shuffle}, {"--seed", o.seed}, {"--seq-len", f.data.seq_len}, {"--strict", f.data.strict}};
}

inline fs::path train_checkpoint_dir(const TrainFlags& f) {
    if (!f.checkpoint_dir.empty()) return f.checkpoint_dir;
    fs::path out = f.out;
    if (out.filename().empty()) out = out.parent_path();  // "out/"
    return fs::path(out.string() + ".ckpt");
}

// Fine-tunes --model on --data into --out. With --checkpoint-every N the run saves a
// checkpoint (weights, AdamW moments, step, data position, shuffling RNG) every N steps, and
// always on SIGINT/SIGTERM, into --checkpoint-dir (default OUT.ckpt), then exits with 128 +
// the signal; --resume continues from it and ends with the same model, bit for bit, as an
// uninterrupted run. The checkpoint is removed once OUT is written. D: the device it runs on.
template <class D = Cpu>
TrainReport run_train(const GlobalFlags& g, TrainFlags f) {
    if (f.checkpoint_every < 0) fail("--checkpoint-every: expected a non-negative number of steps, got ", f.checkpoint_every);
    CliModel m = load_cli_model(f.model);
    const std::vector<Example> data = load_data(g, f.data, m.config, m.tokenizer);
    require_targets(f.data.data, data);
    finish_train_options(f);
    std::optional<Gpt<D>> ref;
    if (!f.ref.empty()) {  // RHO-1: excess loss against a fixed reference, top-k per batch
        if (f.select != "batch")
            fail("--ref: online selection supports --select batch (RHO-1's rule), got '", f.select, "'");
        LoadedModel r = load_model_dir(f.ref);
        require_same_shape(f.model, m.config, f.ref, r.config, "reference model");
        ref.emplace(r.config, params_on<D>(std::move(r.params)));
        f.options.weighter = rho1_weighter(*ref, f.keep);
    } else if (!f.select.empty()) {
        fail("--select with train needs --ref DIR (RHO-1's online rule)");
    }
    Gpt<D> model(m.config, params_on<D>(std::move(m.params)));
    Trainer<D> trainer(model, std::span<const Example>(data), f.options);

    TrainCheckpoint checkpoint(train_checkpoint_dir(f), train_settings(f));
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

    const InterruptScope interrupts;
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
    save_model_dir(f.out, model.config(), params_on_host(model.params()), tokenizer_files(f.model));
    checkpoint.remove();
    std::cout << "{\"model\": " << quoted(f.out.string()) << ", \"steps\": " << report.steps
              << ", \"first_loss\": " << report.first_loss << ", \"last_loss\": " << report.last_loss
              << ", \"seconds\": " << fixed(report.seconds, 3) << ", \"tokens_per_s\": "
              << fixed(static_cast<double>(report.tokens) / std::max(report.seconds, 1e-9), 1) << "}\n";
    return report;
}

struct ScoreFlags {
    fs::path model, out;
    DataFlags data;
    std::int64_t batch_size = 8;
};

template <class D = Cpu>
double run_score(const GlobalFlags& g, const ScoreFlags& f) {
    CliModel m = load_cli_model(f.model);
    const std::vector<Example> data = load_data(g, f.data, m.config, m.tokenizer);
    Gpt<D> model(m.config, params_on<D>(std::move(m.params)));
    AtomicFile out(f.out);
    std::string line;
    double sum = 0.0;
    std::int64_t targets = 0, tokens = 0;
    Progress progress("score", static_cast<std::int64_t>(data.size()), "examples", progress_mode(g));
    score_examples(model, std::span<const Example>(data), f.batch_size, [&](std::size_t i, std::span<const float> losses) {
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
    });
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
    fs::path model;
    DataFlags data;
    std::int64_t batch_size = 8;
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
EvalResult evaluate_examples(Gpt<D>& model, const std::vector<Example>& data, std::int64_t batch_size) {
    if (batch_size <= 0) fail("--batch-size: expected a positive integer, got ", batch_size);
    double loss_sum = 0.0, sampled = 0.0;
    std::int64_t correct = 0, exact = 0;
    EvalResult r;
    std::vector<std::size_t> indices;
    for (std::size_t first = 0; first < data.size(); first += static_cast<std::size_t>(batch_size)) {
        indices.clear();
        for (std::size_t i = first; i < std::min(data.size(), first + static_cast<std::size_t>(batch_size)); ++i)
            indices.push_back(i);
        const Batch batch = make_batch(data, indices);
        const std::int64_t B = batch.batch_size(), T = batch.seq_len();
        model.forward(batch.input_ids.data(), batch.labels.data(), B, T);
        const auto losses = model.token_losses();
        const auto argmax = model.target_argmax();
        for (std::int64_t b = 0; b < B; ++b) {
            std::int64_t n = 0, ok = 0;
            double example_loss = 0.0;
            for (std::int64_t j = 0; j < T; ++j) {
                const auto slot = static_cast<std::size_t>(b * T + j);
                if (std::isnan(losses[slot])) continue;
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
    }
    if (r.tokens == 0) return r;
    r.loss = loss_sum / static_cast<double>(r.tokens);
    r.token_accuracy = static_cast<double>(correct) / static_cast<double>(r.tokens);
    r.exact_match = static_cast<double>(exact) / static_cast<double>(r.examples);
    r.sampled_exact_match = sampled / static_cast<double>(r.examples);
    return r;
}

template <class D = Cpu>
EvalResult run_eval(const GlobalFlags& g, const EvalFlags& f, bool print = true) {
    CliModel m = load_cli_model(f.model);
    const std::vector<Example> data = load_data(g, f.data, m.config, m.tokenizer);
    Gpt<D> model(m.config, params_on<D>(std::move(m.params)));
    const EvalResult r = evaluate_examples(model, data, f.batch_size);
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
    fs::path model;
    std::string prompt;
    std::int64_t max_new_tokens = 64;
};

// Greedy decoding until EOS or max_new_tokens; the context keeps the last n_positions tokens.
inline void run_generate(const GlobalFlags&, const GenerateFlags& f) {
    CliModel m = load_cli_model(f.model);
    if (!m.tokenizer) fail(f.model.string(), ": the model has no tokenizer, so it cannot read a text prompt");
    const TokenizerRef tok = m.tokenizer.ref();
    Gpt<Cpu> model(m.config, std::move(m.params));
    std::vector<std::int32_t> ids = tok.encode(f.prompt);
    if (ids.empty()) ids.push_back(m.config.eos_token_id);  // an empty prompt starts from EOS
    std::vector<std::int32_t> generated;
    for (std::int64_t step = 0; step < f.max_new_tokens; ++step) {
        // The context plus one placeholder whose label asks for the logits of the last position.
        const std::int64_t keep = std::min<std::int64_t>(static_cast<std::int64_t>(ids.size()), m.config.n_positions - 1);
        std::vector<std::int32_t> input(ids.end() - keep, ids.end());
        input.push_back(0);
        std::vector<std::int32_t> labels(input.size(), ignore_label);
        labels.back() = 0;
        const auto T = static_cast<std::int64_t>(input.size());
        model.forward(input.data(), labels.data(), 1, T);
        const std::int32_t next = model.target_argmax()[static_cast<std::size_t>(T - 1)];
        if (next == m.config.eos_token_id) break;
        ids.push_back(next);
        generated.push_back(next);
    }
    std::cout << "{\"completion\": " << quoted(tok.decode(generated)) << ", \"tokens\": " << generated.size() << "}\n";
}

}  // namespace tokclean::cli
