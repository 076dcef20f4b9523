// LoRA adapters (nn/lora.hpp, nn/lora_model.hpp) on the Llama family against an independent
// PyTorch implementation of PEFT's math (tests/python/make_lora_fixtures.py; fixtures under
// tests/data/lora/<case>, base models under tests/data/llama): per-token losses, the gradient
// of every A and B, 5 AdamW steps on the adapter alone; merging; the files PEFT reads; dropout's
// statistics, determinism and gradient; adapters that do not fit, refused.
#define BOOST_TEST_MODULE lora
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/data/batch.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/load_model.hpp"
#include "tokclean/nn/lora_model.hpp"
#include "tokclean/nn/memory_plan.hpp"
#include "tokclean/nn/train_checkpoint.hpp"
#include "tokclean/nn/trainer.hpp"
#include "pytorch_fixtures.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace tokclean;
using tokclean::test::check_losses;
using tokclean::test::read_json;
using tokclean::test::score_all;
using tokclean::test::train_as_recorded;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(TOKCLEAN_TEST_DATA) / "lora";
const fs::path llama_fixtures = fs::path(TOKCLEAN_TEST_DATA) / "llama";
const char* const cases[] = {"llama_all_linear", "qwen2_bias_subset", "qwen3_rslora"};

fs::path base_dir(const fs::path& case_dir) {
    std::ifstream in(case_dir / "base_case");
    std::string name;
    in >> name;
    return llama_fixtures / name;
}

std::vector<Example> examples_of(const fs::path& base_case, const CausalLm<Cpu>& model) {
    ReadOptions ro;
    ro.vocab_size = model.info().vocab_size;
    return read_examples(base_case / "data.jsonl", ro).examples;
}

std::vector<float> host(const Tensor<float, Cpu>& t) { return {t.data(), t.data() + t.numel()}; }

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
    return worst;
}

// A small Llama with an adapter on every projection, dropout p, for the dropout tests.
struct Small {
    std::unique_ptr<CausalLm<Cpu>> base, model;
    std::vector<Example> data;
    explicit Small(double p, std::uint64_t seed = 3) {
        const fs::path b = llama_fixtures / "llama_scaled";
        base = load_causal_lm<Cpu>(b / "model");
        data = examples_of(b, *base);
        LoraConfig c;
        c.r = 4;
        c.alpha = 8;
        c.dropout = p;
        c.targets = {"all-linear"};
        model = new_lora(*base, c, seed);
        // B nonzero, so that A's gradient is not zero.
        auto& params = model->flat_params();
        Rng rng(seed + 100);
        for (const LoraModule& m : base->lora_layout(c).modules)
            for (std::int64_t i = 0; i < m.out * c.r; ++i) params.data()[m.b + i] = static_cast<float>(0.2 * rng.normal());
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(losses_match_peft_math) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto base = load_causal_lm<Cpu>(base_dir(dir) / "model");
            const auto model = load_lora(*base, dir / "adapter");
            BOOST_REQUIRE(model->lora());
            const auto data = examples_of(base_dir(dir), *model);
            check_losses(read_json(dir / "expected_losses.json")["examples"], score_all(*model, data, 1), 1e-4);
            check_losses(read_json(dir / "expected_losses.json")["examples"], score_all(*model, data, 4), 1e-4);
        }
    }
}

