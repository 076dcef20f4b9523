// The tokclean program end to end: `score` and `train` against the PyTorch fixtures, and
// bad input: each case must exit non-zero with one line naming the file and place, and
// leave no output behind.
#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli_support.hpp"

using namespace cli_test;

namespace {

// The program with --quiet: stderr holds nothing but errors.
Run quiet(const std::string& args, const Scratch& s) { return tokclean(std::string("--quiet ") + args, s); }

void expect_losses(const std::vector<json>& got, const json& want, double tol, bool relative) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        const auto& g = got[i]["losses"];
        BOOST_REQUIRE_EQUAL(g.size(), want[i].size());
        for (std::size_t j = 0; j < g.size(); ++j) {
            BOOST_TEST_CONTEXT("example " << i << " position " << j) {
                BOOST_TEST(g[j].is_null() == want[i][j].is_null());
                if (!g[j].is_null()) {
                    const double w = want[i][j].get<double>();
                    BOOST_TEST(std::abs(g[j].get<double>() - w) <= tol * (relative ? std::abs(w) : 1.0));
                }
            }
        }
    }
}

fs::path copy_model(const Scratch& s, const std::string& name) {
    const fs::path dst = s / name;
    fs::copy(fixtures / "model", dst, fs::copy_options::recursive);
    return dst;
}

}  // namespace

BOOST_AUTO_TEST_CASE(score_matches_pytorch_losses) {
    Scratch s;
    const json want = json::parse(slurp(fixtures / "expected_losses.json"));
    for (const std::string dir : {"model", "model_bf16_prefixed"}) {
        const Run r = quiet("score --model " + (fixtures / dir).string() + " --data " +
                                   (fixtures / "data.jsonl").string() + " --out " + (s / "losses.jsonl").string(),
                               s);
        BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        expect_losses(read_jsonl(s / "losses.jsonl"), want[dir], 1e-4, false);
    }
}

