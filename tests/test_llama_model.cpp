// The Llama family (llama, mistral, qwen2, qwen3) against an independent PyTorch reference
// (tests/python/llama_reference.py): per-token losses (one example at a time and batched),
// every parameter's gradient, a 5-step AdamW run; saving and loading back; and the config.json
// settings tokclean refuses, each named. Fixtures: tests/data/llama/<case>, made by
// tests/python/make_llama_fixtures.py (PyTorch is not needed to run these tests).
#define BOOST_TEST_MODULE llama_model
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/llama_init.hpp"
#include "tokclean/nn/load_model.hpp"
#include "tokclean/nn/token_losses.hpp"
#include "tokclean/nn/trainer.hpp"
#include "pytorch_fixtures.hpp"
#include "temp_dir.hpp"

using namespace tokclean;
using tokclean::test::check_losses;
using tokclean::test::read_json;
using tokclean::test::score_all;
using tokclean::test::train_as_recorded;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path& fixtures = tokclean::test::llama_fixtures;
const auto& cases = tokclean::test::llama_cases;
using tokclean::test::case_examples;

const LlamaConfig& config_of(const CausalLm<Cpu>& m) {
    const auto* llama = dynamic_cast<const Llama<Cpu>*>(&m);
    BOOST_REQUIRE(llama);
    return llama->config();
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_case_loads_as_its_architecture) {
    const std::map<std::string, std::string> types = {{"llama_scaled", "llama"}, {"llama_tied", "llama"},
                                                      {"mistral_one_kv", "mistral"}, {"qwen2_tied_bias", "qwen2"},
                                                      {"qwen3_head_dim", "qwen3"}};
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const auto model = load_causal_lm<Cpu>(fixtures / name / "model");
            const ModelInfo info = model->info();
            BOOST_TEST(info.model_type == types.at(name));
            BOOST_TEST(info.tokenizer.empty());  // no tokclean_tokenizer: pre-tokenized data only
            const auto cfg = read_json(fixtures / name / "model" / "config.json");
            BOOST_TEST(info.eos_token_id == cfg["eos_token_id"].get<int>());
            BOOST_TEST(info.vocab_size == cfg["vocab_size"].get<int>());
            BOOST_TEST(read_model_info(fixtures / name / "model").model_type == info.model_type);
        }
    }
    // What each case stands for.
    const auto qwen2 = load_causal_lm<Cpu>(fixtures / "qwen2_tied_bias" / "model");
    BOOST_TEST(config_of(*qwen2).qkv_bias);
    BOOST_TEST(config_of(*qwen2).tied);
    BOOST_TEST(config_of(*qwen2).sliding_window == 0);  // use_sliding_window false
    const auto qwen3 = load_causal_lm<Cpu>(fixtures / "qwen3_head_dim" / "model");
    BOOST_TEST(config_of(*qwen3).qk_norm);
    BOOST_TEST(config_of(*qwen3).head_dim == 16);
    const auto scaled = load_causal_lm<Cpu>(fixtures / "llama_scaled" / "model");
    BOOST_TEST(config_of(*scaled).rope_scaling.llama3);
    BOOST_TEST(config_of(*scaled).kv_heads == 2);
}

BOOST_AUTO_TEST_CASE(per_token_losses_match_pytorch_alone_and_batched) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto model = load_causal_lm<Cpu>(dir / "model");
            const auto data = case_examples(dir, *model);
            const auto expected = read_json(dir / "expected_losses.json");
            check_losses(expected["model"], score_all(*model, data, 1), 1e-5);
            check_losses(expected["model"], score_all(*model, data, 4), 1e-5);  // padding changes nothing

            // The scoring forward (one layer's activations, reused) and the forward kept for
            // backward give the same losses bit for bit, in either order; backward() needs the latter.
            const Batch batch = make_batch(std::span<const Example>(data).first(std::min<std::size_t>(3, data.size())));
            const auto losses_of = [&](ForwardFor purpose) {
                model->forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(), batch.seq_len(), purpose);
                const auto l = model->token_losses();
                return std::vector<float>(l.begin(), l.end());
            };
            const auto scored = losses_of(ForwardFor::scoring);
            const auto kept = losses_of(ForwardFor::backward);
            BOOST_TEST(std::memcmp(scored.data(), kept.data(), scored.size() * sizeof(float)) == 0);
            BOOST_TEST(std::memcmp(losses_of(ForwardFor::scoring).data(), kept.data(), kept.size() * sizeof(float)) == 0);
            BOOST_CHECK_THROW(model->backward(), Error);
        }
    }
}