BOOST_AUTO_TEST_CASE(gradients_of_every_a_and_b_match_and_the_base_gets_none) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto base = load_causal_lm<Cpu>(base_dir(dir) / "model");
            const std::vector<float> base_before = host(base->flat_params());
            const auto model = load_lora(*base, dir / "adapter");
            const auto data = examples_of(base_dir(dir), *model);
            const Batch batch = make_batch(std::span<const Example>(data));
            model->forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(), batch.seq_len());
            model->zero_grad();
            model->backward();
            const float* got = model->flat_grads().data();
            BOOST_TEST(model->flat_grads().numel() == model->flat_params().numel());
            const SafetensorsFile want(dir / "expected_grads.safetensors");
            const LoraLayout layout = base->lora_layout(*model->lora());
            std::size_t compared = 0;
            for (const LoraModule& m : layout.modules) {
                for (const auto& [key, offset] : {std::pair{m.a_key(), m.a}, std::pair{m.b_key(), m.b}}) {
                    BOOST_TEST_CONTEXT(key) {
                        const Tensor<float> w = want.to_float(key);
                        float scale = 0;
                        double worst = 0;
                        for (std::int64_t i = 0; i < w.numel(); ++i) {
                            scale = std::max(scale, std::abs(w.data()[i]));
                            worst = std::max(worst, static_cast<double>(std::abs(got[offset + i] - w.data()[i])));
                        }
                        BOOST_TEST(scale > 0.0f);
                        BOOST_TEST(worst <= 1e-4 * std::max(scale, 1e-3f), "worst " << worst << ", max " << scale);
                        ++compared;
                    }
                }
            }
            BOOST_TEST(compared == want.names().size());
            BOOST_TEST(host(base->flat_params()) == base_before, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(five_adamw_steps_on_the_adapter_follow_pytorch) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto traj = read_json(dir / "adamw_trajectory.json");
            const auto base = load_causal_lm<Cpu>(base_dir(dir) / "model");
            const std::vector<float> base_before = host(base->flat_params());
            const auto model = load_lora(*base, dir / "adapter");
            const auto data = examples_of(base_dir(dir), *model);
            train_as_recorded(*model, data, traj);
            const auto final_model = load_lora(*base, dir / "adamw_final");
            BOOST_TEST(max_abs_diff(host(model->flat_params()), host(final_model->flat_params())) <= 1e-4);
            // The base is frozen: not one bit of it moved.
            BOOST_TEST(host(base->flat_params()) == base_before, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_merged_model_scores_as_base_plus_adapter) {
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            const fs::path dir = fixtures / name;
            const auto base = load_causal_lm<Cpu>(base_dir(dir) / "model");
            const auto model = load_lora(*base, dir / "adapter");
            const auto merged = model->merged();
            BOOST_TEST(!merged->lora());
            const auto data = examples_of(base_dir(dir), *model);
            const auto a = score_all(*model, data, 4);
            const auto b = score_all(*merged, data, 4);
            double worst = 0;
            for (std::size_t i = 0; i < a.size(); ++i)
                for (std::size_t j = 0; j < a[i].size(); ++j)
                    if (!std::isnan(a[i][j])) worst = std::max(worst, static_cast<double>(std::abs(a[i][j] - b[i][j])));
            BOOST_TEST(worst <= 1e-5, "worst loss difference " << worst);
            // The merge touched exactly the adapted weights.
            const LoraLayout layout = base->lora_layout(*model->lora());
            std::vector<bool> adapted(static_cast<std::size_t>(base->flat_params().numel()), false);
            for (const LoraModule& m : layout.modules)
                std::fill_n(adapted.begin() + m.weight, m.in * m.out, true);
            std::int64_t changed_outside = 0, changed_inside = 0;
            for (std::int64_t i = 0; i < base->flat_params().numel(); ++i) {
                const bool changed = base->flat_params().data()[i] != merged->flat_params().data()[i];
                (adapted[static_cast<std::size_t>(i)] ? changed_inside : changed_outside) += changed;
            }
            BOOST_TEST(changed_outside == 0);
            BOOST_TEST(changed_inside > 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_new_adapter_changes_nothing_and_is_initialised_as_peft) {
    const fs::path b = llama_fixtures / "qwen3_head_dim";
    const auto base = load_causal_lm<Cpu>(b / "model");
    const auto data = examples_of(b, *base);
    LoraConfig c;
    c.r = 8;
    c.alpha = 16;
    c.targets = {"q_proj", "down_proj"};
    const auto model = new_lora(*base, c, 7);
    // B = 0: the same losses bit for bit (NaN where not a target in both).
    const auto with = score_all(*model, data, 4), without = score_all(*base, data, 4);
    BOOST_REQUIRE_EQUAL(with.size(), without.size());
    for (std::size_t i = 0; i < with.size(); ++i) {
        BOOST_REQUIRE_EQUAL(with[i].size(), without[i].size());
        BOOST_TEST(std::memcmp(with[i].data(), without[i].data(), with[i].size() * sizeof(float)) == 0, "example " << i);
    }
    const LoraLayout layout = base->lora_layout(c);
    BOOST_TEST(layout.modules.size() == 4u);  // 2 layers x 2 targets
    for (const LoraModule& m : layout.modules) {
        const float bound = 1.0f / std::sqrt(static_cast<float>(m.in));
        float lo = 1, hi = -1;
        for (std::int64_t i = 0; i < c.r * m.in; ++i) {
            lo = std::min(lo, model->flat_params().data()[m.a + i]);
            hi = std::max(hi, model->flat_params().data()[m.a + i]);
        }
        BOOST_TEST(lo >= -bound);
        BOOST_TEST(hi <= bound);
        BOOST_TEST(hi - lo > bound);  // spread over the interval
        for (std::int64_t i = 0; i < m.out * c.r; ++i) BOOST_TEST(model->flat_params().data()[m.b + i] == 0.0f);
    }
    BOOST_TEST(host(new_lora(*base, c, 7)->flat_params()) == host(model->flat_params()), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_saved_adapter_is_peft_s_layout_and_loads_back_bit_for_bit) {
    const fs::path dir = fixtures / "qwen3_rslora";
    const auto base = load_causal_lm<Cpu>(base_dir(dir) / "model");
    const auto model = load_lora(*base, dir / "adapter");
    TempDir tmp;
    {
        AtomicDirectory out(tmp.path / "saved");
        model->save(out);
    }
    const auto cfg = read_json(tmp.path / "saved" / "adapter_config.json");
    BOOST_TEST(cfg["peft_type"] == "LORA");
    BOOST_TEST(cfg["r"] == 4);
    BOOST_TEST(cfg["lora_alpha"] == 6.0);
    BOOST_TEST(cfg["use_rslora"] == true);
    BOOST_TEST(cfg["target_modules"] == nlohmann::json({"q_proj", "v_proj", "gate_proj", "down_proj"}));
    const SafetensorsFile file(tmp.path / "saved" / "adapter_model.safetensors");
    BOOST_TEST(file.names().size() == 16u);
    BOOST_TEST(file.shape("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight") == (std::vector<std::int64_t>{4, 40}));
    BOOST_TEST(file.shape("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight") == (std::vector<std::int64_t>{64, 4}));
    const auto back = load_lora(*base, tmp.path / "saved");
    BOOST_TEST(host(back->flat_params()) == host(model->flat_params()), boost::test_tools::per_element());
    BOOST_TEST(back->lora()->scaling() == model->lora()->scaling());
}

BOOST_AUTO_TEST_CASE(dropout_drops_the_asked_share_deterministically) {
    const std::int64_t n = 1 << 20;
    std::vector<float> ones(static_cast<std::size_t>(n), 1.0f), out(ones.size()), again(ones.size()), other(ones.size());
    for (const float p : {0.1f, 0.5f}) {
        dropout_forward(Cpu{}, out.data(), ones.data(), n, p, 42);
        dropout_forward(Cpu{}, again.data(), ones.data(), n, p, 42);
        dropout_forward(Cpu{}, other.data(), ones.data(), n, p, 43);
        const auto dropped = std::count(out.begin(), out.end(), 0.0f);
        const double share = static_cast<double>(dropped) / static_cast<double>(n);
        const double sd = std::sqrt(p * (1 - p) / static_cast<double>(n));
        BOOST_TEST(std::abs(share - p) < 5 * sd, "p " << p << ": dropped " << share);
        for (const float v : out) BOOST_TEST_REQUIRE((v == 0.0f || v == 1.0f / (1.0f - p)));
        BOOST_TEST(out == again, boost::test_tools::per_element());
        std::int64_t differ = 0;
        for (std::size_t i = 0; i < out.size(); ++i) differ += (out[i] == 0.0f) != (other[i] == 0.0f);
        BOOST_TEST(differ > n * p * (1 - p));  // another seed, another mask (2p(1-p) expected)
        // The mean is kept: E[out] = 1.
        double sum = 0;
        for (const float v : out) sum += v;
        BOOST_TEST(std::abs(sum / static_cast<double>(n) - 1.0) < 5 * std::sqrt(p / (1 - p) / static_cast<double>(n)));
    }
}

// With dropout the loss is still a function of the adapter once the seed is fixed: its gradient
// (the forward's masks drawn again in backward) against central differences in double.
BOOST_AUTO_TEST_CASE(the_gradient_with_dropout_matches_finite_differences) {
    Small s(0.3);
    CausalLm<Cpu>& model = *s.model;
    const Batch batch = make_batch(std::span<const Example>(s.data));
    const auto loss_at = [&]() {
        model.set_noise_seed(99);
        return static_cast<double>(model.forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(),
                                                 batch.seq_len()));
    };
    const double l0 = loss_at();
    model.zero_grad();
    model.backward();
    const std::vector<float> grad = host(model.flat_grads());
    // Scoring applies no dropout: another loss than the training forward's.
    const auto scored = score_all(model, s.data, 4);
    BOOST_TEST(std::isfinite(l0));
    float* p = model.flat_params().data();
    Rng rng(5);
    int checked = 0;
    for (int k = 0; k < 24; ++k) {
        const auto i = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(model.flat_params().numel())));
        const float old = p[i];
        const float h = 1e-2f * std::max(1.0f, std::abs(old));
        p[i] = old + h;
        const double up = loss_at();
        p[i] = old - h;
        const double down = loss_at();
        p[i] = old;
        const double fd = (up - down) / (2.0 * static_cast<double>(h));
        BOOST_TEST(std::abs(fd - grad[static_cast<std::size_t>(i)]) <= 2e-3 + 2e-2 * std::abs(fd),
                   "parameter " << i << ": finite difference " << fd << ", backward " << grad[static_cast<std::size_t>(i)]);
        ++checked;
    }
    BOOST_TEST(checked == 24);
    // Another seed draws other masks: another loss.
    model.set_noise_seed(100);
    const double l1 = model.forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(), batch.seq_len());
    BOOST_TEST(l1 != l0);
    BOOST_TEST(loss_at() == l0);
}