BOOST_AUTO_TEST_CASE(train_five_steps_matches_pytorch_adamw) {
    Scratch s;
    const json traj = json::parse(slurp(fixtures / "adamw_trajectory_wd0.json"));
    const Run t = quiet("train --model " + (fixtures / "model").string() + " --data " +
                               (fixtures / "data.jsonl").string() + " --out " + (s / "trained").string() +
                               " --steps 5 --batch-size 2 --lr 1e-3 --schedule constant --weight-decay 0 --no-shuffle",
                           s);
    BOOST_REQUIRE_MESSAGE(t.exit_code == 0, t.err);
    const Run r = quiet("score --model " + (s / "trained").string() + " --data " +
                               (fixtures / "data.jsonl").string() + " --out " + (s / "after.jsonl").string(),
                           s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    expect_losses(read_jsonl(s / "after.jsonl"), traj["final_losses"], 1e-3, false);
    // The written directory is a complete Hugging Face GPT-2 directory.
    const json config = json::parse(slurp(s / "trained" / "config.json"));
    BOOST_TEST(config["model_type"] == "gpt2");
    BOOST_TEST(config["n_layer"] == 2);
}

BOOST_AUTO_TEST_CASE(malformed_json_line_names_file_and_line) {
    Scratch s;
    write(s / "bad.jsonl", "{\"input_ids\": [1, 2], \"labels\": [1, 2]}\n{\"input_ids\": [1, 2,\n");
    expect_failure(quiet("score --model " + (fixtures / "model").string() + " --data " +
                                (s / "bad.jsonl").string() + " --out " + (s / "out.jsonl").string(), s),
                   {"bad.jsonl:2"}, s / "out.jsonl");
}

BOOST_AUTO_TEST_CASE(token_id_beyond_vocab_names_field_and_index) {
    Scratch s;
    write(s / "bad.jsonl", "{\"input_ids\": [1, 2, 97], \"labels\": [1, 2, 97]}\n");
    expect_failure(quiet("score --model " + (fixtures / "model").string() + " --data " +
                                (s / "bad.jsonl").string() + " --out " + (s / "out.jsonl").string(), s),
                   {"bad.jsonl:1", "input_ids", "97"}, s / "out.jsonl");
}

BOOST_AUTO_TEST_CASE(labels_of_wrong_length_are_rejected) {
    Scratch s;
    write(s / "bad.jsonl", "{\"input_ids\": [1, 2, 3], \"labels\": [1, 2]}\n");
    expect_failure(quiet("train --model " + (fixtures / "model").string() + " --data " +
                                (s / "bad.jsonl").string() + " --out " + (s / "trained").string() + " --steps 1", s),
                   {"bad.jsonl:1", "labels"}, s / "trained");
}

BOOST_AUTO_TEST_CASE(truncated_safetensors_names_the_file) {
    Scratch s;
    const fs::path model = copy_model(s, "model");
    fs::resize_file(model / "model.safetensors", fs::file_size(model / "model.safetensors") - 100);
    expect_failure(quiet("score --model " + model.string() + " --data " + (fixtures / "data.jsonl").string() +
                                " --out " + (s / "out.jsonl").string(), s),
                   {"model.safetensors"}, s / "out.jsonl");
}

BOOST_AUTO_TEST_CASE(missing_config_field_names_the_field) {
    Scratch s;
    const fs::path model = copy_model(s, "model");
    json config = json::parse(slurp(model / "config.json"));
    config.erase("n_layer");
    write(model / "config.json", config.dump());
    expect_failure(quiet("train --model " + model.string() + " --data " + (fixtures / "data.jsonl").string() +
                                " --out " + (s / "trained").string() + " --steps 1", s),
                   {"config.json", "n_layer"}, s / "trained");
}

BOOST_AUTO_TEST_CASE(overlong_sequence_is_rejected_with_strict_and_truncated_without) {
    Scratch s;
    std::string ids = "[";
    for (int i = 0; i < 40; ++i) {
        if (i) ids += ",";
        ids += std::to_string(i % 90);
    }
    write(s / "long.jsonl", "{\"input_ids\": " + ids + "]}\n");
    expect_failure(quiet("score --strict --model " + (fixtures / "model").string() + " --data " +
                                (s / "long.jsonl").string() + " --out " + (s / "out.jsonl").string(), s),
                   {"long.jsonl:1", "40"}, s / "out.jsonl");
    const Run r = quiet("score --model " + (fixtures / "model").string() + " --data " +
                               (s / "long.jsonl").string() + " --out " + (s / "out.jsonl").string(), s);
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(read_jsonl(s / "out.jsonl")[0]["losses"].size() == 32u);  // n_positions
}

BOOST_AUTO_TEST_CASE(init_train_score_on_text_with_the_byte_tokenizer) {
    Scratch s;
    write(s / "text.jsonl", "{\"text\": \"hello world\"}\n{\"text\": \"hello there\"}\n");
    BOOST_REQUIRE(quiet("init --out " + (s / "m").string() + " --layers 1 --heads 2 --embd 16 --positions 32", s).exit_code == 0);
    const Run t = quiet("train --model " + (s / "m").string() + " --data " + (s / "text.jsonl").string() +
                               " --out " + (s / "t").string() + " --steps 3 --lr 1e-2 --schedule cosine --warmup-ratio 0.3 --grad-clip 1",
                           s);
    BOOST_REQUIRE_MESSAGE(t.exit_code == 0, t.err);
    const Run r = quiet("score --model " + (s / "t").string() + " --data " + (s / "text.jsonl").string() +
                               " --out " + (s / "l.jsonl").string(), s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto rows = read_jsonl(s / "l.jsonl");
    BOOST_TEST(rows.size() == 2u);
    BOOST_TEST(rows[0]["losses"].size() == 11u);  // "hello world": 11 bytes, no EOS added
    BOOST_TEST(rows[0]["losses"][0].is_null());
    BOOST_TEST(rows[0]["losses"][1].is_number());
}

BOOST_AUTO_TEST_CASE(text_data_without_a_tokenizer_is_an_error) {
    Scratch s;
    write(s / "text.jsonl", "{\"text\": \"hi\"}\n");
    expect_failure(quiet("score --model " + (fixtures / "model").string() + " --data " +
                                (s / "text.jsonl").string() + " --out " + (s / "out.jsonl").string(), s),
                   {"text.jsonl:1"}, s / "out.jsonl");
}

// ---- Cleaning verbs ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(clean_keeps_exactly_what_a_stable_sort_of_score_deltas_keeps) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 17, 60);
    const std::string base = (fixtures / "model").string(), ref = (fixtures / "adamw_final").string();
    for (const auto& [model, out] : {std::pair{base, "lb.jsonl"}, std::pair{ref, "lr.jsonl"}})
        BOOST_REQUIRE(quiet("score --model " + model + " --data " + (s / "pool.jsonl").string() + " --out " +
                                   (s / out).string(), s).exit_code == 0);
    const auto lb = read_jsonl(s / "lb.jsonl"), lr = read_jsonl(s / "lr.jsonl"), pool = read_jsonl(s / "pool.jsonl");
    for (const std::string select : {"global", "sample"}) {
        BOOST_TEST_CONTEXT("--select " << select) {
            const Run r = quiet("clean --base " + base + " --ref " + ref + " --data " + (s / "pool.jsonl").string() +
                                       " --out " + (s / "clean.jsonl").string() + " --keep 0.6 --select " + select, s);
            BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            // The reference: score = L_base − L_ref from `score`, stable descending sort.
            struct Tok { std::size_t e, j; double score; };
            std::vector<std::vector<Tok>> groups(select == "global" ? 1 : pool.size());
            for (std::size_t e = 0; e < pool.size(); ++e)
                for (std::size_t j = 0; j < lb[e]["losses"].size(); ++j)
                    if (!lb[e]["losses"][j].is_null())
                        groups[select == "global" ? 0 : e].push_back(
                            {e, j, lb[e]["losses"][j].get<float>() - lr[e]["losses"][j].get<float>()});
            std::vector<json> want_labels;
            for (const auto& p : pool) want_labels.push_back(p["labels"]);
            for (auto& g : groups) {
                std::stable_sort(g.begin(), g.end(), [](const Tok& a, const Tok& b) { return a.score > b.score; });
                const std::size_t k = g.size() * 6 / 10;  // ⌊n · 0.6⌋ exactly
                for (std::size_t i = k; i < g.size(); ++i) want_labels[g[i].e][g[i].j] = -100;
            }
            const auto got = read_jsonl(s / "clean.jsonl");
            BOOST_REQUIRE_EQUAL(got.size(), pool.size());
            for (std::size_t e = 0; e < got.size(); ++e) {
                BOOST_TEST(got[e]["input_ids"] == pool[e]["input_ids"]);
                BOOST_TEST(got[e]["labels"] == want_labels[e], "example " << e);
            }
        }
    }
    // --select auto keeps exactly the scores >= the tau it reports (test_auto_threshold checks
    // how tau is chosen): both as the program has them, the recorded scores and the printed tau
    // (float round-trip), not recomputed from `score`'s losses, whose difference may lie an ulp
    // from the score the program ranked.
    for (const std::string rule : {"otsu", "mixture"}) {
        BOOST_TEST_CONTEXT("--select auto --auto-rule " << rule) {
            const Run r = tokclean("clean --base " + base + " --ref " + ref + " --data " + (s / "pool.jsonl").string() +
                                       " --out " + (s / "clean.jsonl").string() + " --with-scores --select auto --auto-rule " + rule, s);
            BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            BOOST_TEST(r.err.find("--select auto (" + rule + "): tau = ") != std::string::npos, r.err);  // the log line
            const json summary = json::parse(r.out);
            BOOST_REQUIRE(summary["tau"].is_number());
            const float tau = summary["tau"].get<float>();
            const auto got = read_jsonl(s / "clean.jsonl");
            std::int64_t kept = 0, targets = 0;
            for (std::size_t e = 0; e < pool.size(); ++e)
                for (std::size_t j = 0; j < got[e]["scores"].size(); ++j) {
                    if (got[e]["scores"][j].is_null()) continue;
                    const bool keep = got[e]["scores"][j].get<float>() >= tau;
                    BOOST_TEST(got[e]["labels"][j] == (keep ? pool[e]["labels"][j] : json(-100)), "example " << e << " token " << j);
                    kept += keep;
                    ++targets;
                }
            BOOST_TEST(summary["kept"].get<std::int64_t>() == kept);
            BOOST_TEST(kept > 0);
            BOOST_TEST(kept < targets);
        }
    }
}

// `select` on what `clean --with-scores` wrote gives, byte for byte, what `clean` gives with
// the other policy: every policy and guard, from a first cleaning that kept 60%.
BOOST_AUTO_TEST_CASE(select_from_recorded_scores_equals_cleaning_with_that_policy) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 23, 80);
    const std::string base = (fixtures / "model").string(), ref = (fixtures / "adamw_final").string();
    const std::string clean = "clean --base " + base + " --ref " + ref + " --data " + s.str("pool.jsonl") + " --with-scores";
    Run r = quiet(clean + " --out " + s.str("scored.jsonl") + " --keep 0.6", s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    for (const std::string policy :
         {"--keep 0.3", "--keep 0", "--keep 1", "--select sample --keep 0.5", "--select batch --select-batch 3 --keep 0.4",
          "--select threshold --threshold 0.01", "--select positive --keep 0.7", "--select random --select-seed 9",
          "--keep 0.2 --keep-eos", "--keep 0.1 --min-keep 2", "--select auto", "--select auto --auto-rule mixture --keep-eos"}) {
        BOOST_TEST_CONTEXT(policy) {
            r = quiet(clean + " --out " + s.str("direct.jsonl") + " " + policy, s);
            BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            const Run sel = quiet("select --data " + s.str("scored.jsonl") + " --out " + s.str("again.jsonl") +
                                      " --with-scores --model " + base + " " + policy,
                                  s);
            BOOST_REQUIRE_MESSAGE(sel.exit_code == 0, sel.err);
            BOOST_TEST(slurp(s / "again.jsonl") == slurp(s / "direct.jsonl"));
            json a = json::parse(sel.out), b = json::parse(r.out);  // the same counts, other file names
            a.erase("out");
            b.erase("out");
            BOOST_TEST(a == b, a.dump() << " vs " << b.dump());
        }
    }
    // Without --with-scores there is nothing to select from; --keep-eos needs the model's EOS.
    r = quiet(clean + " --out " + s.str("plain.jsonl"), s);
    BOOST_REQUIRE(r.exit_code == 0);
    expect_failure(quiet("select --data " + s.str("direct.jsonl") + " --out " + s.str("x.jsonl") + " --keep-eos", s),
                   {"--keep-eos: select needs --model DIR"}, s / "x.jsonl");
    write(s / "noscores.jsonl", "{\"input_ids\": [1, 2], \"labels\": [-100, 2]}\n");
    expect_failure(quiet("select --data " + s.str("noscores.jsonl") + " --out " + s.str("x.jsonl"), s),
                   {"noscores.jsonl:1: missing required field 'scores'"}, s / "x.jsonl");
    // Labels other than the input ids at targets cannot be restored: refused.
    write(s / "shifted.jsonl", "{\"input_ids\": [1, 2, 3], \"labels\": [-100, 3, -100], \"scores\": [null, 0.5, 0.1]}\n");
    expect_failure(quiet("select --data " + s.str("shifted.jsonl") + " --out " + s.str("x.jsonl"), s),
                   {"shifted.jsonl:1: field 'labels'[1]: 3 differs from input_ids[1] = 2"}, s / "x.jsonl");
}

