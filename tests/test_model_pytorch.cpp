// The model against an independent PyTorch implementation (tests/python/gpt2_reference.py):
// per-token losses of F32, F16 and prefixed BF16 model directories, every parameter's
// gradient, and a 5-step AdamW trajectory. Fixtures: tests/data/gpt2_tiny, made by
// tests/python/make_fixtures.py (PyTorch is not needed to run these tests).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/model_dir.hpp"
#include "tokclean/nn/token_losses.hpp"
#include "tokclean/nn/trainer.hpp"

#include "pytorch_fixtures.hpp"

using namespace tokclean;
using tokclean::test::check_losses;
using tokclean::test::read_json;
using tokclean::test::score_all;
using tokclean::test::train_as_recorded;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_tiny";

std::vector<Example> fixture_examples(const GptConfig& c) {
    ReadOptions ro;
    ro.vocab_size = c.vocab_size;
    return read_examples(fixtures / "data.jsonl", ro).examples;
}

}  // namespace

BOOST_AUTO_TEST_CASE(per_token_losses_match_pytorch_for_f32_f16_and_prefixed_bf16) {
    const auto expected = read_json(fixtures / "expected_losses.json");
    for (const char* dir : {"model", "model_f16", "model_bf16_prefixed"}) {
        BOOST_TEST_CONTEXT(dir) {
            LoadedModel m = load_model_dir(fixtures / dir);
            const auto data = fixture_examples(m.config);
            Gpt<Cpu> model(m.config, std::move(m.params));
            // Alone and batched (padding must not change any loss).
            check_losses(expected[dir], score_all(model, data, 1), 1e-5);
            check_losses(expected[dir], score_all(model, data, 4), 1e-5);
        }
    }
}

BOOST_AUTO_TEST_CASE(batch_gradients_match_pytorch_for_every_parameter) {
    LoadedModel m = load_model_dir(fixtures / "model");
    const auto data = fixture_examples(m.config);
    Gpt<Cpu> model(m.config, std::move(m.params));
    const Batch batch = make_batch(std::span<const Example>(data));
    const float loss = model.forward(batch.input_ids.data(), batch.labels.data(),
                                     batch.batch_size(), batch.seq_len());
    const auto expected_loss = read_json(fixtures / "expected_losses.json")["batch_mean_loss"].get<double>();
    BOOST_TEST(std::abs(loss - expected_loss) <= 1e-5 * expected_loss);
    model.zero_grad();
    model.backward();

    const SafetensorsFile grads(fixtures / "expected_grads.safetensors");
    std::size_t compared = 0;
    for (const auto& key : gpt_param_keys(m.config)) {
        BOOST_TEST_CONTEXT(key.name) {
            BOOST_REQUIRE(grads.contains(key.name));
            const Tensor<float> want = grads.to_float(key.name);
            const float* got = detail::param_slice(model.grads(), key);
            float scale = 0.0f;
            for (float w : want.span()) scale = std::max(scale, std::abs(w));
            double worst = 0.0;
            for (std::int64_t i = 0; i < want.numel(); ++i)
                worst = std::max(worst, static_cast<double>(std::abs(got[i] - want.data()[i])));
            // Within 1e-4 of the tensor's largest gradient entry.
            BOOST_TEST(worst <= 1e-4 * std::max(scale, 1e-3f), "worst |diff| " << worst << ", max |grad| " << scale);
            ++compared;
        }
    }
    BOOST_TEST(compared == grads.names().size());
}

BOOST_AUTO_TEST_CASE(five_adamw_steps_follow_the_pytorch_trajectory) {
    for (const char* file : {"adamw_trajectory.json", "adamw_trajectory_wd0.json"}) {
        BOOST_TEST_CONTEXT(file) {
            const auto traj = read_json(fixtures / file);
            LoadedModel m = load_model_dir(fixtures / "model");
            const auto data = fixture_examples(m.config);
            Gpt<Cpu> model(m.config, std::move(m.params));
            train_as_recorded(model, data, traj);
        }
    }
}
