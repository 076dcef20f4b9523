#pragma once
// The cleaning verbs: tokenize (any format to pre-tokenized), clean (fixed reference or a
// single-model scorer), evolve (self-evolving reference, resumable).
#include <limits>

#include "cmd_model.hpp"
#include "common.hpp"
#include "tokclean/clean/any_threshold.hpp"
#include "tokclean/clean/auto_threshold.hpp"
#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/reselect.hpp"
#include "tokclean/clean/self_evolving.hpp"
#include "tokclean/clean/threshold_policies.hpp"

namespace tokclean::cli {

struct TokenizeFlags {
    fs::path model, out;
    DataFlags data;

    static constexpr VerbHelp help{"tokenize", "any input format -> {\"input_ids\", \"labels\"} per line",
        "\nExample:\n  tokclean tokenize --model base --data chat.jsonl --out tokens.jsonl\n"
        "Writes {\"input_ids\", \"labels\"} per example, the form every other verb and Hugging Face trainers read.\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--model", f.model, "model directory (its tokenizer)", required);
        DataFlags::each_flag(f.data, v);
        v.option("--out", f.out, "JSONL output", required);
    }
};

inline void run_tokenize(const GlobalFlags& g, TokenizeFlags f) {
    check_paths({{"--model", f.model}, {"--data", f.data.data}}, {{"--out", f.out}});
    const InterruptScope interrupts;
    AtomicFile out(f.out);
    const OpenedModel m = load_cli_model(g, f.model);
    const std::vector<Example> data = load_data(g, f.data, m, /*limit_to_model=*/false);
    std::int64_t targets = 0;
    for (const auto& ex : data) {
        stop_if_interrupted("tokenize");
        out.write(cleaned_jsonl_line(ex, {}, false));
        targets += ex.num_targets();
    }
    out.commit();
    std::cout << "{\"out\": " << quoted(f.out.string()) << ", \"examples\": " << data.size()
              << ", \"targets\": " << targets << "}\n";
}

// --select, --keep, --threshold and the guards, turned into one Threshold policy.
struct SelectFlags {
    std::string select = "global";
    double keep = 0.6;
    double threshold = 0.0;
    std::uint64_t seed = 0;
    bool keep_eos = false;
    std::int64_t min_keep = 0;
    std::int64_t batch_examples = 8;  // --select batch: examples per batch
    std::string auto_rule = "otsu";  // --select auto: how tau is chosen from the scores

    template <class Self, class V>
    static void each_flag(Self& s, V& v) {
        v.option("--keep", s.keep, "fraction of target tokens to keep", fraction(), Resume::match);
        v.option("--select", s.select, "global|sample|batch|threshold|positive|random|auto",
                 one_of({"global", "sample", "batch", "threshold", "positive", "random", "auto"}), Resume::match);
        v.option("--threshold", s.threshold, "--select threshold: keep score > TAU", finite_number(), Resume::match);
        v.option("--select-seed", s.seed, "--select random: seed", Resume::match);
        v.option("--select-batch", s.batch_examples, "--select batch: examples per batch", positive_integer(),
                 Resume::match);
        v.option("--auto-rule", s.auto_rule, "--select auto: how tau is chosen from the scores (otsu|mixture)",
                 one_of({"otsu", "mixture"}), Resume::match);
        v.flag("--keep-eos", s.keep_eos, "always keep the EOS that closes a response", Resume::match);
        v.option("--min-keep", s.min_keep, "keep at least this many tokens per example", non_negative_integer(),
                 Resume::match);
    }
};

// on_choice: told what --select auto chose, at each selection (a pool, or each chunk).
inline AnyThreshold make_threshold(const SelectFlags& f, std::function<void(const AutoChoice&)> on_choice = {}) {
    keep_count(0, f.keep);  // validates --keep
    AnyThreshold policy = [&]() -> AnyThreshold {
        if (f.select == "auto") return AutoThreshold{parse_auto_rule(f.auto_rule), std::move(on_choice)};
        if (f.select == "global") return GlobalTopK{f.keep};
        if (f.select == "sample") return SampleTopK{f.keep};
        if (f.select == "batch") return BatchTopK{f.keep, static_cast<std::size_t>(f.batch_examples)};
        if (f.select == "threshold") return AbsoluteThreshold{f.threshold};
        if (f.select == "positive") return PositiveTopK{f.keep};
        if (f.select == "random") return RandomSelect{f.keep, f.seed};
        fail("--select: expected global, sample, batch, threshold, positive, random or auto, got '", f.select, "'");
    }();
    if (f.min_keep < 0) fail("--min-keep: expected a non-negative integer, got ", f.min_keep);
    if (f.min_keep > 0) policy = MinPerExample<AnyThreshold>{policy, f.min_keep};
    if (f.keep_eos) policy = KeepEos<AnyThreshold>{policy};
    return policy;
}

