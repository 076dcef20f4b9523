#pragma once
// `tokclean demo`: the paper's pipeline end to end on the shipped task (examples/data/demo,
// made by examples/data/make_demo_task.py), with its baselines side by side:
//   pre-train a byte-level base on chit-chat text (it learns the format and phrases, and that
//   a reply may be a word of random letters, never the task) -> warm-up reference (base
//   fine-tuned on a small clean set) -> score the noisy pool -> five SFT arms from the same
//   base: Full, Random (keep 0.6), per-sample top-k ("RHO"), fixed-model cleaning (global
//   top-k), self-evolving cleaning -> held-out eval.
// Prints one table (held-out token accuracy and loss over every response token; greedy and
// sampled exact match and loss of the answers; wall time) and, for each cleaning arm, the kept
// fraction of each token kind the generator recorded.
#include <chrono>
#include <map>

#include "cmd_clean.hpp"
#include "cmd_model.hpp"

namespace tokclean::cli {

struct DemoFlags {
    fs::path data = TOKCLEAN_DEMO_DATA;  // the directory with pretrain/warmup/pool/heldout
    fs::path work = "tokclean-demo";
    std::uint64_t seed = 1;
    double keep = 0.6;
    // The base must know the boilerplate where the task puts it. Its median loss on the pool's
    // boilerplate bytes: 3.3 nats after 2 epochs, 0.0 after 8 (the reference's: 0.0).
    std::int64_t pretrain_epochs = 8;
    // Budgets measured on clean data, so that the recipe learns the task with a margin: from
    // this base, SFT on 2600 clean examples answers 99.5% of held-out words right after 6
    // epochs at lr 1e-3 (2 epochs: 0%) and 100% at lr 3e-3; the reference, 300 warm-up
    // examples for 60 epochs at lr 3e-3, answers 99.8% (20 epochs at 1e-3: 0%).
    std::int64_t sft_epochs = 6;
    std::int64_t warmup_epochs = 60;
    double lr = 3e-3;
    fs::path json;  // optional: the results as JSON (bench/reproduce.py reads it)
    std::string arch = "gpt2";
    bool with_auto = false;  // two more arms: fixed and self-evolving cleaning with --select auto