BOOST_AUTO_TEST_CASE(clean_rejects_bad_settings_without_output) {
    Scratch s;
    const std::string base = (fixtures / "model").string(), ref = (fixtures / "adamw_final").string(),
                      data = (fixtures / "data.jsonl").string(), out = (s / "out.jsonl").string();
    expect_failure(quiet("clean --base " + base + " --data " + data + " --out " + out, s), {"--ref"}, s / "out.jsonl");
    expect_failure(quiet("clean --base " + base + " --ref " + ref + " --data " + data + " --out " + out + " --keep 1.5", s),
                   {"--keep", "1.5"}, s / "out.jsonl");
    expect_failure(quiet("clean --base " + base + " --ref " + ref + " --data " + data + " --out " + out + " --select top", s),
                   {"--select", "top"}, s / "out.jsonl");
    expect_failure(quiet("clean --base " + base + " --ref " + (fixtures / "missing").string() + " --data " + data +
                                " --out " + out, s),
                   {"missing"}, s / "out.jsonl");
}

// Whichever way the program was built (with the GPU plugin or without), a device it cannot
// use is a one-line error before anything is written.
BOOST_AUTO_TEST_CASE(device_flag_rejects_what_cannot_run) {
    Scratch s;
    const std::string score = " score --model " + (fixtures / "model").string() + " --data " +
                              (fixtures / "data.jsonl").string() + " --out " + (s / "out.jsonl").string();
    expect_failure(quiet("--device tpu" + score, s), {"--device", "'tpu'"}, s / "out.jsonl");
    expect_failure(quiet("--device cuda init --out " + (s / "m").string(), s), {"--device cuda"}, s / "m");
    // --device cpu and the default give the CPU's losses here (CI has no GPU).
    BOOST_TEST(quiet("--device cpu" + score, s).exit_code == 0);
    const auto cpu = read_jsonl(s / "out.jsonl");
    if (!fs::exists("/dev/nvidia0")) {
        BOOST_TEST(quiet(score, s).exit_code == 0);
        BOOST_TEST(read_jsonl(s / "out.jsonl") == cpu);
    }
}