// A log line for each choice --select auto makes; `last` keeps the latest for the summary.
inline std::function<void(const AutoChoice&)> log_auto_choice(const GlobalFlags& g, const SelectFlags& f,
                                                              std::optional<AutoChoice>& last) {
    if (f.select != "auto") return {};
    return [&g, &f, &last](const AutoChoice& c) {
        last = c;
        log(g, "--select auto (" + f.auto_rule + "): tau = " + (std::isinf(c.tau) ? std::string("inf (nothing stands out from the noise)") : fixed(c.tau, 6)) +
                   ", kept " + std::to_string(c.kept) + " of " + std::to_string(c.total) + " (" +
                   fixed(100.0 * c.kept_fraction(), 2) + "%)");
    };
}

inline void write_cleaned(AtomicFile& out, const std::vector<const CleanedSet*>& sets, bool with_scores) {
    for (const CleanedSet* s : sets)
        for (std::size_t i = 0; i < s->examples.size(); ++i)
            out.write(cleaned_jsonl_line(s->examples[i], s->scores[i], with_scores));
    out.commit();
}
inline void write_cleaned(const fs::path& path, const std::vector<const CleanedSet*>& sets, bool with_scores) {
    AtomicFile out(path);
    write_cleaned(out, sets, with_scores);
}

// The result line on stdout; with --select auto, the tau it chose ("tau": null: none, nothing kept).
inline void print_clean_summary(const fs::path& out, std::int64_t examples, std::int64_t targets, std::int64_t kept,
                                const std::optional<AutoChoice>& choice = {}) {
    std::cout << "{\"out\": " << quoted(out.string()) << ", \"examples\": " << examples << ", \"targets\": " << targets
              << ", \"kept\": " << kept << ", \"kept_fraction\": "
              << fixed(targets ? static_cast<double>(kept) / static_cast<double>(targets) : 0.0, 6);
    if (choice) std::cout << ", \"tau\": " << (std::isinf(choice->tau) ? std::string("null") : significant(choice->tau, 9));  // float round-trip
    std::cout << "}\n";
}

struct CleanFlags {
    fs::path base, ref, out;
    DataFlags data;
    SelectFlags select;
    std::string scorer = "delta";
    std::int64_t batch_size = 8;
    bool with_scores = false;
    std::string dtype = "fp32";

    static constexpr VerbHelp help{"clean", "score tokens with (base, reference), keep the informative ones",
        "\nExample:\n  tokclean clean --base base --ref warmed-up --data pool.jsonl --out cleaned.jsonl --keep 0.6\n"
        "Scores each target token by L_base - L_ref and keeps the best; dropped targets get label -100 (the\n"
        "tokens stay in input_ids). --ref must have the base model's shape and tokenizer.\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--base", f.base, "base model directory", required);
        v.option("--ref", f.ref, "reference model directory (the base fine-tuned on a warm-up set)");
        DataFlags::each_flag(f.data, v);
        v.option("--out", f.out, "cleaned JSONL: dropped targets get label -100", required);
        SelectFlags::each_flag(f.select, v);
        v.option("--scorer", f.scorer, "delta (L_base - L_ref)|reverse|loss|entropy",
                 one_of({"delta", "reverse", "loss", "entropy"}));
        v.option("--batch-size", f.batch_size, batch_size_help, non_negative_integer());
        v.flag("--with-scores", f.with_scores, "add \"scores\" (null where not scored)");
        dtype_flag(f.dtype, v);
    }
};

template <class D, Scorer S, class R>
CleanedSet clean_with(S scorer, R reference, const CleanFlags& f, CausalLm<D>& base, std::span<const Example> pool,
                      Progress& progress, std::function<void(const AutoChoice&)> on_choice) {
    TokenCleaner<D, S, AnyThreshold, R> cleaner(scorer, make_threshold(f.select, std::move(on_choice)), std::move(reference),
                                                f.batch_size);
    cleaner.set_progress([&](std::size_t done, std::size_t, std::int64_t tokens) {
        stop_if_interrupted("clean");
        progress.update(static_cast<std::int64_t>(done), tokens);
    });
    CleanedSet result;
    cleaner.run(base, pool, [&](std::size_t, const CleanedSet& c) { result = c; });
    return result;
}