BOOST_AUTO_TEST_CASE(batch_gradients_match_pytorch_for_every_parameter) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto model = load_causal_lm<Cpu>(dir / "model");
            const auto data = case_examples(dir, *model);
            const Batch batch = make_batch(std::span<const Example>(data));
            const float loss = model->forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(),
                                              batch.seq_len());
            const double want_loss = read_json(dir / "expected_losses.json")["batch_mean_loss"].get<double>();
            BOOST_TEST(std::abs(loss - want_loss) <= 1e-5 * want_loss);
            model->zero_grad();
            model->backward();
            const float* got_all = model->flat_grads().data();

            const SafetensorsFile grads(dir / "expected_grads.safetensors");
            std::size_t compared = 0;
            for (const auto& key : llama_param_keys(config_of(*model))) {
                BOOST_TEST_CONTEXT(key.name) {
                    BOOST_REQUIRE(grads.contains(key.name));
                    const Tensor<float> want = grads.to_float(key.name);
                    BOOST_REQUIRE_EQUAL(want.numel(), key.shape.numel());
                    const float* got = got_all + key.offset;
                    float scale = 0.0f;
                    double worst = 0.0;
                    for (std::int64_t i = 0; i < want.numel(); ++i) {
                        scale = std::max(scale, std::abs(want.data()[i]));
                        worst = std::max(worst, static_cast<double>(std::abs(got[i] - want.data()[i])));
                    }
                    // Within 1e-4 of the tensor's largest gradient entry.
                    BOOST_TEST(worst <= 1e-4 * std::max(scale, 1e-3f), "worst |diff| " << worst << ", max |grad| " << scale);
                    ++compared;
                }
            }
            BOOST_TEST(compared == grads.names().size());
        }
    }
}

BOOST_AUTO_TEST_CASE(five_adamw_steps_follow_the_pytorch_trajectory) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto traj = read_json(dir / "adamw_trajectory.json");
            const auto model = load_causal_lm<Cpu>(dir / "model");
            const auto data = case_examples(dir, *model);
            train_as_recorded(*model, data, traj);

            // The parameters themselves, against PyTorch's after the same steps.
            const auto final_model = load_causal_lm<Cpu>(dir / "adamw_final");
            const auto& a = model->flat_params();
            const auto& b = final_model->flat_params();
            BOOST_REQUIRE_EQUAL(a.numel(), b.numel());
            double worst = 0.0;
            for (std::int64_t i = 0; i < a.numel(); ++i)
                worst = std::max(worst, static_cast<double>(std::abs(a.data()[i] - b.data()[i])));
            BOOST_TEST(worst <= 1e-5, "worst parameter difference " << worst);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_saved_model_loads_back_with_every_value_and_config_field) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto model = load_causal_lm<Cpu>(dir / "model");
            TempDir tmp("llama_save");
            {
                AtomicDirectory out(tmp.path / "saved");
                model->save(out);
            }
            BOOST_TEST(!fs::exists(tmp.path / "saved" / "model.safetensors.index.json"));
            const auto back = load_causal_lm<Cpu>(tmp.path / "saved");
            BOOST_TEST(!back->shape_difference(*model));
            const auto& a = model->flat_params();
            const auto& b = back->flat_params();
            BOOST_REQUIRE_EQUAL(a.numel(), b.numel());
            BOOST_TEST(std::equal(a.data(), a.data() + a.numel(), b.data()));
            // Every field of the original config.json, in its order; the dtype now float32.
            auto want = nlohmann::ordered_json::parse(std::ifstream(dir / "model" / "config.json"));
            want["torch_dtype"] = "float32";
            const auto got = nlohmann::ordered_json::parse(std::ifstream(tmp.path / "saved" / "config.json"));
            BOOST_TEST(got.dump() == want.dump());
        }
    }
}

