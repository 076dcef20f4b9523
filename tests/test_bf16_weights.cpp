// Weights held in bfloat16 (load_causal_lm(dir, WeightDtype::bf16), the CLI's --dtype bf16)
// against the float32 model of the same values. Run twice (tests/CMakeLists.txt):
//   - with the kernels that widen bf16 weights (TOKCLEAN_CPU=avx512 or generic, or a CPU
//     without AVX512_BF16): widening is exact, so the model scores bit for bit as the float32
//     one, and a LoRA adapter trained on it ends bit for bit where one on the float32 base ends;
//   - with bf16 dot products (a CPU with AVX512_BF16, TOKCLEAN_CPU unset): the activations are
//     rounded to bf16 in the products, so losses are close to float32's, not equal; and still
//     the same bits for any thread count.
// What bf16 changes on real checkpoints is measured in bench/RESULTS.md. Fixtures:
// tests/data/llama (llama_scaled is stored BF16; the others F32, rounded here first).
#define BOOST_TEST_MODULE bf16_weights
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <omp.h>

#include "tokclean/core/bfloat16.hpp"
#include "tokclean/core/cpu_features.hpp"
#include "tokclean/data/batch.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/llama_init.hpp"
#include "tokclean/nn/load_model.hpp"
#include "tokclean/nn/lora_model.hpp"
#include "tokclean/nn/trainer.hpp"
#include "pytorch_fixtures.hpp"
#include "temp_dir.hpp"

using namespace tokclean;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path& fixtures = tokclean::test::llama_fixtures;
const auto& cases = tokclean::test::llama_cases;
using tokclean::test::case_examples;

// The case's model with every weight rounded to bfloat16, saved (as float32 values) in `out`.
fs::path rounded_copy(const fs::path& case_dir, const fs::path& out) {
    auto model = load_causal_lm<Cpu>(case_dir / "model");
    Tensor<float, Cpu>& w = model->flat_params();
    for (std::int64_t i = 0; i < w.numel(); ++i) w.data()[i] = to_float(to_bfloat16(w.data()[i]));
    AtomicDirectory dir(out);
    model->save(dir);
    return out;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Whether products with bf16 weights run as bf16 dot products in this process.
bool dot_products() { return cpu_kernels() == CpuKernels::avx512_bf16; }

// The largest |x - y| over the entries where both are finite (NaN where neither is a target).
double max_difference(std::span<const float> x, std::span<const float> y) {
    BOOST_REQUIRE_EQUAL(x.size(), y.size());
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        BOOST_REQUIRE_EQUAL(std::isnan(x[i]), std::isnan(y[i]));
        if (!std::isnan(x[i])) worst = std::max(worst, std::abs(double(x[i]) - y[i]));
    }
    return worst;
}

}  // namespace