BOOST_AUTO_TEST_CASE(adapters_that_do_not_fit_are_refused_naming_the_place) {
    using test_support::expect_error;
    const fs::path dir = fixtures / "llama_all_linear";
    const auto base = load_causal_lm<Cpu>(base_dir(dir) / "model");
    const auto other = load_causal_lm<Cpu>(llama_fixtures / "qwen3_head_dim" / "model");
    // An adapter for another base: the first tensor whose shape differs.
    expect_error([&] { load_lora(*other, dir / "adapter"); }, {"adapter_model.safetensors", "expected shape", "another base"});
    TempDir tmp;
    const auto copy_adapter = [&](const std::string& name, auto&& edit) {
        const fs::path d = tmp.path / name;
        fs::create_directories(d);
        fs::copy_file(dir / "adapter" / "adapter_model.safetensors", d / "adapter_model.safetensors");
        nlohmann::json cfg = read_json(dir / "adapter" / "adapter_config.json");
        edit(cfg);
        std::ofstream(d / "adapter_config.json") << cfg.dump();
        return d;
    };
    expect_error([&] { load_lora(*base, copy_adapter("dora", [](auto& c) { c["use_dora"] = true; })); },
                 {"adapter_config.json", "'use_dora'", "DoRA"});
    expect_error([&] { load_lora(*base, copy_adapter("bias", [](auto& c) { c["bias"] = "all"; })); }, {"'bias'"});
    expect_error([&] { load_lora(*base, copy_adapter("ranks", [](auto& c) { c["rank_pattern"] = {{"q_proj", 8}}; })); },
                 {"'rank_pattern'"});
    expect_error([&] { load_lora(*base, copy_adapter("lm_head", [](auto& c) { c["target_modules"] = {"q_proj", "lm_head"}; })); },
                 {"target_modules", "\"lm_head\" is not a linear layer of model_type llama"});
    expect_error([&] { load_lora(*base, copy_adapter("regex", [](auto& c) { c["target_modules"] = ".*proj"; })); },
                 {"'target_modules'", "regular expression"});
    expect_error([&] { load_lora(*base, copy_adapter("rank", [](auto& c) { c["r"] = 8; })); },
                 {"expected shape [8, 32], got [4, 32]"});
    // Fewer targets than the file holds: the tensors left over are named.
    expect_error([&] { load_lora(*base, copy_adapter("fewer", [](auto& c) { c["target_modules"] = {"q_proj"}; })); },
                 {"is not an adapter of the modules"});
    expect_error([&] { load_lora(*base, copy_adapter("lora", [](auto& c) { c["peft_type"] = "IA3"; })); },
                 {"'peft_type'", "not a LoRA adapter"});
}