// The Llama family through the program: score and a 5-step train against the PyTorch
// fixtures of tests/data/llama (sharded bf16 llama with llama3 RoPE, Qwen2 with biases,
// Qwen3 with q/k norms and a head_dim override).
BOOST_AUTO_TEST_CASE(score_and_train_of_llama_family_models_match_pytorch) {
    for (const std::string name : {"llama_scaled", "qwen2_tied_bias", "qwen3_head_dim"}) {
        BOOST_TEST_CONTEXT(name) {
            Scratch s;
            const fs::path dir = data_dir / "llama" / name;
            const std::string data = " --data " + (dir / "data.jsonl").string();
            const Run r = quiet("score --model " + (dir / "model").string() + data + " --out " + (s / "l.jsonl").string(), s);
            BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            expect_losses(read_jsonl(s / "l.jsonl"), json::parse(slurp(dir / "expected_losses.json"))["model"], 1e-4, false);

            const json traj = json::parse(slurp(dir / "adamw_trajectory.json"));
            const Run t = quiet("train --model " + (dir / "model").string() + data + " --out " + (s / "t").string() +
                                    " --steps 5 --batch-size 2 --lr 1e-3 --schedule constant --weight-decay " +
                                    traj["weight_decay"].dump() + " --no-shuffle",
                                s);
            BOOST_REQUIRE_MESSAGE(t.exit_code == 0, t.err);
            const Run a = quiet("score --model " + (s / "t").string() + data + " --out " + (s / "a.jsonl").string(), s);
            BOOST_REQUIRE_MESSAGE(a.exit_code == 0, a.err);
            expect_losses(read_jsonl(s / "a.jsonl"), traj["final_losses"], 1e-3, false);
            BOOST_TEST(json::parse(slurp(s / "t" / "config.json"))["model_type"] ==
                       json::parse(slurp(dir / "model" / "config.json"))["model_type"]);
        }
    }
}

// init --arch writes a model every verb takes: train and score on text, clean with it as the
// base and a trained copy as the reference.
BOOST_AUTO_TEST_CASE(init_arch_writes_a_llama_family_model_every_verb_takes) {
    Scratch s;
    write(s / "text.jsonl", "{\"prompt\": \"say hi\", \"completion\": \" hello\"}\n"
                            "{\"prompt\": \"say bye\", \"completion\": \" goodbye\"}\n");
    const std::string text = " --data " + (s / "text.jsonl").string();
    const Run i = quiet("init --out " + (s / "m").string() +
                            " --arch qwen3 --layers 2 --heads 4 --kv-heads 2 --embd 32 --head-dim 16 --intermediate 48 "
                            "--positions 64 --tie",
                        s);
    BOOST_REQUIRE_MESSAGE(i.exit_code == 0, i.err);
    const json config = json::parse(slurp(s / "m" / "config.json"));
    BOOST_TEST(config["architectures"][0] == "Qwen3ForCausalLM");
    BOOST_TEST(config["num_key_value_heads"] == 2);
    BOOST_TEST(config["head_dim"] == 16);
    BOOST_TEST(config["tie_word_embeddings"] == true);
    const Run t = quiet("train --model " + (s / "m").string() + text + " --out " + (s / "r").string() + " --steps 3 --lr 1e-2", s);
    BOOST_REQUIRE_MESSAGE(t.exit_code == 0, t.err);
    const Run c = quiet("clean --base " + (s / "m").string() + " --ref " + (s / "r").string() + text + " --out " +
                            (s / "c.jsonl").string() + " --keep 0.5",
                        s);
    BOOST_REQUIRE_MESSAGE(c.exit_code == 0, c.err);
    BOOST_TEST(read_jsonl(s / "c.jsonl").size() == 2u);
    // Flags of the Llama family are refused for GPT-2, not ignored; a mismatched reference is named.
    const Run g = quiet("init --out " + (s / "g").string() + " --kv-heads 2", s);
    BOOST_TEST(g.exit_code == 1);
    BOOST_TEST(g.err.find("--kv-heads: applies to --arch llama") != std::string::npos, g.err);
    BOOST_TEST(quiet("init --out " + (s / "l").string() + " --arch llama --layers 2 --heads 4 --embd 32", s).exit_code == 0);
    const Run x = quiet("clean --base " + (s / "m").string() + " --ref " + (s / "l").string() + text + " --out " +
                            (s / "x.jsonl").string(),
                        s);
    BOOST_TEST(x.exit_code == 1);
    BOOST_TEST(x.err.find("field 'model_type'") != std::string::npos, x.err);
    BOOST_TEST(!fs::exists(s / "x.jsonl"));
}