BOOST_AUTO_TEST_CASE(bf16_weights_score_as_their_float32_values) {
    // Losses, argmax and entropies of one batch of every case's examples, float32 against bf16
    // weights of the same values (norm weights and biases too: qwen2's, qwen3's q/k norms):
    // the same bits when widened; within 2% of the loss with dot products.
    BOOST_TEST_MESSAGE("CPU kernels: " << cpu_kernels_name(cpu_kernels()));
    for (const char* name : cases) {
        BOOST_TEST_CONTEXT(name) {
            TempDir tmp("bf16");
            const fs::path dir = std::string(name) == "llama_scaled" ? fixtures / name / "model"  // stored BF16
                                                                     : rounded_copy(fixtures / name, tmp.path / "m");
            const auto f32 = load_causal_lm<Cpu>(dir);
            const auto b16 = load_causal_lm<Cpu>(dir, WeightDtype::bf16);
            BOOST_TEST((b16->weight_dtype() == WeightDtype::bf16));
            BOOST_TEST(b16->weight_bytes() < f32->weight_bytes() * 0.55);
            const auto data = case_examples(fixtures / name, *f32);
            const Batch batch = make_batch(std::span<const Example>(data));
            for (const ForwardFor purpose : {ForwardFor::scoring, ForwardFor::backward}) {
                const float mean32 = f32->forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(),
                                                  batch.seq_len(), purpose);
                const float mean16 = b16->forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(),
                                                  batch.seq_len(), purpose);
                const auto e32 = f32->target_entropy(), e16 = b16->target_entropy();
                if (dot_products()) {
                    const double diff = max_difference(f32->token_losses(), b16->token_losses());
                    BOOST_TEST_MESSAGE(name << ": largest loss difference with bf16 dot products " << diff);
                    BOOST_TEST(diff <= 0.02 * std::max(1.0f, mean32));
                    BOOST_TEST(diff > 0.0);  // the activations were rounded
                    BOOST_TEST(max_difference(e32, e16) <= 0.02 * std::max(1.0f, mean32));
                    continue;
                }
                BOOST_TEST(std::memcmp(&mean32, &mean16, sizeof(float)) == 0);
                BOOST_TEST(same_bits(f32->token_losses(), b16->token_losses()));
                BOOST_TEST((f32->target_argmax() == b16->target_argmax()));
                BOOST_TEST(same_bits(e32, e16));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_lora_adapter_trains_on_a_bf16_base_as_on_its_float32_values) {
    // The same new adapter (seed), three AdamW steps with dropout: widened, the adapters agree
    // bit for bit; with dot products, the trained models' losses agree within 2%.
    for (const char* name : {"llama_scaled", "qwen2_tied_bias", "qwen3_head_dim"}) {
        BOOST_TEST_CONTEXT(name) {
            TempDir tmp("bf16");
            const fs::path dir = std::string(name) == "llama_scaled" ? fixtures / name / "model"
                                                                     : rounded_copy(fixtures / name, tmp.path / "m");
            LoraConfig c;
            c.r = 4;
            c.alpha = 8;
            c.dropout = 0.1;
            c.targets = {"all-linear"};
            std::vector<std::vector<float>> adapters;
            std::vector<float> initial, trained_loss;
            for (const WeightDtype dtype : {WeightDtype::f32, WeightDtype::bf16}) {
                const auto base = load_causal_lm<Cpu>(dir, dtype);
                const auto model = new_lora(*base, c, 7);
                const Tensor<float, Cpu>& start = model->flat_params();
                initial.assign(start.data(), start.data() + start.numel());
                const auto data = case_examples(fixtures / name, *model);
                TrainOptions o;
                o.steps = 3;
                o.batch_size = 2;
                o.lr = 1e-2;
                Trainer<Cpu> trainer(*model, std::span<const Example>(data), o);
                while (!trainer.done()) trainer.step();
                const Tensor<float, Cpu>& a = model->flat_params();
                adapters.emplace_back(a.data(), a.data() + a.numel());
                const Batch batch = make_batch(std::span<const Example>(data));
                trained_loss.push_back(model->forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(),
                                                      batch.seq_len(), ForwardFor::scoring));
            }
            BOOST_TEST(!same_bits(adapters[0], initial));  // it trained
            BOOST_TEST(!same_bits(adapters[1], initial));
            if (dot_products()) BOOST_TEST(std::abs(trained_loss[0] - trained_loss[1]) <= 0.02 * trained_loss[0]);
            else BOOST_TEST(same_bits(adapters[0], adapters[1]));
        }
    }
}