template <class D = Cpu>
void run_clean(const GlobalFlags& g, CleanFlags f) {
    check_paths({{"--base", f.base}, {"--ref", f.ref}, {"--data", f.data.data}}, {{"--out", f.out}});
    const InterruptScope interrupts;
    AtomicFile out(f.out);
    OpenedModel b = load_cli_model(g, f.base);
    use_dtype(b, f.dtype);
    const std::vector<Example> pool = load_data(g, f.data, b);
    const std::unique_ptr<CausalLm<D>> base = b.take_model<D>();
    const bool two_models = f.scorer == "delta" || f.scorer == "reverse";
    if (two_models == f.ref.empty())
        fail(two_models ? "--ref: the '" + f.scorer + "' scorer compares two models; give --ref DIR"
                        : "--ref: the '" + f.scorer + "' scorer uses the base model alone; drop --ref");
    std::unique_ptr<CausalLm<D>> ref;
    if (two_models) ref = load_second_model(f.base, *base, f.ref, "reference model");
    // The two models score one after the other: the larger working memory counts.
    f.batch_size = scoring_batch_size<D>(g, *base, f.batch_size, longest_example(pool));
    require_host_memory<D>(scoring_memory(*base, f.batch_size, longest_example(pool)), "clean",
                           "lower --batch-size or --seq-len");
    log(g, "scoring " + std::to_string(pool.size()) + " examples with the " + f.scorer + " scorer, selecting with --select " +
               f.select.select);
    CleanedSet cleaned;
    Progress progress("clean: scoring", static_cast<std::int64_t>(pool.size()), "examples", progress_mode(g));
    std::optional<AutoChoice> choice;
    const auto on_choice = log_auto_choice(g, f.select, choice);
    if (f.scorer == "delta")
        cleaned = clean_with(LossDelta{}, FixedReference<D>{ref.get()}, f, *base, pool, progress, on_choice);
    else if (f.scorer == "reverse")
        cleaned = clean_with(ReverseLossDelta{}, FixedReference<D>{ref.get()}, f, *base, pool, progress, on_choice);
    else if (f.scorer == "loss") cleaned = clean_with(BaseLoss{}, NoReference<D>{}, f, *base, pool, progress, on_choice);
    else if (f.scorer == "entropy")
        cleaned = clean_with(BaseEntropy{}, NoReference<D>{}, f, *base, pool, progress, on_choice);
    else fail("--scorer: expected delta, reverse, loss or entropy, got '", f.scorer, "'");
    progress.finish();
    write_cleaned(out, {&cleaned}, f.with_scores);
    log(g, "kept " + std::to_string(cleaned.kept) + " of " + std::to_string(cleaned.targets) + " target tokens -> " +
               f.out.string());
    print_clean_summary(f.out, static_cast<std::int64_t>(pool.size()), cleaned.targets, cleaned.kept, choice);
}

// `tokclean select`: another selection from the scores a cleaned file records.
struct SelectVerbFlags {
    fs::path data, out, model;
    SelectFlags select;
    bool with_scores = false;

    static constexpr VerbHelp help{"select", "select again from the scores of a cleaned file, without a model",
        "\nExample:\n  tokclean clean --base base --ref warmed-up --data pool.jsonl --out scored.jsonl --with-scores\n"
        "  tokclean select --data scored.jsonl --out keep30.jsonl --keep 0.3\n"
        "Applies any --select policy to the scores `clean --with-scores` recorded: the same output as `clean` with\n"
        "that policy, in seconds. Dropped targets get their labels back from input_ids first. --keep-eos needs\n"
        "--model (its eos_token_id); --model also checks the token ids against its vocabulary.\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--data", f.data, "a cleaned JSONL with scores (clean --with-scores)", required);
        v.option("--out", f.out, "cleaned JSONL: dropped targets get label -100", required);
        v.option("--model", f.model, "model directory (its eos_token_id and vocab_size)");
        SelectFlags::each_flag(f.select, v);
        v.flag("--with-scores", f.with_scores, "keep \"scores\" in the output (to select from it again)");
    }
};