    static constexpr VerbHelp help{"demo", "the paper's pipeline and its baselines on the shipped task"};
    template <class Self, class V>
    static void each_flag(Self& f, V& v) {
        v.option("--data", f.data, "directory with the demo task");
        v.option("--work", f.work, "directory for the demo's outputs");
        v.option("--seed", f.seed, "seed of initialisation, shuffling and random selection");
        v.option("--keep", f.keep, "fraction of target tokens the selection arms keep", fraction());
        v.option("--pretrain-epochs", f.pretrain_epochs, "epochs of base pre-training", positive_integer());
        v.option("--sft-epochs", f.sft_epochs, "epochs of each SFT arm", positive_integer());
        v.option("--warmup-epochs", f.warmup_epochs, "epochs of the reference's warm-up", positive_integer());
        v.option("--lr", f.lr, "peak learning rate of the SFT arms and the warm-up", finite_at_least(0));
        v.option("--json", f.json, "also write the results as JSON to this file");
        v.option("--arch", f.arch, "architecture of the base model",
                 one_of({"gpt2", "llama", "mistral", "qwen2", "qwen3"}));
        v.flag("--with-auto", f.with_auto,
               "also clean with --select auto (otsu): a fixed and a self-evolving arm");
    }
};

struct DemoArm {
    std::string name;
    EvalResult eval;    // every response token of the held-out examples
    EvalResult answer;  // their answer tokens alone (kind I): exact match = the answer is right
    double seconds = 0.0;
    std::map<char, std::pair<std::int64_t, std::int64_t>> kinds;  // kind -> (kept, total)
    bool cleaning = false;
};

namespace demo_detail {

using Clock = std::chrono::steady_clock;
inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The demo's byte-level base, freshly initialised: GPT-2 with 3 layers, 4 heads, width 128
// and 96 positions, or a Llama-family model of the same depth and width (2 key/value heads,
// MLP width 344: the parameters of GPT-2's 4·128 MLP in SwiGLU's three matrices).
inline std::unique_ptr<CausalLm<Cpu>> demo_base(const std::string& arch, std::uint64_t seed) {
    if (arch == "gpt2") {
        GptConfig c;
        c.n_layer = 3;
        c.n_head = 4;
        c.n_embd = 128;
        c.n_positions = 96;
        return std::make_unique<Gpt<Cpu>>(c, gpt_init(c, seed));
    }
    LlamaShape s;
    s.model_type = arch;
    s.n_layer = 3;
    s.heads = 4;
    s.kv_heads = 2;
    s.hidden = 128;
    s.intermediate = 344;
    s.max_positions = 96;
    const LlamaConfig c = llama_config(s);
    return std::make_unique<Llama<Cpu>>(c, llama_init(c, seed));
}

// Saves `model` as a model directory `dir`.
inline void save_demo_model(const CausalLm<Cpu>& model, const fs::path& dir) {
    AtomicDirectory out(dir);
    model.save(out);
}

inline std::vector<Example> read_for(const fs::path& file, const ModelInfo& m, const ByteTokenizer& tok) {
    ReadOptions ro;
    ro.vocab_size = m.vocab_size;
    ro.max_len = static_cast<std::size_t>(m.max_positions);
    ro.strict = true;
    ro.tokenizer = &tok;
    return read_examples(file, ro).examples;
}

// One letter per token of each pool example (P, B, I, J, W, E), checked against the data.
inline std::vector<std::string> read_kinds(const fs::path& file, const std::vector<Example>& pool) {
    std::vector<std::string> kinds;
    std::ifstream in(file);
    if (!in) fail(file.string(), ": cannot open the file");
    for (std::string line; std::getline(in, line);) {
        const std::size_t i = kinds.size();
        kinds.push_back(parse_json(line, JsonWhere{file.string(), i + 1}).at("kinds").get<std::string>());
        if (i >= pool.size() || kinds.back().size() != pool[i].input_ids.size())
            fail(file.string(), ":", i + 1, ": field 'kinds': ", kinds.back().size(),
                 " letters for an example of ", i < pool.size() ? pool[i].input_ids.size() : 0, " tokens");
    }
    if (kinds.size() != pool.size()) fail(file.string(), ": ", kinds.size(), " lines for ", pool.size(), " examples");
    return kinds;
}

// The answers of `examples` alone: every target that is not of kind I becomes ignore_label.
// Teacher-forced, an example whose answer tokens are all the argmax is one that greedy
// decoding answers right.
inline std::vector<Example> answers_only(std::vector<Example> examples, const std::vector<std::string>& kinds) {
    for (std::size_t e = 0; e < examples.size(); ++e)
        for (std::size_t j = 0; j < examples[e].labels.size(); ++j)
            if (kinds[e][j] != 'I') examples[e].labels[j] = ignore_label;
    return examples;
}

// Kept / total target tokens of each kind in a labelled pool.
inline std::map<char, std::pair<std::int64_t, std::int64_t>> kind_counts(const std::vector<Example>& cleaned,
                                                                         const std::vector<std::string>& kinds) {
    std::map<char, std::pair<std::int64_t, std::int64_t>> out;
    for (std::size_t e = 0; e < cleaned.size(); ++e)
        for (std::size_t j = 1; j < cleaned[e].labels.size(); ++j) {
            if (kinds[e][j] == 'P') continue;
            auto& [kept, total] = out[kinds[e][j]];
            ++total;
            kept += cleaned[e].labels[j] != ignore_label;
        }
    return out;
}

struct HeldOut {
    std::vector<Example> responses;  // every response token a target
    std::vector<Example> answers;    // the answer tokens alone
};

// Kept / total of kind k in an arm's pool (0 when the kind does not occur).
inline double kept_fraction(const DemoArm& a, char k) {
    const auto it = a.kinds.find(k);
    if (it == a.kinds.end() || it->second.second == 0) return 0.0;
    return static_cast<double>(it->second.first) / static_cast<double>(it->second.second);
}

// An arm's (or chunk's) kept fractions as {"I": 0.88, ...}, for --json.
inline nlohmann::json kept_fractions_json(const DemoArm& a) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, counts] : a.kinds) out[std::string(1, k)] = kept_fraction(a, k);
    return out;
}

