#pragma once
// The cleaning verbs: tokenize (any format to pre-tokenized), clean (fixed reference or a
// single-model scorer), evolve (self-evolving reference, resumable).
#include <fstream>

#include "cmd_model.hpp"
#include "common.hpp"
#include "tokclean/clean/any_threshold.hpp"
#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/self_evolving.hpp"
#include "tokclean/clean/threshold_policies.hpp"

namespace tokclean::cli {

struct TokenizeFlags {
    fs::path model, out;
    DataFlags data;
};

inline void run_tokenize(const GlobalFlags& g, const TokenizeFlags& f) {
    const GptConfig config = load_gpt_config(f.model);
    const ModelTokenizer tok(f.model, config);
    const std::vector<Example> data = load_data(g, f.data, config, tok, /*limit_to_model=*/false);
    AtomicFile out(f.out);
    std::int64_t targets = 0;
    for (const auto& ex : data) {
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
};

inline AnyThreshold make_threshold(const SelectFlags& f) {
    keep_count(0, f.keep);  // validates --keep
    AnyThreshold policy = [&]() -> AnyThreshold {
        if (f.select == "global") return GlobalTopK{f.keep};
        if (f.select == "sample") return SampleTopK{f.keep};
        if (f.select == "batch") return BatchTopK{f.keep, static_cast<std::size_t>(f.batch_examples)};
        if (f.select == "threshold") return AbsoluteThreshold{f.threshold};
        if (f.select == "positive") return PositiveTopK{f.keep};
        if (f.select == "random") return RandomSelect{f.keep, f.seed};
        fail("--select: expected global, sample, batch, threshold, positive or random, got '", f.select, "'");
    }();
    if (f.min_keep < 0) fail("--min-keep: expected a non-negative integer, got ", f.min_keep);
    if (f.min_keep > 0) policy = MinPerExample<AnyThreshold>{policy, f.min_keep};
    if (f.keep_eos) policy = KeepEos<AnyThreshold>{policy};
    return policy;
}

inline void write_cleaned(const fs::path& path, const std::vector<const CleanedSet*>& sets, bool with_scores) {
    AtomicFile out(path);
    for (const CleanedSet* s : sets)
        for (std::size_t i = 0; i < s->examples.size(); ++i)
            out.write(cleaned_jsonl_line(s->examples[i], s->scores[i], with_scores));
    out.commit();
}

inline void print_clean_summary(const fs::path& out, std::int64_t examples, std::int64_t targets, std::int64_t kept) {
    std::cout << "{\"out\": " << quoted(out.string()) << ", \"examples\": " << examples << ", \"targets\": " << targets
              << ", \"kept\": " << kept << ", \"kept_fraction\": "
              << fixed(targets ? static_cast<double>(kept) / static_cast<double>(targets) : 0.0, 6) << "}\n";
}

struct CleanFlags {
    fs::path base, ref, out;
    DataFlags data;
    SelectFlags select;
    std::string scorer = "delta";
    std::int64_t batch_size = 8;
    bool with_scores = false;
};

template <class D, Scorer S, class R>
CleanedSet clean_with(S scorer, R reference, const CleanFlags& f, Gpt<D>& base, std::span<const Example> pool,
                      Progress& progress) {
    TokenCleaner<D, S, AnyThreshold, R> cleaner(scorer, make_threshold(f.select), std::move(reference), f.batch_size);
    cleaner.set_progress([&](std::size_t done, std::size_t, std::int64_t tokens) {
        progress.update(static_cast<std::int64_t>(done), tokens);
    });
    CleanedSet result;
    cleaner.run(base, pool, [&](std::size_t, const CleanedSet& c) { result = c; });
    return result;
}

template <class D = Cpu>
void run_clean(const GlobalFlags& g, const CleanFlags& f) {
    CliModel b = load_cli_model(f.base);
    const std::vector<Example> pool = load_data(g, f.data, b.config, b.tokenizer);
    Gpt<D> base(b.config, params_on<D>(std::move(b.params)));
    const bool two_models = f.scorer == "delta" || f.scorer == "reverse";
    if (two_models == f.ref.empty())
        fail(two_models ? "--ref: the '" + f.scorer + "' scorer compares two models; give --ref DIR"
                        : "--ref: the '" + f.scorer + "' scorer uses the base model alone; drop --ref");
    std::optional<Gpt<D>> ref;
    if (two_models) {
        LoadedModel r = load_model_dir(f.ref);
        require_same_shape(f.base, base.config(), f.ref, r.config, "reference model");
        ref.emplace(r.config, params_on<D>(std::move(r.params)));
    }
    log(g, "scoring " + std::to_string(pool.size()) + " examples with the " + f.scorer + " scorer, selecting with --select " +
               f.select.select);
    CleanedSet cleaned;
    Progress progress("clean: scoring", static_cast<std::int64_t>(pool.size()), "examples", progress_mode(g));
    if (f.scorer == "delta") cleaned = clean_with(LossDelta{}, FixedReference<D>{&*ref}, f, base, pool, progress);
    else if (f.scorer == "reverse") cleaned = clean_with(ReverseLossDelta{}, FixedReference<D>{&*ref}, f, base, pool, progress);
    else if (f.scorer == "loss") cleaned = clean_with(BaseLoss{}, NoReferenceOn<D>{}, f, base, pool, progress);
    else if (f.scorer == "entropy") cleaned = clean_with(BaseEntropy{}, NoReferenceOn<D>{}, f, base, pool, progress);
    else fail("--scorer: expected delta, reverse, loss or entropy, got '", f.scorer, "'");
    progress.finish();
    write_cleaned(f.out, {&cleaned}, f.with_scores);
    log(g, "kept " + std::to_string(cleaned.kept) + " of " + std::to_string(cleaned.targets) + " target tokens -> " +
               f.out.string());
    print_clean_summary(f.out, static_cast<std::int64_t>(pool.size()), cleaned.targets, cleaned.kept);
}

struct EvolveFlags {
    fs::path base, out, work, warmup;
    TrainFlags train;  // data, and the fine-tuning flags of each chunk
    SelectFlags select;
    std::size_t chunks = 5;
    std::int64_t score_batch_size = 8;
    bool with_scores = false;
};

inline std::string evolve_fingerprint(const EvolveFlags& f) {
    const auto& o = f.train.options;
    nlohmann::json j = {
        {"data", file_hash(f.train.data.data)},
        {"base", file_hash(f.base / "model.safetensors")},
        {"warmup", f.warmup.empty() ? 0 : file_hash(f.warmup / "model.safetensors")},
        {"chunks", f.chunks}, {"select", f.select.select}, {"keep", f.select.keep},
        {"threshold", f.select.threshold}, {"seed", f.select.seed}, {"keep_eos", f.select.keep_eos},
        {"min_keep", f.select.min_keep}, {"epochs", o.epochs}, {"steps", o.steps},
        {"batch_size", o.batch_size}, {"lr", o.lr}, {"schedule", f.train.schedule},
        {"warmup_ratio", o.warmup_ratio}, {"weight_decay", o.weight_decay}, {"grad_clip", o.grad_clip},
        {"shuffle", o.shuffle}, {"train_seed", o.seed}, {"seq_len", f.train.data.seq_len}};
    return j.dump();
}

inline void run_evolve(const GlobalFlags& g, EvolveFlags f) {
    CliModel b = load_cli_model(f.base);
    const std::vector<Example> pool = load_data(g, f.train.data, b.config, b.tokenizer);
    finish_train_options(f.train);
    Gpt<Cpu> base(b.config, std::move(b.params));
    std::optional<GptParams<Cpu>> warmup;
    if (!f.warmup.empty()) {
        LoadedModel w = load_model_dir(f.warmup);
        require_same_shape(f.base, base.config(), f.warmup, w.config, "warm-up model");
        warmup.emplace(std::move(w.params));
    }
    SelfEvolving<Cpu> evolving;
    evolving.chunks = f.chunks;
    evolving.train = f.train.options;
    evolving.warmup = warmup ? &*warmup : nullptr;
    evolving.work_dir = f.work.empty() ? fs::path(f.out.string() + ".work") : f.work;
    evolving.fingerprint = evolve_fingerprint(f);
    evolving.log = [&g](const std::string& line) { log(g, line); };
    // Progress per chunk (scoring, then training); SIGINT/SIGTERM stop the run between two
    // steps, keeping the finished chunks in the work directory for the next run to resume.
    const InterruptScope interrupts;
    std::optional<Progress> progress;
    std::size_t chunk = 0;
    const std::string of_chunks = "/" + std::to_string(f.chunks - 1);
    const fs::path work_dir = evolving.work_dir;
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
    TokenCleaner<Cpu, LossDelta, AnyThreshold, SelfEvolving<Cpu>> cleaner(LossDelta{}, make_threshold(f.select),
                                                                          evolving, f.score_batch_size);
    cleaner.set_progress([&](std::size_t done, std::size_t total, std::int64_t tokens) {
        if (done == 0) progress.emplace("evolve: chunk " + std::to_string(chunk) + of_chunks + " scoring",
                                        static_cast<std::int64_t>(total), "examples", progress_mode(g));
        progress->update(static_cast<std::int64_t>(done), tokens);
        if (done == total) progress->finish();
        else stop_if_interrupted();
    });
    const GptParams<Cpu> final_params = cleaner.run(base, pool, [](std::size_t, const CleanedSet&) {});
    progress.reset();

    // The cleaned pool, from the chunk files (resumed chunks included), beside the model.
    const fs::path work = cleaner.reference().work_dir;
    const fs::path cleaned_path = work / "cleaned.jsonl";
    std::int64_t targets = 0, kept = 0;
    {
        AtomicFile out(cleaned_path);
        const std::size_t parts = warmup ? f.chunks - 1 : f.chunks;
        for (std::size_t c = 0; c < parts; ++c) {
            std::ifstream in(cleaner.reference().chunk_file(c));
            for (std::string line; std::getline(in, line);) {
                nlohmann::json j = nlohmann::json::parse(line);
                const auto& labels = j["labels"];
                for (std::size_t k = 1; k < labels.size(); ++k) kept += labels[k].get<int>() != ignore_label;
                if (!f.with_scores) j.erase("scores");
                out.write(j.dump() + "\n");
            }
        }
        out.commit();
    }
    for (const auto& ex : pool) targets += ex.num_targets();
    std::vector<fs::path> extra = tokenizer_files(f.base);
    extra.push_back(cleaned_path);
    save_model_dir(f.out, base.config(), final_params, extra);
    fs::remove_all(work);
    log(g, "final model θ_" + std::to_string(f.chunks) + " and cleaned.jsonl -> " + f.out.string());
    print_clean_summary(f.out / "cleaned.jsonl", static_cast<std::int64_t>(pool.size()), targets, kept);
}

}  // namespace tokclean::cli