// The paper's recipe with LoRA: a warm-up adapter trained on the frozen base, used as clean's
// reference and evolve's warm-up (each θ_t an adapter on the base), scored with --adapter,
// merged into a plain model that scores the same; misuse refused, nothing written.
// --dtype bf16 on a checkpoint stored in BF16 (llama_scaled), its weights widened exactly (the
// AVX-512 kernels without bf16 dot products, or the generic ones): scores, a cleaned file and a
// LoRA adapter trained on it are the bytes --dtype fp32 gives; what bf16 weights cannot do is
// refused.
BOOST_AUTO_TEST_CASE(bf16_weights_through_score_clean_and_lora_train_match_fp32_bit_for_bit) {
    Scratch s;
    const fs::path dir = data_dir / "llama" / "llama_scaled";
    const std::string model = (dir / "model").string(), data = " --data " + (dir / "data.jsonl").string();
    const char* kernels = std::getenv("TOKCLEAN_CPU");
    const std::string exact = kernels && std::string(kernels) == "generic" ? "TOKCLEAN_CPU=generic" : "TOKCLEAN_CPU=avx512";
    const auto run = [&](const std::string& args) { return tokclean("--quiet " + args, s, exact); };
    for (const std::string dtype : {"fp32", "bf16"}) {
        const std::string d = " --dtype " + dtype;
        const Run r = run("score --model " + model + data + " --out " + (s / ("l_" + dtype)).string() + d);
        BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        const Run t = run("train --model " + model + data + " --out " + (s / ("a_" + dtype)).string() + d +
                          " --steps 3 --batch-size 2 --lr 1e-2 --lora-r 4 --lora-dropout 0.1");
        BOOST_REQUIRE_MESSAGE(t.exit_code == 0, t.err);
        const Run c = run("clean --base " + model + " --ref " + (s / ("a_" + dtype)).string() + data + " --out " +
                          (s / ("c_" + dtype)).string() + d + " --with-scores");
        BOOST_REQUIRE_MESSAGE(c.exit_code == 0, c.err);
    }
    BOOST_TEST(slurp(s / "l_fp32") == slurp(s / "l_bf16"));
    BOOST_TEST(slurp(s / "a_fp32" / "adapter_model.safetensors") == slurp(s / "a_bf16" / "adapter_model.safetensors"));
    BOOST_TEST(slurp(s / "c_fp32") == slurp(s / "c_bf16"));
    // Frozen: training every weight, or evolving full references, is refused before any work.
    expect_failure(quiet("train --model " + model + data + " --out " + (s / "full").string() + " --dtype bf16 --steps 1", s),
                   {"--dtype bf16 holds --model's weights frozen", "--lora-r"}, s / "full");
    expect_failure(quiet("evolve --base " + model + data + " --out " + (s / "ev").string() + " --dtype bf16 --chunks 2", s),
                   {"--dtype bf16 holds the base's weights frozen"}, s / "ev");
    // GPT-2 keeps float32 weights; an unknown dtype is a usage error.
    BOOST_REQUIRE(quiet("init --out " + (s / "g").string() + " --layers 1 --heads 2 --embd 16 --positions 32", s).exit_code == 0);
    expect_failure(quiet("score --model " + (s / "g").string() + data + " --out " + (s / "g.jsonl").string() + " --dtype bf16", s),
                   {"--dtype bf16: model_type \"gpt2\""}, s / "g.jsonl");
    const Run bad = quiet("score --model " + model + data + " --out " + (s / "x.jsonl").string() + " --dtype fp16", s);
    BOOST_TEST(bad.exit_code != 0);
    BOOST_TEST(bad.err.find("--dtype") != std::string::npos, bad.err);
    // init --dtype bf16 writes init's float32 values rounded, in BF16: read as float32, it scores
    // as the float32 init read with --dtype bf16.
    const std::string shape = " --arch qwen2 --layers 2 --heads 4 --kv-heads 2 --embd 32 --positions 64 --seed 5";
    BOOST_REQUIRE(quiet("init --out " + (s / "i32").string() + shape, s).exit_code == 0);
    const Run i16 = quiet("init --out " + (s / "i16").string() + shape + " --dtype bf16", s);
    BOOST_REQUIRE_MESSAGE(i16.exit_code == 0, i16.err);
    BOOST_TEST(json::parse(slurp(s / "i16" / "config.json"))["torch_dtype"] == "bfloat16");
    BOOST_TEST(fs::file_size(s / "i16" / "model.safetensors") < fs::file_size(s / "i32" / "model.safetensors") * 0.55);
    write(s / "text.jsonl", "{\"text\": \"bf16 weights, one line\"}\n{\"text\": \"and another\"}\n");
    const std::string text = " --data " + (s / "text.jsonl").string();
    BOOST_REQUIRE(run("score --model " + (s / "i16").string() + text + " --out " + (s / "s16").string()).exit_code == 0);
    BOOST_REQUIRE(run("score --model " + (s / "i32").string() + text + " --out " + (s / "s32").string() + " --dtype bf16")
                      .exit_code == 0);
    BOOST_TEST(slurp(s / "s16") == slurp(s / "s32"));
    expect_failure(quiet("init --out " + (s / "g16").string() + " --layers 1 --heads 2 --embd 16 --dtype bf16", s),
                   {"--dtype: applies to --arch llama"}, s / "g16");
}