// Above the shard size the weights are split as transformers splits them, with the index; the
// directory loads back unchanged, and a later save of another sharding replaces it whole.
BOOST_AUTO_TEST_CASE(a_model_above_the_shard_size_is_saved_in_shards_with_an_index) {
    const auto model = load_causal_lm<Cpu>(fixtures / "llama_tied" / "model");
    const LlamaConfig& c = dynamic_cast<const Llama<Cpu>&>(*model).config();
    const auto& params = model->flat_params();
    TempDir tmp("llama_shards");
    const fs::path m = tmp.path / "m";
    const std::int64_t max_bytes = 8 * 1024;  // a few tensors a shard
    {
        AtomicDirectory out(m);
        save_llama_files(out.path(), c, params.data(), max_bytes);
        out.commit();
    }
    BOOST_TEST(!fs::exists(m / "model.safetensors"));
    const auto index = read_json(m / "model.safetensors.index.json");
    std::set<std::string> files;
    std::vector<std::string> names;
    for (const auto& [name, file] : index["weight_map"].items()) {
        names.push_back(name);
        files.insert(file.get<std::string>());
        BOOST_TEST(is_weight_file_name(file.get<std::string>()), file);
    }
    BOOST_TEST(std::is_sorted(names.begin(), names.end()));
    BOOST_TEST(names.size() == llama_param_keys(c).size());
    BOOST_REQUIRE(files.size() > 2);
    BOOST_TEST(files.count(shard_file_name(files.size(), files.size())) == 1u);
    BOOST_TEST(index["metadata"]["total_size"].get<std::int64_t>() == params.numel() * 4);
    std::int64_t on_disk = 0;
    for (const auto& f : files) {
        const SafetensorsFile shard(m / f);
        std::int64_t bytes = 0;
        for (const auto& name : shard.names()) bytes += static_cast<std::int64_t>(shard.tensor(name).end - shard.tensor(name).begin);
        BOOST_TEST((bytes <= max_bytes || shard.names().size() == 1), f << ": " << bytes << " bytes");  // a big tensor alone
        on_disk += static_cast<std::int64_t>(shard.names().size());
    }
    BOOST_TEST(on_disk == static_cast<std::int64_t>(names.size()));  // each tensor in one shard
    const auto back = load_causal_lm<Cpu>(m);
    BOOST_TEST(std::equal(params.data(), params.data() + params.numel(), back->flat_params().data()));

    // Saved again as one file over it: the shards are weights the new model replaces.
    {
        AtomicDirectory out(m);
        out.expect_files({"config.json", "model.safetensors"}, is_weight_file_name);
        model->save(out);
    }
    BOOST_TEST(fs::exists(m / "model.safetensors"));
    BOOST_TEST(!fs::exists(m / "model.safetensors.index.json"));
    BOOST_TEST(!fs::exists(m / shard_file_name(1, files.size())));
    // A file of the user's is never one of them.
    std::ofstream(m / "notes.txt") << "mine";
    BOOST_CHECK_THROW(AtomicDirectory(m).expect_files({"config.json", "model.safetensors"}, is_weight_file_name), Error);
    BOOST_TEST(!is_weight_file_name("model-1-of-2.safetensors"));
    BOOST_TEST(!is_weight_file_name("model-0000a-of-00002.safetensors"));
    BOOST_TEST(is_weight_file_name("model-00001-of-00002.safetensors"));
}

// A fresh model (tokclean init --arch): the config as asked, read back unchanged from its
// config.json; weights as transformers initialises them (N(0, 0.02²), norms 1, biases 0).
BOOST_AUTO_TEST_CASE(an_initialised_model_has_the_asked_shape_and_transformers_initialisation) {
    for (const char* arch : {"llama", "mistral", "qwen2", "qwen3"}) {
        BOOST_TEST_CONTEXT(arch) {
            LlamaShape s;
            s.model_type = arch;
            s.n_layer = 2;
            s.hidden = 64;
            s.heads = 4;
            s.kv_heads = 2;
            s.head_dim = 24;
            s.intermediate = 80;
            s.tied = std::string(arch) == "qwen2";
            const LlamaConfig c = llama_config(s);
            BOOST_TEST(c.q_width() == 96);
            BOOST_TEST(c.kv_width() == 48);
            BOOST_TEST(c.sliding_window == 0);  // none written: nothing refused later
            BOOST_TEST(c.qkv_bias == (std::string(arch) == "qwen2"));
            BOOST_TEST(c.qk_norm == (std::string(arch) == "qwen3"));
            const Tensor<float, Cpu> params = llama_init(c, 3);
            double sum = 0.0, sq = 0.0;
            std::int64_t n = 0;
            for (const LlamaParamKey& k : llama_param_keys(c)) {
                const float* p = params.data() + k.offset;
                const bool norm = k.name.ends_with("norm.weight");
                const bool bias = k.name.ends_with(".bias");
                for (std::int64_t i = 0; i < k.shape.numel(); ++i) {
                    if (norm) BOOST_TEST_REQUIRE(p[i] == 1.0f, k.name);
                    else if (bias) BOOST_TEST_REQUIRE(p[i] == 0.0f, k.name);
                    else sum += p[i], sq += static_cast<double>(p[i]) * p[i], ++n;
                }
            }
            const double mean = sum / static_cast<double>(n), std = std::sqrt(sq / static_cast<double>(n) - mean * mean);
            BOOST_TEST(std::abs(mean) < 1e-3);
            BOOST_TEST(std::abs(std - 0.02) < 0.0005, "std " << std);

            TempDir tmp("llama_init");
            {
                AtomicDirectory out(tmp.path / "m");
                Llama<Cpu>(c, params.clone()).save(out);
            }
            const auto back = load_causal_lm<Cpu>(tmp.path / "m");
            BOOST_TEST(!back->shape_difference(Llama<Cpu>(c, params.clone())));
            BOOST_TEST(back->info().eos_token_id == 256);
            BOOST_TEST(back->info().tokenizer == "byte");
            BOOST_TEST(std::equal(params.data(), params.data() + params.numel(), back->flat_params().data()));
        }
    }
    LlamaShape bad;
    bad.kv_heads = 3;  // does not divide 4 heads
    BOOST_CHECK_EXCEPTION(llama_config(bad), Error, [](const Error& e) {
        return std::string(e.what()).find("--arch: field 'num_key_value_heads': 3 does not divide") != std::string::npos;
    });
}