// The trainer's checkpoint holds the adapter and its moments (the base is not trained, not
// saved): stopped after 3 of 6 steps and continued, the run ends with the uninterrupted run's
// adapter, bit for bit, dropout masks included (drawn from the seed and the step).
BOOST_AUTO_TEST_CASE(lora_training_resumed_from_a_checkpoint_ends_bit_for_bit_the_same) {
    TrainOptions opt;
    opt.steps = 6;
    opt.batch_size = 2;
    opt.lr = 1e-3;
    opt.seed = 9;
    Small straight(0.1);
    {
        Trainer<Cpu> t(*straight.model, std::span<const Example>(straight.data), opt);
        while (!t.done()) t.step();
    }
    TempDir tmp;
    {
        Small first(0.1);
        Trainer<Cpu> t(*first.model, std::span<const Example>(first.data), opt);
        for (int k = 0; k < 3; ++k) t.step();
        TrainCheckpoint checkpoint(tmp.path / "ckpt", nlohmann::json::object());
        checkpoint.save(t);
        BOOST_TEST(fs::exists(tmp.path / "ckpt" / "step_3" / "adapter_model.safetensors"));
        BOOST_TEST(!fs::exists(tmp.path / "ckpt" / "step_3" / "model.safetensors"));
    }
    Small second(0.1);
    Trainer<Cpu> t(*second.model, std::span<const Example>(second.data), opt);
    TrainCheckpoint checkpoint(tmp.path / "ckpt", nlohmann::json::object());
    checkpoint.restore(t);
    BOOST_TEST(t.steps_done() == 3);
    while (!t.done()) t.step();
    BOOST_TEST(host(second.model->flat_params()) == host(straight.model->flat_params()), boost::test_tools::per_element());
    // And the masks mattered: without dropout the adapter ends elsewhere.
    Small no_dropout(0.0);
    Trainer<Cpu> t0(*no_dropout.model, std::span<const Example>(no_dropout.data), opt);
    while (!t0.done()) t0.step();
    BOOST_TEST(max_abs_diff(host(no_dropout.model->flat_params()), host(straight.model->flat_params())) > 1e-6);
}