BOOST_AUTO_TEST_CASE(lora_adapters_through_train_score_clean_evolve_and_merge) {
    Scratch s;
    std::string rows;
    for (int i = 0; i < 12; ++i)
        rows += "{\"prompt\": \"Q: upper " + std::string(1, static_cast<char>('a' + i)) + "x\\nA: \", \"completion\": \"" +
                std::string(1, static_cast<char>('A' + i)) + "X. ok\"}\n";
    write(s / "text.jsonl", rows);
    const std::string text = " --data " + (s / "text.jsonl").string();
    const std::string m = (s / "m").string(), a = (s / "a").string();
    BOOST_REQUIRE(quiet("init --out " + m + " --arch llama --layers 2 --heads 4 --kv-heads 2 --embd 32 --positions 64", s)
                      .exit_code == 0);
    const std::string base_bytes = slurp(s / "m" / "model.safetensors");
    const Run t = quiet("train --model " + m + text + " --out " + a +
                            " --steps 6 --lr 1e-2 --batch-size 4 --lora-r 4 --lora-alpha 8 --lora-dropout 0.1 "
                            "--lora-targets q_proj,v_proj,down_proj",
                        s);
    BOOST_REQUIRE_MESSAGE(t.exit_code == 0, t.err);
    BOOST_TEST(slurp(s / "m" / "model.safetensors") == base_bytes);  // the base is not touched
    BOOST_TEST(!fs::exists(s / "a" / "model.safetensors"));
    const json cfg = json::parse(slurp(s / "a" / "adapter_config.json"));
    BOOST_TEST(cfg["r"] == 4);
    BOOST_TEST(cfg["target_modules"] == json({"q_proj", "v_proj", "down_proj"}));
    // base + adapter scores otherwise than the base, and as the merged model does.
    BOOST_REQUIRE(quiet("score --model " + m + " --adapter " + a + text + " --out " + (s / "sa.jsonl").string(), s).exit_code == 0);
    BOOST_REQUIRE(quiet("score --model " + m + text + " --out " + (s / "sb.jsonl").string(), s).exit_code == 0);
    const Run mg = quiet("merge --model " + m + " --adapter " + a + " --out " + (s / "merged").string(), s);
    BOOST_REQUIRE_MESSAGE(mg.exit_code == 0, mg.err);
    BOOST_REQUIRE(quiet("score --model " + (s / "merged").string() + text + " --out " + (s / "sm.jsonl").string(), s).exit_code == 0);
    const auto sa = read_jsonl(s / "sa.jsonl"), sb = read_jsonl(s / "sb.jsonl"), sm = read_jsonl(s / "sm.jsonl");
    double to_base = 0, to_merged = 0;
    for (std::size_t i = 0; i < sa.size(); ++i)
        for (std::size_t j = 0; j < sa[i]["losses"].size(); ++j)
            if (!sa[i]["losses"][j].is_null()) {
                to_base = std::max(to_base, std::abs(sa[i]["losses"][j].get<double>() - sb[i]["losses"][j].get<double>()));
                to_merged = std::max(to_merged, std::abs(sa[i]["losses"][j].get<double>() - sm[i]["losses"][j].get<double>()));
            }
    BOOST_TEST(to_base > 1e-3);
    BOOST_TEST(to_merged < 1e-5);
    // The adapter as clean's reference and evolve's warm-up.
    const Run c = quiet("clean --base " + m + " --ref " + a + text + " --out " + (s / "c.jsonl").string(), s);
    BOOST_REQUIRE_MESSAGE(c.exit_code == 0, c.err);
    const Run e = quiet("evolve --base " + m + " --warmup " + a + text + " --out " + (s / "e").string() +
                            " --chunks 2 --steps 2 --batch-size 4",
                        s);
    BOOST_REQUIRE_MESSAGE(e.exit_code == 0, e.err);
    BOOST_TEST(fs::exists(s / "e" / "adapter_model.safetensors"));
    BOOST_TEST(fs::exists(s / "e" / "cleaned.jsonl"));
    // Or chunk 0 trains a new adapter: every reference, and the result, an adapter on the base.
    const Run e2 = quiet("evolve --base " + m + text + " --out " + (s / "e2").string() +
                             " --chunks 3 --steps 2 --batch-size 4 --lora-r 4 --lora-dropout 0.1",
                         s);
    BOOST_REQUIRE_MESSAGE(e2.exit_code == 0, e2.err);
    BOOST_TEST(json::parse(slurp(s / "e2" / "adapter_config.json"))["r"] == 4);
    BOOST_TEST(!fs::exists(s / "e2" / "model.safetensors"));
    expect_failure(quiet("evolve --base " + m + " --warmup " + a + text + " --out " + (s / "refused").string() +
                             " --chunks 2 --lora-r 4",
                         s),
                   {"--lora-r trains a new adapter in chunk 0"}, s / "refused");
    // Continue training the adapter; then misuse.
    BOOST_TEST(quiet("train --model " + m + " --adapter " + a + text + " --out " + (s / "a2").string() + " --steps 2", s)
                   .exit_code == 0);
    expect_failure(quiet("train --model " + m + " --adapter " + a + text + " --out " + (s / "refused").string() + " --lora-r 4", s),
                   {"--lora-r starts a new adapter"}, s / "refused");
    expect_failure(quiet("train --model " + m + text + " --out " + (s / "refused").string() + " --lora-r 4 --lora-targets lm_head", s),
                   {"--lora-targets", "\"lm_head\" is not a linear layer"}, s / "refused");
    expect_failure(quiet("train --model " + m + text + " --out " + (s / "refused").string() + " --lora-dropout 0.1", s),
                   {"need --lora-r"}, s / "refused");
    const std::string other = (s / "other").string();
    BOOST_REQUIRE(quiet("init --out " + other + " --arch llama --layers 2 --heads 4 --embd 48 --positions 64", s).exit_code == 0);
    expect_failure(quiet("score --model " + other + " --adapter " + a + text + " --out " + (s / "refused.jsonl").string(), s),
                   {"adapter_model.safetensors", "expected shape"}, s / "refused.jsonl");
    // A run the memory left cannot hold is refused before it allocates, with the estimate:
    // weights that cannot load before they are read; then, with room for the weights alone,
    // the gradients, AdamW's moments and the activations.
    expect_failure(tokclean("--quiet score --model " + m + text + " --out " + (s / "refused.jsonl").string(), s,
                            "TOKCLEAN_MEMORY_LIMIT=1K"),
                   {"weights need about", "in float32 but 0.00 GiB is available", "--dtype bf16"}, s / "refused.jsonl");
    const std::string weights_only = "TOKCLEAN_MEMORY_LIMIT=" + std::to_string(fs::file_size(s / "m" / "model.safetensors") + 4096);
    expect_failure(tokclean("--quiet train --model " + m + text + " --out " + (s / "refused").string(), s, weights_only),
                   {"train: needs about", "AdamW", "TOKCLEAN_MEMORY_LIMIT allows", ": lower --batch-size"}, s / "refused");
    expect_failure(tokclean("--quiet score --model " + m + text + " --out " + (s / "refused.jsonl").string(), s,
                            weights_only),
                   {"score: needs about"}, s / "refused.jsonl");
    // --batch-size 0 sizes the batches from the memory available.
    const Run sized = tokclean("score --model " + m + text + " --out " + (s / "sized.jsonl").string() + " --batch-size 0", s,
                               "TOKCLEAN_MEMORY_LIMIT=64G");
    BOOST_REQUIRE_MESSAGE(sized.exit_code == 0, sized.err);
    BOOST_TEST(sized.err.find("--batch-size 0: 64 examples per forward pass") != std::string::npos, sized.err);
}

