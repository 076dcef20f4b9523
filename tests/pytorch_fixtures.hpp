#pragma once
// What the model tests share to compare a model with its committed PyTorch fixtures: the Llama
// family's cases and their data, reading a fixture's JSON, scoring every example, comparing
// per-token losses, and replaying a recorded AdamW run.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/nn/causal_lm.hpp"
#include "tokclean/nn/token_losses.hpp"
#include "tokclean/nn/trainer.hpp"

namespace tokclean::test {

// tests/data/llama/<case> (made by tests/python/make_llama_fixtures.py): llama_scaled is stored
// BF16 in two shards, the others F32.
inline const std::filesystem::path llama_fixtures = std::filesystem::path(TOKCLEAN_TEST_DATA) / "llama";
inline const char* const llama_cases[] = {"llama_scaled", "llama_tied", "mistral_one_kv", "qwen2_tied_bias",
                                          "qwen3_head_dim"};

// A case's data.jsonl (pre-tokenized) for `model`'s vocabulary.
inline std::vector<Example> case_examples(const std::filesystem::path& dir, const CausalLm<Cpu>& model) {
    ReadOptions ro;
    ro.vocab_size = model.info().vocab_size;
    return read_examples(dir / "data.jsonl", ro).examples;
}

inline nlohmann::json read_json(const std::filesystem::path& p) {
    std::ifstream in(p);
    BOOST_REQUIRE_MESSAGE(in, "missing fixture " << p);
    return nlohmann::json::parse(in);
}

// Every example's per-token losses (NaN where not a target), scored in batches of batch_size.
inline std::vector<std::vector<float>> score_all(CausalLm<Cpu>& model, const std::vector<Example>& data,
                                                 std::int64_t batch_size) {
    std::vector<std::vector<float>> out(data.size());
    score_examples(model, std::span<const Example>(data), batch_size,
                   [&](std::size_t i, std::span<const float> l) { out[i].assign(l.begin(), l.end()); });
    return out;
}

// Per-token losses against the fixture's (null = not a target), within a relative tolerance.
inline void check_losses(const nlohmann::json& expected, const std::vector<std::vector<float>>& got, double rel_tol) {
    BOOST_REQUIRE_EQUAL(expected.size(), got.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        BOOST_REQUIRE_EQUAL(expected[i].size(), got[i].size());
        for (std::size_t j = 0; j < got[i].size(); ++j) {
            BOOST_TEST_CONTEXT("example " << i << ", position " << j) {
                if (expected[i][j].is_null()) {
                    BOOST_TEST(std::isnan(got[i][j]));
                } else {
                    const double e = expected[i][j].get<double>();
                    BOOST_TEST(std::abs(got[i][j] - e) <= rel_tol * std::abs(e), got[i][j] << " vs " << e);
                }
            }
        }
    }
}

// Trains `model` on `data` as a fixture's adamw_trajectory.json records (its steps, batch size,
// learning rate and weight decay; constant rate, file order) and checks each step's loss and
// the final per-token losses against PyTorch's within 1e-4.
inline void train_as_recorded(CausalLm<Cpu>& model, const std::vector<Example>& data, const nlohmann::json& traj) {
    TrainOptions opt;
    opt.steps = traj["steps"].get<std::int64_t>();
    opt.batch_size = traj["batch_size"].get<std::int64_t>();
    opt.lr = traj["lr"].get<double>();
    opt.schedule = ScheduleKind::constant;
    opt.weight_decay = traj["weight_decay"].get<double>();
    opt.shuffle = false;
    std::vector<float> step_losses;
    train(model, std::span<const Example>(data), opt, [&](const TrainStep& s) { step_losses.push_back(s.loss); });
    const auto& want = traj["step_losses"];
    BOOST_REQUIRE_EQUAL(step_losses.size(), want.size());
    for (std::size_t k = 0; k < want.size(); ++k) {
        const double w = want[k].get<double>();
        BOOST_TEST(std::abs(step_losses[k] - w) <= 1e-4 * w, "step " << k);
    }
    check_losses(traj["final_losses"], score_all(model, data, 1), 1e-4);
}

}  // namespace tokclean::test