inline void run_select(const GlobalFlags& g, const SelectVerbFlags& f) {
    check_paths({{"--data", f.data}, {"--model", f.model}}, {{"--out", f.out}});
    const InterruptScope interrupts;
    AtomicFile out(f.out);
    std::int32_t vocab = std::numeric_limits<std::int32_t>::max(), eos = -1;
    if (!f.model.empty()) {
        const ModelInfo info = read_model_info(f.model);
        vocab = info.vocab_size;
        eos = info.eos_token_id;
    } else if (f.select.keep_eos) {
        fail("--keep-eos: select needs --model DIR to know which token is EOS");
    }
    const CleanedSet scored = read_cleaned_file(f.data, vocab);
    if (scored.examples.empty()) fail(f.data.string(), ": no examples (the file has no non-blank line)");
    std::optional<AutoChoice> choice;
    const CleanedSet cleaned =
        reselect(scored, make_threshold(f.select, log_auto_choice(g, f.select, choice)), eos, f.data.string());
    stop_if_interrupted("select");
    write_cleaned(out, {&cleaned}, f.with_scores);
    log(g, "kept " + std::to_string(cleaned.kept) + " of " + std::to_string(cleaned.targets) + " target tokens -> " +
               f.out.string());
    print_clean_summary(f.out, static_cast<std::int64_t>(cleaned.examples.size()), cleaned.targets, cleaned.kept, choice);
}

struct EvolveFlags {
    fs::path base, out, work, warmup;
    DataFlags data;
    FineTuneFlags tune;  // each chunk's fine-tuning
    LoraFlags lora;      // --lora-r > 0: each reference an adapter on the base
    SelectFlags select;
    std::int64_t chunks = 5;
    std::int64_t score_batch_size = 8;
    bool with_scores = false;
    bool force = false;
    bool keep_work = false;
    std::string dtype = "fp32";  // of the base (bf16: LoRA references only)

    static constexpr VerbHelp help{"evolve", "self-evolving cleaning: chunk by chunk, the reference keeps learning",
        "\nExample:\n  tokclean evolve --base base --data pool.jsonl --out evolved --chunks 5 --keep 0.6 --epochs 1\n"
        "Self-evolving cleaning: chunk by chunk, the reference is the model trained on the cleaned chunks so far.\n"
        "Each finished chunk is saved in OUT.work (--work); after a crash or SIGINT/SIGTERM, rerunning the same\n"
        "command continues after the last finished chunk and ends with the same result. The work directory must\n"
        "be new, empty or tokclean's own: any other is refused, never written into.\n"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--base", f.base, "base model directory", required, Resume::model_files);
        DataFlags::each_flag(f.data, v);
        v.option("--out", f.out, "final model directory (with cleaned.jsonl)", required);
        force_flag(f.force, v);
        v.option("--chunks", f.chunks, "T + 1 chunks of the pool", integer_at_least(2), Resume::match);
        SelectFlags::each_flag(f.select, v);
        FineTuneFlags::each_flag(f.tune, v);
        LoraFlags::each_flag(f.lora, v);
        v.option("--warmup", f.warmup, "a warm-up model (or LoRA adapter) that replaces the chunk-0 step",
                 Resume::model_files);
        v.option("--work", f.work, "checkpoint directory (default: OUT.work); a rerun resumes");
        v.option("--score-batch-size", f.score_batch_size, "examples per scoring pass", positive_integer());
        v.flag("--with-scores", f.with_scores, "add \"scores\" to cleaned.jsonl");
        v.flag("--keep-work", f.keep_work, "keep the work directory (each chunk's cleaned file and reference)");
        dtype_flag(f.dtype, v);
    }
};

inline fs::path evolve_work_dir(const EvolveFlags& f) { return f.work.empty() ? beside(f.out, ".work") : f.work; }