BOOST_AUTO_TEST_CASE(evolve_killed_mid_run_and_restarted_gives_the_same_model) {
    Scratch s;
    write_random_pool(s / "pool.jsonl", 23, 160);
    const std::string args = "--quiet evolve --base " + (fixtures / "model").string() + " --data " +
                             (s / "pool.jsonl").string() + " --chunks 4 --epochs 6 --batch-size 4 --lr 1e-3";
    const Run clean_run = quiet(args.substr(8) + " --out " + (s / "clean").string(), s);
    BOOST_REQUIRE_MESSAGE(clean_run.exit_code == 0, clean_run.err);

    // Start the same run, SIGKILL it once it has finished chunk 1 (it is then inside chunk 2).
    const fs::path progress = s / "killed.work" / "progress.json";
    Background run(args + " --out " + (s / "killed").string(), s, "killed");
    const bool killed = run.wait_for(
        [&] { return fs::exists(progress) && slurp(progress).find("\"chunks_done\":2") != std::string::npos; }, 60.0);
    if (killed) run.signal(SIGKILL);
    run.wait();
    BOOST_REQUIRE_MESSAGE(killed, "the run ended before it could be killed");
    BOOST_REQUIRE(!fs::exists(s / "killed"));  // really interrupted: no final model yet

    const Run resumed = quiet(args.substr(8) + " --out " + (s / "killed").string(), s);
    BOOST_REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.err);
    BOOST_TEST(slurp(s / "killed" / "model.safetensors") == slurp(s / "clean" / "model.safetensors"));
    BOOST_TEST(slurp(s / "killed" / "cleaned.jsonl") == slurp(s / "clean" / "cleaned.jsonl"));
    BOOST_TEST(!fs::exists(s / "killed.work"));  // the work directory is gone after success

    // --keep-work keeps it: every cleaned chunk, and the last reference, for inspection.
    const Run kept = quiet(args.substr(8) + " --out " + (s / "kept").string() + " --keep-work", s);
    BOOST_REQUIRE_MESSAGE(kept.exit_code == 0, kept.err);
    BOOST_TEST(slurp(s / "kept" / "cleaned.jsonl") == slurp(s / "clean" / "cleaned.jsonl"));
    for (const char* name : {"chunk_0.jsonl", "chunk_1.jsonl", "chunk_2.jsonl", "chunk_3.jsonl", "progress.json",
                             "model_4/model.safetensors"})
        BOOST_TEST(fs::exists(s / "kept.work" / name), name);
}

BOOST_AUTO_TEST_CASE(eval_loss_is_the_mean_of_score_and_a_memorised_set_is_exact) {
    Scratch s;
    const std::string data = (fixtures / "data.jsonl").string();
    const Run e = quiet("eval --model " + (fixtures / "model").string() + " --data " + data, s);
    BOOST_REQUIRE_MESSAGE(e.exit_code == 0, e.err);
    const json ev = json::parse(slurp(s / "stdout.txt"));
    const json want = json::parse(slurp(fixtures / "expected_losses.json"));
    BOOST_TEST(ev["loss"].get<double>() == want["batch_mean_loss"].get<double>(), boost::test_tools::tolerance(1e-5));
    BOOST_TEST(ev["tokens"] == 28);
    BOOST_TEST(ev["examples"] == 4);
    // Sampled exact match = mean over examples of P(all targets), from PyTorch's token losses.
    double p_sum = 0.0;
    for (const auto& example : want["model"]) {
        double example_loss = 0.0;
        for (const auto& loss : example)
            if (!loss.is_null()) example_loss += loss.get<double>();
        p_sum += std::exp(-example_loss);
    }
    BOOST_TEST(ev["sampled_exact_match"].get<double>() == p_sum / 4.0, boost::test_tools::tolerance(1e-4));

    write(s / "rep.jsonl", "{\"text\": \"abcabcabcabc\"}\n");
    BOOST_REQUIRE(quiet("init --out " + (s / "m").string() + " --layers 1 --heads 2 --embd 32 --positions 16", s).exit_code == 0);
    BOOST_REQUIRE(quiet("train --model " + (s / "m").string() + " --data " + (s / "rep.jsonl").string() + " --out " +
                               (s / "t").string() + " --steps 60 --lr 1e-2 --schedule constant", s).exit_code == 0);
    BOOST_REQUIRE(quiet("eval --model " + (s / "t").string() + " --data " + (s / "rep.jsonl").string(), s).exit_code == 0);
    const json mem = json::parse(slurp(s / "stdout.txt"));
    BOOST_TEST(mem["token_accuracy"].get<double>() == 1.0);
    BOOST_TEST(mem["exact_match"].get<double>() == 1.0);
    BOOST_TEST(mem["sampled_exact_match"].get<double>() > 0.5);  // sure of every token of the text
    BOOST_REQUIRE(quiet("generate --model " + (s / "t").string() + " --prompt abcab --max-new-tokens 4", s).exit_code == 0);
    BOOST_TEST(json::parse(slurp(s / "stdout.txt"))["completion"] == "cabc");
}