BOOST_AUTO_TEST_CASE(models_of_another_shape_name_the_first_differing_field) {
    const auto llama = load_causal_lm<Cpu>(fixtures / "llama_tied" / "model");
    const auto scaled = load_causal_lm<Cpu>(fixtures / "llama_scaled" / "model");
    const auto mistral = load_causal_lm<Cpu>(fixtures / "mistral_one_kv" / "model");
    const ShapeDifference d = llama->shape_difference(*scaled);
    BOOST_TEST(d.field == "intermediate_size");
    BOOST_TEST(d.other == "64");
    BOOST_TEST(d.mine == "48");
    BOOST_TEST(llama->shape_difference(*mistral).field == "model_type");
    BOOST_TEST(!llama->shape_difference(*llama));
}

// ---- what tokclean refuses, each with the file and the field ------------------------------

namespace {

// Copies `name`'s model directory, edits its config.json, and returns the error of loading it.
std::string load_error(const char* name, const std::function<void(nlohmann::ordered_json&)>& edit,
                       const std::function<void(const fs::path&)>& edit_dir = {}) {
    TempDir tmp("llama_bad");
    const fs::path m = tmp.path / "m";
    fs::copy(fixtures / name / "model", m);
    auto cfg = nlohmann::ordered_json::parse(std::ifstream(m / "config.json"));
    edit(cfg);
    std::ofstream(m / "config.json") << cfg.dump(2);
    if (edit_dir) edit_dir(m);
    try {
        load_causal_lm<Cpu>(m);
    } catch (const std::exception& e) {
        std::string what = e.what();
        const auto at = what.find(tmp.path.string());
        if (at != std::string::npos) what.erase(at, tmp.path.string().size() + 1);
        return what;
    }
    return "(no error)";
}

}  // namespace