BOOST_AUTO_TEST_CASE(bf16_weights_are_frozen_saved_as_bf16_and_refused_where_not_held) {
    const fs::path dir = fixtures / "llama_scaled" / "model";
    const auto b16 = load_causal_lm<Cpu>(dir, WeightDtype::bf16);
    const auto message_of = [](auto&& f) -> std::string {
        try {
            f();
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    // Not trainable: flat_params() (what the trainer and AdamW take) says why and what to do.
    const std::string frozen = message_of([&] { (void)b16->flat_params(); });
    BOOST_TEST(frozen.find("bfloat16 (--dtype bf16)") != std::string::npos, frozen);
    BOOST_TEST(frozen.find("LoRA") != std::string::npos, frozen);
    // Saved as held (BF16, torch_dtype bfloat16): the files load back as the same values.
    TempDir tmp("bf16");
    {
        AtomicDirectory out(tmp.path / "saved");
        b16->save(out);
    }
    const SafetensorsFile saved(tmp.path / "saved" / "model.safetensors");
    BOOST_TEST((saved.dtype("model.norm.weight") == Dtype::BF16));
    const auto back = load_causal_lm<Cpu>(tmp.path / "saved");
    const auto f32 = load_causal_lm<Cpu>(dir);
    BOOST_TEST(same_bits(back->flat_params().span(), f32->flat_params().span()));
    // A merged LoRA model from a bf16 base is a float32 model.
    LoraConfig c;
    c.r = 2;
    c.targets = {"q_proj"};
    BOOST_TEST((new_lora(*b16, c, 1)->merged()->weight_dtype() == WeightDtype::f32));
    // GPT-2 keeps float32 weights: refused, naming the model's config.json.
    const std::string gpt2 = message_of([] { load_causal_lm<Cpu>(fs::path(TOKCLEAN_TEST_DATA) / "gpt2_tiny" / "model", WeightDtype::bf16); });
    BOOST_TEST(gpt2.find("config.json: --dtype bf16: model_type \"gpt2\"") != std::string::npos, gpt2);
    // A float32 weight beyond bfloat16's range rounds to infinity: refused, naming the tensor.
    {
        auto m = load_causal_lm<Cpu>(fixtures / "llama_tied" / "model");
        m->flat_params().data()[0] = std::numeric_limits<float>::max();
        AtomicDirectory out(tmp.path / "huge");
        m->save(out);
    }
    const std::string huge = message_of([&] { load_causal_lm<Cpu>(tmp.path / "huge", WeightDtype::bf16); });
    BOOST_TEST(huge.find("model.safetensors: tensor 'model.embed_tokens.weight': element 0 is inf in bfloat16") !=
                   std::string::npos,
               huge);
}

BOOST_AUTO_TEST_CASE(bf16_scores_do_not_depend_on_the_thread_count) {
    const fs::path dir = fixtures / "qwen3_head_dim";
    TempDir tmp("bf16");
    const auto model = load_causal_lm<Cpu>(rounded_copy(dir, tmp.path / "m"), WeightDtype::bf16);
    const auto data = case_examples(dir, *model);
    const Batch batch = make_batch(std::span<const Example>(data));
    std::vector<std::vector<float>> losses;
    for (const int threads : {1, 2}) {
        omp_set_num_threads(threads);
        model->forward(batch.input_ids.data(), batch.labels.data(), batch.batch_size(), batch.seq_len(),
                       ForwardFor::scoring);
        losses.emplace_back(model->token_losses().begin(), model->token_losses().end());
    }
    BOOST_TEST(same_bits(losses[0], losses[1]));
}

BOOST_AUTO_TEST_CASE(a_bf16_init_is_the_float32_init_rounded) {
    // init --dtype bf16 never holds float32 weights: the same random stream, each value rounded.
    LlamaShape shape;
    shape.model_type = "qwen3";
    shape.n_layer = 2, shape.hidden = 32, shape.heads = 4, shape.kv_heads = 2, shape.intermediate = 48;
    const LlamaConfig c = llama_config(shape);
    const Tensor<float, Cpu> f32 = llama_init(c, 11);
    const LlamaBf16Weights b16 = llama_init_bf16(c, 11);
    BOOST_REQUIRE_EQUAL(f32.numel(), b16.values.numel());
    std::int64_t differ = 0;
    for (std::int64_t i = 0; i < f32.numel(); ++i) differ += to_bfloat16(f32.data()[i]).bits != b16.values.data()[i].bits;
    BOOST_TEST(differ == 0);
    // Its vectors (RMSNorm weights, q/k norms) are read back as floats: ones.
    const LlamaLayout layout(c);
    BOOST_TEST(b16.vector(layout.norm)[0] == 1.0f);
    BOOST_TEST(b16.vector(layout.layers[1].k_norm)[c.head_dim - 1] == 1.0f);
}
