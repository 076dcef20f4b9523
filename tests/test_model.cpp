// The whole GPT-2: gradients against finite differences on a random model, and per-token
// losses, gradients and a 5-step AdamW trajectory against the PyTorch fixtures in
// tests/data/gpt2_tiny (made by tests/python/make_fixtures.py).
#define BOOST_TEST_MODULE model
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include <omp.h>

#include "gradcheck.hpp"
#include "tokclean/nn/gpt.hpp"
#include "tokclean/nn/gpt_init.hpp"

using namespace tokclean;

namespace {

GptConfig tiny_config() { return GptConfig::pretokenized(2, 2, 8, 11, 8); }

// Big enough that every product is split over the threads, with several attention query blocks.
GptConfig medium_config() { return GptConfig::pretokenized(2, 4, 64, 300, 80); }

template <class T>
bool bit_identical(std::span<const T> a, std::span<const T> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// A (B, T) batch of random ids over V whose first quarter of each row is prompt (-100).
void random_batch(std::int64_t B, std::int64_t T, std::int64_t V, std::vector<std::int32_t>& ids,
                  std::vector<std::int32_t>& labels) {
    Rng rng(11);
    ids.resize(static_cast<std::size_t>(B * T));
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(V)));
    labels = ids;
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < T / 4; ++t) labels[static_cast<std::size_t>(b * T + t)] = -100;
}

}  // namespace

BOOST_AUTO_TEST_CASE(model_gradient_matches_finite_differences_on_every_tensor) {
    const GptConfig c = tiny_config();
    GptParams<Cpu> p = gpt_init(c, 3);
    // Larger than GPT-2's init so that every path carries a visible gradient.
    Rng rng(5);
    for (float& x : p.flat().span()) x += static_cast<float>(0.3 * rng.normal());
    Gpt<Cpu> model(c, std::move(p));
    const std::int64_t B = 2, T = 6;
    const std::vector<std::int32_t> ids = {1, 5, 2, 9, 3, 3, 7, 0, 4, 4, 8, 6};
    // Row 0: prompt of 2 positions; row 1: a padded tail.
    const std::vector<std::int32_t> labels = {-100, -100, 2, 9, 3, 3, 7, 0, 4, 4, -100, -100};
    model.forward(ids.data(), labels.data(), B, T);
    BOOST_TEST(model.num_targets() == 4 + 3);
    model.zero_grad();
    model.backward();
    std::vector<float> flat(model.params().flat().span().begin(), model.params().flat().span().end());
    const auto grad = model.grads().flat().span();

    // Probe a few entries of every parameter tensor (the whole vector is too slow).
    const auto shapes = gpt_param_shapes(c);
    std::int64_t offset = 0;
    for (int t = 0; t < gpt_param_count; ++t) {
        BOOST_TEST_CONTEXT("parameter tensor " << t) {
            std::vector<float> probe, analytic;
            std::vector<std::int64_t> where;
            const std::int64_t n = shapes[t].numel();
            for (std::int64_t k = 0; k < 6; ++k) where.push_back(offset + (k * 7919) % n);
            for (auto i : where) {
                probe.push_back(flat[i]);
                analytic.push_back(grad[i]);
            }
            auto loss = [&]() -> double {
                float* live = model.params().flat().data();
                for (std::size_t k = 0; k < where.size(); ++k) live[where[k]] = probe[k];
                const double l = model.forward(ids.data(), labels.data(), B, T);
                for (std::size_t k = 0; k < where.size(); ++k) live[where[k]] = flat[where[k]];
                return l;
            };
            // wpe rows past T and token rows never seen have zero gradient; the check demands
            // a nonzero probe, so only tensors every example touches are probed densely.
            if (t == static_cast<int>(GptParam::wpe) || t == static_cast<int>(GptParam::wte)) {
                bool any = false;
                for (float g : analytic) any = any || g != 0.0f;
                if (!any) {
                    offset += n;
                    continue;
                }
            }
            test::check_gradient("model", probe, analytic, loss, 1e-2f, 3e-2, 3e-3);
        }
        offset += shapes[t].numel();
    }
}

BOOST_AUTO_TEST_CASE(token_losses_are_nan_exactly_where_there_is_no_target) {
    const GptConfig c = tiny_config();
    Gpt<Cpu> model(c, gpt_init(c, 1));
    const std::vector<std::int32_t> ids = {1, 2, 3, 4};
    const std::vector<std::int32_t> labels = {1, -100, 3, 4};
    const float mean = model.forward(ids.data(), labels.data(), 1, 4);
    const auto l = model.token_losses();
    BOOST_TEST(std::isnan(l[0]));  // position 0 is never predicted
    BOOST_TEST(std::isnan(l[1]));
    BOOST_TEST(std::isfinite(l[2]));
    BOOST_TEST(mean == (l[2] + l[3]) / 2, boost::test_tools::tolerance(1e-6f));
    // Untrained GPT-2 init: every loss near log(V).
    BOOST_TEST(std::abs(l[2] - std::log(11.0f)) < 0.1f);
}