// The memory plan (nn/memory_plan.hpp): its arithmetic, LoRA's saving, and the refusal.
BOOST_AUTO_TEST_CASE(memory_plans_count_what_training_holds_and_refuse_what_does_not_fit) {
    Small s(0.0);
    const std::int64_t n_base = s.base->flat_params().numel(), n_adapter = s.model->flat_params().numel();
    const MemoryPlan full = training_memory(*s.base, 4, 16), lora = training_memory(*s.model, 4, 16);
    BOOST_TEST(full.weights == 4 * n_base);
    BOOST_TEST(full.gradients == 4 * n_base);
    BOOST_TEST(full.optimizer == 8 * n_base);
    BOOST_TEST(lora.weights == 4 * (n_base + n_adapter));
    BOOST_TEST(lora.gradients == 4 * n_adapter);
    BOOST_TEST(lora.optimizer == 8 * n_adapter);
    BOOST_TEST(lora.working > full.working);  // the adapters' h
    BOOST_TEST(full.working > scoring_memory(*s.base, 4, 16).working);  // every layer kept
    BOOST_TEST(training_memory(*s.base, 8, 16).working > full.working);
    // The estimate covers what a forward and backward allocate: at least the activations.
    const LlamaConfig& c = dynamic_cast<const Llama<Cpu>&>(*s.base).config();
    BOOST_TEST(full.working >= 4 * c.n_layer * 4 * 16 * (4 * c.hidden + 3 * c.intermediate));
    BOOST_TEST(memory_detail::parse_bytes("8G").value() == (std::int64_t{8} << 30));
    BOOST_TEST(memory_detail::parse_bytes("512M").value() == (std::int64_t{512} << 20));
    BOOST_TEST(memory_detail::parse_bytes("1.5K").value() == 1536);
    BOOST_TEST(!memory_detail::parse_bytes("lots"));
    BOOST_TEST(!memory_detail::parse_bytes("5X"));
    ::setenv("TOKCLEAN_MEMORY_LIMIT", "1K", 1);
    test_support::expect_error([&] { require_memory(full, "train", "lower --batch-size"); },
                               {"train: needs about", "AdamW", "TOKCLEAN_MEMORY_LIMIT allows 0.00 GiB", "lower --batch-size"});
    ::setenv("TOKCLEAN_MEMORY_LIMIT", "64G", 1);
    require_memory(full, "train", "");  // fits: no error
    // Batches sized from the memory (--batch-size 0): the largest power-of-two share of 64 whose
    // scoring activations fit in 90% of what is available.
    const std::int64_t four = s.base->working_bytes(4, 16, ForwardFor::scoring);
    const std::int64_t eight = s.base->working_bytes(8, 16, ForwardFor::scoring);
    BOOST_REQUIRE(eight > four);
    const std::int64_t weights = s.base->weight_bytes();  // TOKCLEAN_MEMORY_LIMIT counts them too
    ::setenv("TOKCLEAN_MEMORY_LIMIT", std::to_string(weights + (four + eight) / 2 * 10 / 9).c_str(), 1);
    BOOST_TEST(scoring_batch_that_fits(*s.base, 16) == 4);
    ::setenv("TOKCLEAN_MEMORY_LIMIT", "1K", 1);
    BOOST_TEST(scoring_batch_that_fits(*s.base, 16) == 1);  // refused by require_memory, not here
    ::setenv("TOKCLEAN_MEMORY_LIMIT", "64G", 1);
    BOOST_TEST(scoring_batch_that_fits(*s.base, 16) == 64);
    ::setenv("TOKCLEAN_MEMORY_LIMIT", "many", 1);
    test_support::expect_error([&] { available_memory(); }, {"TOKCLEAN_MEMORY_LIMIT", "'many'"});
    ::unsetenv("TOKCLEAN_MEMORY_LIMIT");
    BOOST_TEST(available_memory().value_or(1) > 0);
}