inline void run_evolve(const GlobalFlags& g, EvolveFlags f) {
    const fs::path work_dir = evolve_work_dir(f);
    check_paths({{"--base", f.base}, {"--warmup", f.warmup}, {"--data", f.data.data}},
                {{"--out", f.out}, {"--work", work_dir}});
    const InterruptScope interrupts;
    std::vector<fs::path> extra = tokenizer_files(f.base);
    std::vector<fs::path> out_files = extra;
    out_files.emplace_back("cleaned.jsonl");
    f.lora.check();
    if (f.lora.r > 0 && !f.warmup.empty())
        fail("--lora-r trains a new adapter in chunk 0, --warmup replaces chunk 0: give one of them (a warm-up "
             "adapter directory makes every reference an adapter already)");
    // LoRA (--lora-r, or a warm-up adapter) makes every θ_t, and the final model, an adapter on the base.
    const bool adapters = f.lora.r > 0 || is_adapter_dir(f.warmup);
    if (f.dtype == "bf16" && !adapters)
        fail("--dtype bf16 holds the base's weights frozen: make the references LoRA adapters on it (--lora-r R, or "
             "a warm-up adapter as --warmup), or use --dtype fp32");
    AtomicDirectory out = adapters ? open_adapter_output(f.out, f.force, out_files)
                                   : open_model_output(f.out, f.force, out_files);
    OpenedModel b = load_cli_model(g, f.base);
    use_dtype(b, f.dtype);
    const std::vector<Example> pool = load_data(g, f.data, b);
    require_targets(f.data.data, pool);
    const std::unique_ptr<CausalLm<Cpu>> base = b.take_model();
    std::unique_ptr<CausalLm<Cpu>> warmup;
    if (!f.warmup.empty()) warmup = load_second_model(f.base, *base, f.warmup, "warm-up model");
    std::unique_ptr<CausalLm<Cpu>> start;  // θ_0 with --lora-r: a new adapter on the base
    if (f.lora.r > 0) start = new_lora(*base, f.lora.config(f.base), f.tune.options.seed);
    const auto chunks = static_cast<std::size_t>(f.chunks);
    SelfEvolving<Cpu> evolving;
    evolving.chunks = chunks;
    evolving.train = f.tune.resolved();
    evolving.warmup = warmup.get();
    evolving.start = start.get();
    evolving.work_dir = work_dir;
    evolving.fingerprint = resume_settings(f).dump();
    evolving.log = [&g](const std::string& line) { log(g, line); };
    // Progress per chunk (scoring, then training); SIGINT/SIGTERM stop the run between two
    // steps, keeping the finished chunks in the work directory for the next run to resume.
    std::optional<Progress> progress;
    std::size_t chunk = 0;
    const std::string of_chunks = "/" + std::to_string(chunks - 1);
    const auto stop_if_interrupted = [&] {
        if (const int sig = interrupt_signal())
            throw Interrupted(sig, std::string("evolve: ") + signal_name(sig) + " in chunk " + std::to_string(chunk) +
                                       of_chunks + "; the finished chunks are kept in " + work_dir.string() +
                                       ": run the same command again to continue");
    };
    evolving.on_chunk = [&](std::size_t t) {
        chunk = t;
        progress.reset();
    };
    evolving.on_train_step = [&](const TrainStep& s) {
        if (s.step == 1) progress.emplace("evolve: chunk " + std::to_string(chunk) + of_chunks + " training",
                                          s.total_steps, "steps", progress_mode(g));
        progress->update(s.step, s.tokens, step_detail(s));
        if (s.step == s.total_steps) progress->finish(step_detail(s));
        else stop_if_interrupted();
    };
    std::optional<AutoChoice> choice;  // each chunk's, logged as it is made
    TokenCleaner<Cpu, LossDelta, AnyThreshold, SelfEvolving<Cpu>> cleaner(
        LossDelta{}, make_threshold(f.select, log_auto_choice(g, f.select, choice)), evolving, f.score_batch_size);
    cleaner.set_progress([&](std::size_t done, std::size_t total, std::int64_t tokens) {
        if (done == 0) progress.emplace("evolve: chunk " + std::to_string(chunk) + of_chunks + " scoring",
                                        static_cast<std::int64_t>(total), "examples", progress_mode(g));
        progress->update(static_cast<std::int64_t>(done), tokens);
        if (done == total) progress->finish();
        else stop_if_interrupted();
    });
    // Every chunk reaches the sink, those finished by an earlier run too (read back).
    std::vector<CleanedSet> cleaned;
    const std::unique_ptr<CausalLm<Cpu>> final_model =
        cleaner.run(*base, pool, [&](std::size_t, const CleanedSet& c) { cleaned.push_back(c); });
    progress.reset();

    std::int64_t targets = 0, kept = 0;
    std::vector<const CleanedSet*> parts;
    for (const auto& c : cleaned) {
        kept += c.kept;
        parts.push_back(&c);
    }
    for (const auto& ex : pool) targets += ex.num_targets();
    // cleaned.jsonl beside the final model: written into the output's temporary directory.
    write_cleaned(out.path() / "cleaned.jsonl", parts, f.with_scores);
    final_model->save(out, extra);
    if (!f.keep_work) cleaner.reference().remove_work_dir();
    log(g, "final model θ_" + std::to_string(chunks) + " and cleaned.jsonl -> " + f.out.string());
    print_clean_summary(f.out / "cleaned.jsonl", static_cast<std::int64_t>(pool.size()), targets, kept);
}

}  // namespace tokclean::cli