BOOST_AUTO_TEST_CASE(rho1_online_training_and_tokenize_run) {
    Scratch s;
    const std::string data = (fixtures / "data.jsonl").string();
    const Run r = quiet("train --model " + (fixtures / "model").string() + " --ref " + (fixtures / "adamw_final").string() +
                               " --select batch --keep 0.5 --data " + data + " --out " + (s / "rho").string() +
                               " --steps 3 --batch-size 2 --no-shuffle", s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(fs::exists(s / "rho" / "model.safetensors"));
    const Run a = quiet("train --model " + (fixtures / "model").string() + " --ref " + (fixtures / "adamw_final").string() +
                            " --select auto --data " + data + " --out " + (s / "rho_auto").string() +
                            " --steps 3 --batch-size 2 --no-shuffle", s);
    BOOST_REQUIRE_MESSAGE(a.exit_code == 0, a.err);
    BOOST_TEST(slurp(s / "rho_auto" / "model.safetensors") != slurp(s / "rho" / "model.safetensors"));  // other tokens
    const Run t = quiet("tokenize --model " + (fixtures / "model").string() + " --data " + data + " --out " +
                               (s / "tok.jsonl").string(), s);
    BOOST_REQUIRE_MESSAGE(t.exit_code == 0, t.err);
    const auto rows = read_jsonl(s / "tok.jsonl"), orig = read_jsonl(fixtures / "data.jsonl");
    BOOST_REQUIRE_EQUAL(rows.size(), orig.size());
    for (std::size_t i = 0; i < rows.size(); ++i) BOOST_TEST(rows[i] == orig[i]);
}

BOOST_AUTO_TEST_CASE(tokenize_with_gpt2_bpe_matches_the_reference_encoder_on_every_vector) {
    Scratch s;
    const fs::path bpe = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_bpe";
    BOOST_REQUIRE(quiet("init --out " + (s / "m").string() + " --tokenizer " + bpe.string() +
                               " --layers 1 --heads 2 --embd 16 --positions 64", s).exit_code == 0);
    const json config = json::parse(slurp(s / "m" / "config.json"));
    BOOST_TEST(config["vocab_size"] == 50257);
    BOOST_TEST(config["eos_token_id"] == 50256);
    // The vectors as {"text"} lines (every token a target, nothing appended).
    const auto vectors = read_jsonl(bpe / "vectors.jsonl");
    {
        std::ofstream out(s / "texts.jsonl");
        for (const auto& v : vectors)
            if (!v["text"].get<std::string>().empty()) out << json{{"text", v["text"]}}.dump() << "\n";
    }
    const Run r = quiet("tokenize --model " + (s / "m").string() + " --data " + (s / "texts.jsonl").string() +
                               " --out " + (s / "ids.jsonl").string(), s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto got = read_jsonl(s / "ids.jsonl");
    std::size_t i = 0, compared = 0;
    for (const auto& v : vectors) {
        if (v["text"].get<std::string>().empty()) continue;
        BOOST_TEST(got[i]["input_ids"] == v["ids"], "vector " << compared);
        ++i;
        ++compared;
    }
    BOOST_TEST(compared > 400u);
}

// A downloaded model's tokenizer through the program: init --arch llama/qwen3 --tokenizer
// copies tokenizer.json and tokenizer_config.json and sizes the vocabulary; tokenize renders
// {"messages"} lines with the model's chat template into the ids jinja2 + Hugging Face's Rust
// tokenizers give (tests/data/hf_tokenizers/chat_tokens.jsonl), puts <|begin_of_text|>
// before {"text"} and {"prompt"}, and a Llama-family directory as downloaded (no
// tokclean_tokenizer field) reads its tokenizer.json the same way.
BOOST_AUTO_TEST_CASE(llama_and_qwen_tokenizers_and_chat_templates_through_the_program) {
    Scratch s;
    const auto conversations = read_jsonl(fs::path(TOKCLEAN_TEST_DATA) / "hf_tokenizers" / "chat_tokens.jsonl");
    for (const std::string name : {"llama3_1", "qwen3"}) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path model = s / ("m_" + name);
            const Run init = quiet("init --out " + model.string() + " --arch " + (name == "qwen3" ? "qwen3" : "llama") +
                                       " --tokenizer " + (fs::path(TOKCLEAN_HF_TOKENIZERS) / name).string() +
                                       " --layers 1 --heads 2 --embd 16 --positions 2048", s);
            BOOST_REQUIRE_MESSAGE(init.exit_code == 0, init.err);
            BOOST_TEST(fs::exists(model / "tokenizer_config.json"));
            const json config = json::parse(slurp(model / "config.json"));
            BOOST_TEST(config["vocab_size"] == (name == "qwen3" ? 151669 : 128256));
            BOOST_TEST(config["eos_token_id"] == (name == "qwen3" ? 151645 : 128009));  // <|im_end|>, <|eot_id|>
            std::vector<json> want;
            {
                std::ofstream out(s / (name + ".jsonl"));
                for (const auto& c : conversations)
                    if (c["template"] == name && want.size() < 40) {
                        out << json{{"messages", c["messages"]}}.dump() << "\n";
                        want.push_back(c["ids"]);
                    }
                out << json{{"text", "Hello world"}}.dump() << "\n" << json{{"prompt", "Q?"}, {"completion", " A."}}.dump() << "\n";
            }
            const Run r = quiet("tokenize --model " + model.string() + " --data " + (s / (name + ".jsonl")).string() +
                                    " --out " + (s / (name + ".tok.jsonl")).string(), s);
            BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            const auto got = read_jsonl(s / (name + ".tok.jsonl"));
            BOOST_REQUIRE(got.size() == want.size() + 2);
            for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST(got[i]["input_ids"] == want[i], "conversation " << i);
            const json& text = got[want.size()];
            const json& pc = got[want.size() + 1];
            if (name == "llama3_1") {
                BOOST_TEST(text["input_ids"][0] == 128000);  // <|begin_of_text|>, not a target
                BOOST_TEST(text["labels"][0] == -100);
                BOOST_TEST(pc["input_ids"][0] == 128000);
                BOOST_TEST(pc["input_ids"].back() == 128009);  // EOS = tokenizer_config's eos_token
            } else {
                BOOST_TEST(text["input_ids"].size() == 2u);  // "Hello", " world": Qwen adds nothing
                BOOST_TEST(pc["input_ids"].back() == 151645);
            }
            // generate reads its prompt the same way (BOS first for Llama) and decodes.
            const Run gen = quiet("generate --model " + model.string() + " --prompt Hello --max-new-tokens 3", s);
            BOOST_REQUIRE_MESSAGE(gen.exit_code == 0, gen.err);
            BOOST_TEST(json::parse(gen.out)["completion"].is_string());
        }
    }
    // As downloaded: no tokclean_tokenizer in config.json, tokenizer.json beside it.
    json config = json::parse(slurp(s / "m_llama3_1" / "config.json"));
    config.erase("tokclean_tokenizer");
    std::ofstream(s / "m_llama3_1" / "config.json") << config.dump(2);
    const Run r = quiet("tokenize --model " + (s / "m_llama3_1").string() + " --data " + (s / "llama3_1.jsonl").string() +
                            " --out " + (s / "again.jsonl").string(), s);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(read_jsonl(s / "again.jsonl") == read_jsonl(s / "llama3_1.tok.jsonl"));
}