BOOST_AUTO_TEST_CASE(bad_ids_and_overlong_sequences_are_errors) {
    const GptConfig c = tiny_config();
    Gpt<Cpu> model(c, gpt_init(c, 1));
    const std::vector<std::int32_t> ids = {1, 11}, labels = {1, 11};
    BOOST_CHECK_THROW(model.forward(ids.data(), labels.data(), 1, 2), Error);
    const std::vector<std::int32_t> long_ids(9, 1);
    BOOST_CHECK_THROW(model.forward(long_ids.data(), long_ids.data(), 1, 9), Error);
}

BOOST_AUTO_TEST_CASE(scoring_forward_gives_the_same_losses_bit_for_bit) {
    const GptConfig c = medium_config();
    Gpt<Cpu> model(c, gpt_init(c, 2));
    const std::int64_t B = 3, T = 70;
    std::vector<std::int32_t> ids, labels;
    random_batch(B, T, c.vocab_size, ids, labels);
    const float kept = model.forward(ids.data(), labels.data(), B, T);
    const std::vector<float> losses(model.token_losses().begin(), model.token_losses().end());
    const auto argmax = model.target_argmax();
    const float scored = model.forward(ids.data(), labels.data(), B, T, ForwardFor::scoring);
    BOOST_TEST(scored == kept);
    BOOST_TEST(bit_identical<float>(model.token_losses(), losses));
    BOOST_TEST(model.target_argmax() == argmax);
    // Nothing was kept for a backward pass.
    BOOST_CHECK_THROW(model.backward(), Error);
    model.forward(ids.data(), labels.data(), B, T);
    model.zero_grad();
    model.backward();
    BOOST_CHECK_THROW(model.backward(), Error);  // the logits became their gradient
}

BOOST_AUTO_TEST_CASE(losses_and_gradients_do_not_depend_on_the_thread_count) {
    const GptConfig c = medium_config();
    const std::int64_t B = 4, T = 64;
    std::vector<std::int32_t> ids, labels;
    random_batch(B, T, c.vocab_size, ids, labels);
    std::vector<float> losses[2], grads[2];
    for (int n = 1; n <= 2; ++n) {
        const int saved = omp_get_max_threads();
        omp_set_num_threads(n);
        Gpt<Cpu> model(c, gpt_init(c, 2));
        model.forward(ids.data(), labels.data(), B, T);
        losses[n - 1].assign(model.token_losses().begin(), model.token_losses().end());
        model.zero_grad();
        model.backward();
        grads[n - 1].assign(model.grads().flat().span().begin(), model.grads().flat().span().end());
        omp_set_num_threads(saved);
    }
    BOOST_TEST(bit_identical<float>(losses[0], losses[1]));
    BOOST_TEST(bit_identical<float>(grads[0], grads[1]));
}

BOOST_AUTO_TEST_CASE(zero_grad_then_backward_gives_the_gradient_and_backward_accumulates) {
    // zero_grad() is lazy (the next backward writes over the gradients): the values must be
    // those of a backward into zeroed gradients, and a second backward must add to them.
    const GptConfig c = medium_config();
    const std::int64_t B = 2, T = 40;
    std::vector<std::int32_t> ids, labels;
    random_batch(B, T, c.vocab_size, ids, labels);
    Gpt<Cpu> fresh(c, gpt_init(c, 4)), reused(c, gpt_init(c, 4));
    fresh.forward(ids.data(), labels.data(), B, T);
    fresh.backward();  // gradients allocated as zeros, then added to
    for (int round = 0; round < 2; ++round) {  // round 0: fill the buffer; round 1: zero_grad over it
        reused.forward(ids.data(), labels.data(), B, T);
        reused.zero_grad();
        reused.backward();
    }
    const auto want = fresh.grads().flat().span(), got = reused.grads().flat().span();
    BOOST_TEST(bit_identical<float>(got, want));
    reused.zero_grad();
    for (float gval : reused.grads().flat().span()) BOOST_REQUIRE(gval == 0.0f);  // read: zeros
    // Accumulation: two backward passes without zero_grad give twice the gradient.
    for (int round = 0; round < 2; ++round) {
        reused.forward(ids.data(), labels.data(), B, T);
        reused.backward();
    }
    // (Sums of partial sums round differently from doubling: compare at the tensor's scale.)
    const auto twice = reused.grads().flat().span();
    float scale = 0.0f;
    for (float w : want) scale = std::max(scale, std::abs(w));
    double worst = 0.0;
    for (std::size_t i = 0; i < twice.size(); ++i)
        worst = std::max(worst, static_cast<double>(std::abs(twice[i] - 2.0f * want[i])));
    BOOST_TEST(worst <= 1e-5 * scale);
}