BOOST_AUTO_TEST_CASE(unsupported_settings_are_refused_naming_the_field) {
    using J = nlohmann::ordered_json;
    struct Row {
        const char* name;
        const char* model;
        std::function<void(J&)> edit;
        std::string message;
    };
    const std::vector<Row> rows = {
        {"yarn", "llama_scaled", [](J& c) { c["rope_scaling"]["rope_type"] = "yarn"; },
         "m/config.json: field 'rope_scaling': rope_type \"yarn\" is not supported (tokclean computes \"default\" and \"llama3\")"},
        {"llama3 without factor", "llama_scaled", [](J& c) { c["rope_scaling"].erase("factor"); },
         "m/config.json field 'rope_scaling': missing required field 'factor'"},
        {"attention bias", "llama_tied", [](J& c) { c["attention_bias"] = true; },
         "m/config.json: field 'attention_bias': true is not supported for llama"},
        {"mlp bias", "llama_tied", [](J& c) { c["mlp_bias"] = true; },
         "m/config.json: field 'mlp_bias': true is not supported"},
        {"gelu", "mistral_one_kv", [](J& c) { c["hidden_act"] = "gelu"; },
         "m/config.json: field 'hidden_act': \"gelu\" is not supported (tokclean computes \"silu\")"},
        {"kv heads", "llama_tied", [](J& c) { c["num_key_value_heads"] = 3; },
         "m/config.json: field 'num_key_value_heads': 3 does not divide num_attention_heads = 4"},
        {"odd head_dim", "qwen3_head_dim", [](J& c) { c["head_dim"] = 15; },
         "m/config.json: field 'head_dim': 15 is odd (RoPE rotates pairs)"},
        {"eos", "llama_tied", [](J& c) { c["eos_token_id"] = 101; },
         "m/config.json: field 'eos_token_id': 101 is outside [0, vocab_size = 101)"},
        {"shape", "llama_tied", [](J& c) { c["intermediate_size"] = 40; },
         "m/model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight': shape [48, 32] but config.json implies [40, 32]"},
        {"untied", "qwen2_tied_bias", [](J& c) { c["tie_word_embeddings"] = false; },
         "m/model.safetensors: missing tensor 'lm_head.weight' (expected shape [120, 36])"},
        {"qwen2 read as llama", "qwen2_tied_bias", [](J& c) { c["model_type"] = "llama"; },
         "m/model.safetensors: unknown tensor 'model.layers.0.self_attn.k_proj.bias' (not a parameter of this llama model: see config.json)"},
    };
    for (const auto& r : rows)
        BOOST_TEST_CONTEXT(r.name) { BOOST_TEST(load_error(r.model, r.edit) == r.message); }
}

BOOST_AUTO_TEST_CASE(a_damaged_shard_index_is_named) {
    const auto same = [](nlohmann::ordered_json&) {};
    const auto index_edit = [](const std::function<void(nlohmann::ordered_json&)>& f) {
        return [f](const fs::path& m) {
            auto idx = nlohmann::ordered_json::parse(std::ifstream(m / "model.safetensors.index.json"));
            f(idx);
            std::ofstream(m / "model.safetensors.index.json") << idx.dump(2);
        };
    };
    BOOST_TEST(load_error("llama_scaled", same, index_edit([](auto& idx) {
                   idx["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
               })) == "m/model.safetensors.index.json: weight_map puts 'model.norm.weight' in "
                      "model-00001-of-00002.safetensors, which does not hold it");
    BOOST_TEST(load_error("llama_scaled", same, index_edit([](auto& idx) { idx["weight_map"].erase("model.norm.weight"); })) ==
               "m/model-00002-of-00002.safetensors: tensor 'model.norm.weight' is not in model.safetensors.index.json");
    BOOST_TEST(load_error("llama_scaled", same, index_edit([](auto& idx) {
                   idx["weight_map"]["model.norm.weight"] = "../elsewhere.safetensors";
               })) == "m/model.safetensors.index.json: weight_map['model.norm.weight']: \"../elsewhere.safetensors\" "
                      "is not a file name in the model directory");
    BOOST_TEST(load_error("llama_scaled", same, [](const fs::path& m) { fs::remove(m / "model-00002-of-00002.safetensors"); })
                   .find("model-00002-of-00002.safetensors: cannot open the file") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_sequence_longer_than_the_window_or_positions_is_refused) {
    TempDir tmp("llama_window");
    const fs::path m = tmp.path / "m";
    fs::copy(fixtures / "mistral_one_kv" / "model", m);
    auto cfg = nlohmann::ordered_json::parse(std::ifstream(m / "config.json"));
    cfg["sliding_window"] = 4;
    std::ofstream(m / "config.json") << cfg.dump(2);
    const auto model = load_causal_lm<Cpu>(m);
    const std::vector<std::int32_t> ids = {1, 2, 3, 4, 5}, labels = {-100, 2, 3, 4, 5};
    BOOST_CHECK_EXCEPTION(model->forward(ids.data(), labels.data(), 1, 5), Error, [](const Error& e) {
        return std::string(e.what()).starts_with("sequence length 5 exceeds the model's sliding_window = 4");
    });
    BOOST_CHECK_NO_THROW(model->forward(ids.data(), labels.data(), 1, 4));
    const auto tied = load_causal_lm<Cpu>(fixtures / "llama_tied" / "model");  // 32 positions
    const std::vector<std::int32_t> long_ids(33, 1), long_labels(33, 1);
    BOOST_CHECK_EXCEPTION(tied->forward(long_ids.data(), long_labels.data(), 1, 33), Error, [](const Error& e) {
        return std::string(e.what()) == "sequence length 33 exceeds the model's max_position_embeddings = 32";
    });
}