// An arm's row: `model` evaluated on the held-out responses and on their answers.
inline DemoArm evaluated_arm(std::string name, CausalLm<Cpu>& model, const HeldOut& heldout, double seconds,
                             std::map<char, std::pair<std::int64_t, std::int64_t>> kinds, bool cleaning) {
    return {std::move(name), evaluate_examples(model, heldout.responses, 32),
            evaluate_examples(model, heldout.answers, 32), seconds, std::move(kinds), cleaning};
}

}  // namespace demo_detail

inline void run_demo(const GlobalFlags& g, const DemoFlags& f) {
    using namespace demo_detail;
    for (const char* name :
         {"pretrain.jsonl", "warmup.jsonl", "pool.jsonl", "pool_kinds.jsonl", "heldout.jsonl", "heldout_kinds.jsonl"})
        if (!fs::exists(f.data / name)) fail((f.data / name).string(), ": demo data not found (pass --data DIR)");
    check_paths({{"--data", f.data}}, {{"--work", f.work}, {"--json", f.json}});
    std::optional<AtomicFile> json_out;  // opened now: an unwritable --json is reported before the work
    if (!f.json.empty()) json_out.emplace(f.json);
    fs::create_directories(f.work);
    const auto start = Clock::now();

    const std::unique_ptr<CausalLm<Cpu>> base = demo_base(f.arch, f.seed);
    const ModelInfo c = base->info();
    const ByteTokenizer tok(c.eos_token_id);
    auto pretrain = read_for(f.data / "pretrain.jsonl", c, tok);
    // Each document ends with EOS, as in GPT-2's pre-training: the base knows where text ends.
    for (auto& doc : pretrain) {
        doc.input_ids.push_back(tok.eos_id());
        doc.labels.push_back(tok.eos_id());
    }
    const auto warmup = read_for(f.data / "warmup.jsonl", c, tok);
    const auto pool = read_for(f.data / "pool.jsonl", c, tok);
    HeldOut heldout;
    heldout.responses = read_for(f.data / "heldout.jsonl", c, tok);
    heldout.answers = answers_only(heldout.responses, read_kinds(f.data / "heldout_kinds.jsonl", heldout.responses));
    const auto kinds = read_kinds(f.data / "pool_kinds.jsonl", pool);
    auto quiet_log = [&g](const std::string& s) { log(g, "    " + s); };

    TrainOptions sft;  // every SFT arm (and each self-evolving chunk) trains the same way
    sft.epochs = f.sft_epochs;
    sft.batch_size = 16;
    sft.lr = f.lr;
    sft.schedule = ScheduleKind::linear;
    sft.warmup_ratio = 0.03;
    sft.seed = f.seed;

    log(g, "[1/5] pre-train the base on " + std::to_string(pretrain.size()) + " chit-chat lines");
    TrainOptions pre = sft;
    pre.epochs = f.pretrain_epochs;
    pre.batch_size = 32;
    pre.lr = 3e-3;
    pre.schedule = ScheduleKind::cosine;
    train(*base, std::span<const Example>(pretrain), pre);
    save_demo_model(*base, f.work / "base");

    log(g, "[2/5] warm-up reference: the base fine-tuned on " + std::to_string(warmup.size()) + " clean examples");
    const std::unique_ptr<CausalLm<Cpu>> ref = base->with_params(base->flat_params().clone());
    TrainOptions warm = sft;
    warm.epochs = f.warmup_epochs;
    const auto warm_start = Clock::now();
    train(*ref, std::span<const Example>(warmup), warm);
    save_demo_model(*ref, f.work / "reference");

    std::vector<DemoArm> arms;
    std::vector<DemoArm> chunk_rows;  // the self-evolving arm's kinds, chunk by chunk (not evaluated)
    // Not an arm: the reference alone, to show how well it knows the task it judges by.
    arms.push_back(evaluated_arm("(reference: warm-up set only)", *ref, heldout, since(warm_start), {}, false));
    auto sft_arm = [&](const std::string& name, const std::vector<Example>& labelled, bool cleaning,
                       Clock::time_point t0) {
        log(g, "    " + name + ": fine-tune the base on the labelled pool");
        const std::unique_ptr<CausalLm<Cpu>> model = base->with_params(base->flat_params().clone());
        train(*model, std::span<const Example>(labelled), sft);
        arms.push_back(evaluated_arm(name, *model, heldout, since(t0), kind_counts(labelled, kinds), cleaning));
    };
    auto clean_arm = [&](const std::string& name, AnyThreshold policy, const char* file) {
        const auto t0 = Clock::now();
        TokenCleaner<Cpu, LossDelta, AnyThreshold, FixedReference<Cpu>> cleaner(LossDelta{}, std::move(policy),
                                                                                FixedReference<Cpu>{ref.get()}, 32);
        CleanedSet cleaned;
        cleaner.run(*base, pool, [&](std::size_t, const CleanedSet& s) { cleaned = s; });
        write_cleaned(f.work / file, {&cleaned}, true);
        sft_arm(name, cleaned.examples, true, t0);
    };

    // --with-auto: each choice of --select auto, logged and kept for --json.
    std::vector<std::pair<std::string, AutoChoice>> auto_choices;
    auto auto_policy = [&](const std::string& arm) {
        return AutoThreshold{AutoRule::otsu, [&, arm](const AutoChoice& c) {
                                 auto_choices.emplace_back(arm, c);
                                 quiet_log(arm + ": --select auto chose tau = " + fixed(c.tau, 4) + ", kept " +
                                           fixed(100.0 * c.kept_fraction(), 1) + "% of " + std::to_string(c.total));
                             }};
    };

    log(g, "[3/5] score the pool with (base, reference) and train the arms");
    sft_arm("Full SFT", pool, false, Clock::now());
    clean_arm("Random (keep " + fixed(f.keep, 1) + ")", RandomSelect{f.keep, f.seed}, "cleaned_random.jsonl");
    clean_arm("Per-sample top-k (RHO)", SampleTopK{f.keep}, "cleaned_sample.jsonl");
    clean_arm("Fixed-model cleaning", GlobalTopK{f.keep}, "cleaned_fixed.jsonl");
    if (f.with_auto) clean_arm("Fixed-model cleaning (auto)", auto_policy("fixed auto"), "cleaned_fixed_auto.jsonl");

    // The self-evolving arm with `policy`; its chunks' kinds as rows named with `chunk_prefix`.
    auto evolving_arm = [&](const std::string& name, AnyThreshold policy, const char* file,
                            const std::string& chunk_prefix) {
        const auto t0 = Clock::now();
        SelfEvolving<Cpu> evolving;
        evolving.chunks = 5;
        evolving.train = sft;
        evolving.warmup = ref.get();  // θ_1
        evolving.log = quiet_log;
        TokenCleaner<Cpu, LossDelta, AnyThreshold, SelfEvolving<Cpu>> cleaner(LossDelta{}, std::move(policy), evolving, 32);
        std::vector<CleanedSet> chunks;
        const std::unique_ptr<CausalLm<Cpu>> final_model =
            cleaner.run(*base, pool, [&](std::size_t, const CleanedSet& s) { chunks.push_back(s); });
        std::vector<Example> labelled;
        std::vector<const CleanedSet*> parts;
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            const CleanedSet& ch = chunks[i];
            // Each chunk's kinds apart: how the evolving reference's choices drift (the paper's
            // "Matthew effect" shows as junk kept more and more).
            const auto first = static_cast<std::ptrdiff_t>(labelled.size());
            const auto last = first + static_cast<std::ptrdiff_t>(ch.examples.size());
            const std::vector<std::string> chunk_kinds(kinds.begin() + first, kinds.begin() + last);
            chunk_rows.push_back({chunk_prefix + std::to_string(i + 1) + " (examples " + std::to_string(first) + ".." +
                                      std::to_string(last) + ")",
                                  {}, {}, 0.0, kind_counts(ch.examples, chunk_kinds), true});
            labelled.insert(labelled.end(), ch.examples.begin(), ch.examples.end());
            parts.push_back(&ch);
        }
        write_cleaned(f.work / file, parts, true);
        arms.push_back(evaluated_arm(name, *final_model, heldout, since(t0), kind_counts(labelled, kinds), true));
    };
    log(g, "[4/5] self-evolving cleaning: the warm-up model is θ_1, the pool splits into 4 chunks");
    evolving_arm("Self-evolving cleaning", GlobalTopK{f.keep}, "cleaned_evolving.jsonl", "· chunk ");
    if (f.with_auto)
        evolving_arm("Self-evolving cleaning (auto)", auto_policy("evolving auto"), "cleaned_evolving_auto.jsonl",
                     "· auto chunk ");

    log(g, "[5/5] held-out evaluation on " + std::to_string(heldout.responses.size()) + " clean examples");
    // Exact match is of the answers: a whole response cannot match, its closing phrase is drawn
    // at random among five.
    // Answer loss: how sure the model is of the right answer (a model trained on wrong answers
    // hedges even where its argmax is right). Sampled exact match: the share of answers right
    // when sampling at temperature 1, as chat models are used (the mean of P(answer)).
    std::cout << "\n| arm | held-out token accuracy | answer token accuracy | exact match (answers) | "
                 "sampled exact match (answers) | loss | answer loss | wall time |\n|---|---|---|---|---|---|---|---|\n";
    for (const auto& a : arms)
        std::cout << "| " << a.name << " | " << fixed(a.eval.token_accuracy, 4) << " | " << fixed(a.answer.token_accuracy, 4)
                  << " | " << fixed(a.answer.exact_match, 4) << " | " << fixed(a.answer.sampled_exact_match, 4) << " | "
                  << fixed(a.eval.loss, 4) << " | " << fixed(a.answer.loss, 4) << " | " << fixed(a.seconds, 1) << " s |\n";
    const std::string order = "IEBJW";
    const std::map<char, const char*> kind_names = {{'I', "informative"}, {'E', "EOS"}, {'B', "boilerplate"},
                                                    {'J', "junk span"}, {'W', "wrong answer"}};
    std::cout << "\nKept fraction of each kind of response token:\n\n| arm |";
    for (char k : order) std::cout << " " << kind_names.at(k) << " |";
    std::cout << "\n|---|---|---|---|---|---|\n";
    auto print_kinds = [&](const DemoArm& a) {
        std::cout << "| " << a.name << " |";
        for (char k : order) std::cout << " " << fixed(kept_fraction(a, k), 3) << " |";
        std::cout << "\n";
    };
    for (const auto& a : arms)
        if (a.cleaning) print_kinds(a);
    for (const auto& a : chunk_rows) print_kinds(a);
    std::cout << "\nTotal " << fixed(since(start), 0) << " s. Cleaned files (with scores) and models in "
              << f.work.string() << "/; `tokclean report --data " << (f.work / "cleaned_fixed.jsonl").string()
              << " --kinds " << (f.data / "pool_kinds.jsonl").string() << " --out report.html` draws them.\n";

    if (!f.json.empty()) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& a : arms) {
            j.push_back({{"arm", a.name},
                         {"token_accuracy", a.eval.token_accuracy},
                         {"answer_token_accuracy", a.answer.token_accuracy},
                         {"exact_match", a.answer.exact_match},
                         {"sampled_exact_match", a.answer.sampled_exact_match},
                         {"loss", a.eval.loss},
                         {"answer_loss", a.answer.loss},
                         {"seconds", a.seconds},
                         {"kept_fraction", kept_fractions_json(a)}});
        }
        AtomicFile& out = *json_out;
        nlohmann::json chunks_json = nlohmann::json::array();
        for (const auto& a : chunk_rows) chunks_json.push_back({{"chunk", a.name}, {"kept_fraction", kept_fractions_json(a)}});
        nlohmann::json choices_json = nlohmann::json::array();
        for (const auto& [arm, c] : auto_choices)
            choices_json.push_back({{"arm", arm}, {"tau", std::isinf(c.tau) ? nlohmann::json(nullptr) : nlohmann::json(c.tau)},
                                    {"kept", c.kept}, {"total", c.total}});
        out.write(nlohmann::json{{"seed", f.seed}, {"keep", f.keep}, {"arms", j}, {"evolving_chunks", chunks_json},
                                 {"auto_choices", choices_json}}
                      .dump(1) +
                  "\n");
        out.commit();
    }
}

}  // namespace tokclean::cli
