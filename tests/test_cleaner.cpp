// TokenCleaner with its policies against independent recomputations: fixed-reference
// cleaning equals a plain stable sort of L_base − L_ref; the self-evolving reference scores
// chunk t with (original base, θ_t) where θ_t is trained exactly as the README's "The method" says; a run
// interrupted after a chunk resumes to the same model, bit for bit.
#define BOOST_TEST_MODULE cleaner
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <vector>

#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/self_evolving.hpp"
#include "tokclean/clean/threshold_policies.hpp"
#include "tokclean/nn/model_dir.hpp"
#include "tokclean/nn/gpt_init.hpp"

using namespace tokclean;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_tiny";

static_assert(Scorer<LossDelta> && Scorer<ReverseLossDelta> && Scorer<BaseLoss> && Scorer<BaseEntropy>);
static_assert(ReferenceStrategy<FixedReference<Cpu>, Cpu> && ReferenceStrategy<SelfEvolving<Cpu>, Cpu>);

Gpt<Cpu> fixture_model(const char* dir) {
    LoadedModel m = load_model_dir(fixtures / dir);
    return Gpt<Cpu>(m.config, std::move(m.params));
}

// A pool of n examples over vocab 97: a prompt of 2..5 tokens (not targets), then 3..12
// response tokens, the last one EOS (96).
std::vector<Example> random_pool(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Example> pool(n);
    for (auto& ex : pool) {
        const std::size_t prompt = 2 + rng.below(4), response = 3 + rng.below(10);
        for (std::size_t j = 0; j < prompt + response; ++j) {
            const auto id = j + 1 == prompt + response ? 96 : static_cast<std::int32_t>(rng.below(96));
            ex.input_ids.push_back(id);
            ex.labels.push_back(j < prompt ? ignore_label : id);
        }
    }
    return pool;
}

// Per-example losses by the plain scorer (one independent path through the model).
std::vector<std::vector<float>> losses_of(Gpt<Cpu>& model, const std::vector<Example>& data) {
    std::vector<std::vector<float>> out(data.size());
    score_examples(model, std::span<const Example>(data), 8,
                   [&](std::size_t i, std::span<const float> l) { out[i].assign(l.begin(), l.end()); });
    return out;
}

struct Token {
    std::size_t example, position;
    float score;
};

// The reference selection: a stable descending sort of L_base − L_ref over `group`s of
// tokens (one group = global; one per example = per-sample), keeping ⌊n · keep⌋ of each.
std::vector<Example> clean_by_stable_sort(const std::vector<Example>& data, const std::vector<std::vector<float>>& base,
                                          const std::vector<std::vector<float>>& ref, double keep, bool per_sample) {
    std::vector<std::vector<Token>> groups(per_sample ? data.size() : 1);
    for (std::size_t e = 0; e < data.size(); ++e)
        for (std::size_t j = 0; j < data[e].input_ids.size(); ++j)
            if (!std::isnan(base[e][j])) groups[per_sample ? e : 0].push_back({e, j, base[e][j] - ref[e][j]});
    std::vector<Example> out = data;
    for (auto& g : groups) {
        std::stable_sort(g.begin(), g.end(), [](const Token& a, const Token& b) { return a.score > b.score; });
        const auto k = static_cast<std::size_t>(std::floor(static_cast<double>(g.size()) * keep + 1e-9));
        for (std::size_t r = k; r < g.size(); ++r) out[g[r].example].labels[g[r].position] = ignore_label;
    }
    return out;
}

void expect_same_labels(const std::vector<Example>& got, const std::vector<Example>& want) {
    BOOST_REQUIRE_EQUAL(got.size(), want.size());
    for (std::size_t e = 0; e < got.size(); ++e)
        BOOST_TEST(got[e].labels == want[e].labels, "example " << e);
}

TrainOptions chunk_training() {
    TrainOptions o;
    o.batch_size = 4;
    o.lr = 3e-3;
    o.schedule = ScheduleKind::constant;
    o.shuffle = true;
    o.seed = 11;
    return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(fixed_reference_keeps_what_a_stable_sort_of_loss_deltas_keeps) {
    Gpt<Cpu> base = fixture_model("model"), ref = fixture_model("adamw_final");
    const auto pool = random_pool(40, 3);
    const auto lb = losses_of(base, pool), lr = losses_of(ref, pool);
    for (double keep : {0.0, 0.3, 0.6, 1.0}) {
        BOOST_TEST_CONTEXT("keep " << keep) {
            TokenCleaner<Cpu, LossDelta, GlobalTopK, FixedReference<Cpu>> global(LossDelta{}, GlobalTopK{keep},
                                                                                 FixedReference<Cpu>{&ref});
            CleanedSet g;
            global.run(base, pool, [&](std::size_t, const CleanedSet& c) { g = c; });
            expect_same_labels(g.examples, clean_by_stable_sort(pool, lb, lr, keep, false));

            TokenCleaner<Cpu, LossDelta, SampleTopK, FixedReference<Cpu>> sample(LossDelta{}, SampleTopK{keep},
                                                                                 FixedReference<Cpu>{&ref});
            CleanedSet s;
            sample.run(base, pool, [&](std::size_t, const CleanedSet& c) { s = c; });
            expect_same_labels(s.examples, clean_by_stable_sort(pool, lb, lr, keep, true));
        }
    }
}

BOOST_AUTO_TEST_CASE(scores_are_recorded_at_their_positions_and_inputs_are_untouched) {
    Gpt<Cpu> base = fixture_model("model"), ref = fixture_model("adamw_final");
    const auto pool = random_pool(6, 5);
    const auto lb = losses_of(base, pool), lr = losses_of(ref, pool);
    TokenCleaner<Cpu, ReverseLossDelta, GlobalTopK, FixedReference<Cpu>> c(ReverseLossDelta{}, GlobalTopK{0.5},
                                                                          FixedReference<Cpu>{&ref});
    CleanedSet out;
    c.run(base, pool, [&](std::size_t, const CleanedSet& s) { out = s; });
    for (std::size_t e = 0; e < pool.size(); ++e) {
        BOOST_TEST(out.examples[e].input_ids == pool[e].input_ids);
        for (std::size_t j = 0; j < pool[e].input_ids.size(); ++j) {
            if (std::isnan(lb[e][j])) BOOST_TEST(std::isnan(out.scores[e][j]));
            else BOOST_TEST(out.scores[e][j] == lr[e][j] - lb[e][j], boost::test_tools::tolerance(1e-6f));
        }
    }
}

BOOST_AUTO_TEST_CASE(single_model_scorers_rank_base_loss_and_entropy) {
    Gpt<Cpu> base = fixture_model("model");
    const auto pool = random_pool(10, 7);
    TokenCleaner<Cpu, BaseEntropy, GlobalTopK, NoReference<>> c(BaseEntropy{}, GlobalTopK{0.5}, NoReference<>{});
    CleanedSet out;
    c.run(base, pool, [&](std::size_t, const CleanedSet& s) { out = s; });
    // Every kept token's entropy is >= every dropped token's.
    float min_kept = INFINITY, max_dropped = -INFINITY;
    for (std::size_t e = 0; e < pool.size(); ++e)
        for (std::size_t j = 1; j < pool[e].labels.size(); ++j) {
            if (pool[e].labels[j] == ignore_label) continue;
            const float s = out.scores[e][j];
            BOOST_TEST((s > 0.0f && s < std::log(97.0f) + 1e-4f));  // an entropy over 97 tokens
            if (out.examples[e].labels[j] == ignore_label) max_dropped = std::max(max_dropped, s);
            else min_kept = std::min(min_kept, s);
        }
    BOOST_TEST(min_kept >= max_dropped);
}

BOOST_AUTO_TEST_CASE(chunks_cover_the_pool_in_order_with_the_remainder_last) {
    using Range = std::pair<std::size_t, std::size_t>;
    BOOST_TEST((chunk_range(31, 3, 0) == Range{0, 10}));
    BOOST_TEST((chunk_range(31, 3, 1) == Range{10, 20}));
    BOOST_TEST((chunk_range(31, 3, 2) == Range{20, 31}));
}

BOOST_AUTO_TEST_CASE(self_evolving_scores_chunk_t_with_the_original_base_and_theta_t) {
    Gpt<Cpu> base = fixture_model("model");
    const GptParams<Cpu> base_before = base.params().clone();
    const auto pool = random_pool(31, 9);
    const double keep = 0.6;
    SelfEvolving<Cpu> evolving;
    evolving.chunks = 3;
    evolving.train = chunk_training();
    TokenCleaner<Cpu, LossDelta, GlobalTopK, SelfEvolving<Cpu>> cleaner(LossDelta{}, GlobalTopK{keep}, evolving);
    std::vector<CleanedSet> chunks;
    const GptParams<Cpu> final_params =
        cleaner.run(base, pool, [&](std::size_t c, const CleanedSet& s) {
            BOOST_TEST(c == chunks.size());
            chunks.push_back(s);
        });
    BOOST_REQUIRE_EQUAL(chunks.size(), 3u);
    BOOST_TEST(chunks[0].warmup);
    BOOST_TEST(chunks[0].kept == chunks[0].targets);
    // The base model is left as it was.
    BOOST_TEST(std::equal(base.params().flat().span().begin(), base.params().flat().span().end(),
                          base_before.flat().span().begin()));

    // Replay the method (README, "The method") by hand: θ_1 = base trained on D_0 in full; D_t scored by (base, θ_t).
    Gpt<Cpu> theta(base.config(), base_before.clone());
    const std::vector<Example> d0(pool.begin(), pool.begin() + 10);
    TrainOptions opt = chunk_training();
    train(theta, std::span<const Example>(d0), opt);
    for (std::size_t t = 1; t < 3; ++t) {
        const auto [b, e] = chunk_range(pool.size(), 3, t);
        const std::vector<Example> dt(pool.begin() + static_cast<std::ptrdiff_t>(b), pool.begin() + static_cast<std::ptrdiff_t>(e));
        const auto lb = losses_of(base, dt), lt = losses_of(theta, dt);
        const auto expected = clean_by_stable_sort(dt, lb, lt, keep, false);
        BOOST_TEST_CONTEXT("chunk " << t) {
            expect_same_labels(chunks[t].examples, expected);
            for (std::size_t i = 0; i < dt.size(); ++i)
                for (std::size_t j = 0; j < dt[i].input_ids.size(); ++j)
                    if (!std::isnan(lb[i][j]))
                        BOOST_TEST(chunks[t].scores[i][j] == lb[i][j] - lt[i][j], boost::test_tools::tolerance(1e-6f));
        }
        opt.seed = chunk_training().seed + t;
        train(theta, std::span<const Example>(expected), opt);
        opt.seed = chunk_training().seed;
    }
    // θ_3 from the replay is the returned model, bit for bit.
    BOOST_TEST(std::equal(final_params.flat().span().begin(), final_params.flat().span().end(),
                          theta.params().flat().span().begin()));
}

BOOST_AUTO_TEST_CASE(self_evolving_resumes_after_an_interruption_to_the_same_model) {
    const auto pool = random_pool(24, 13);
    const fs::path work = fs::temp_directory_path() / ("tokclean_resume_" + std::to_string(::getpid()));
    fs::remove_all(work);
    auto make = [&](const fs::path& dir) {
        SelfEvolving<Cpu> s;
        s.chunks = 4;
        s.train = chunk_training();
        s.work_dir = dir;
        s.fingerprint = "test";
        return TokenCleaner<Cpu, LossDelta, GlobalTopK, SelfEvolving<Cpu>>(LossDelta{}, GlobalTopK{0.6}, s);
    };
    Gpt<Cpu> base = fixture_model("model");
    auto uninterrupted = make(work / "a");
    std::vector<CleanedSet> want_sets;
    const GptParams<Cpu> want =
        uninterrupted.run(base, pool, [&](std::size_t, const CleanedSet& c) { want_sets.push_back(c); });

    struct Interrupted {};
    auto first = make(work / "b");
    BOOST_CHECK_THROW(first.run(base, pool, [](std::size_t c, const CleanedSet&) { if (c == 1) throw Interrupted{}; }),
                      Interrupted);
    std::vector<std::size_t> redone, sunk;
    std::vector<CleanedSet> got_sets;
    auto second = make(work / "b");
    second.reference().on_chunk = [&](std::size_t t) { redone.push_back(t); };
    const GptParams<Cpu> got = second.run(base, pool, [&](std::size_t c, const CleanedSet& set) {
        sunk.push_back(c);
        got_sets.push_back(set);
    });
    BOOST_TEST(redone == (std::vector<std::size_t>{2, 3}));  // chunks 0 and 1 were not redone ...
    BOOST_TEST(sunk == (std::vector<std::size_t>{0, 1, 2, 3}));  // ... but read back and passed on as they were
    BOOST_REQUIRE(got_sets.size() == want_sets.size());
    for (std::size_t c = 0; c < want_sets.size(); ++c) {
        BOOST_TEST_CONTEXT("chunk " << c) {
            BOOST_TEST(got_sets[c].kept == want_sets[c].kept);
            BOOST_TEST(got_sets[c].targets == want_sets[c].targets);
            for (std::size_t e = 0; e < want_sets[c].examples.size(); ++e) {
                BOOST_TEST(got_sets[c].examples[e].labels == want_sets[c].examples[e].labels);
                // Scores read back from JSON equal the computed ones (NaN where not scored).
                for (std::size_t j = 0; j < want_sets[c].scores[e].size(); ++j) {
                    const float a = got_sets[c].scores[e][j], b = want_sets[c].scores[e][j];
                    BOOST_TEST((a == b || (std::isnan(a) && std::isnan(b))));
                }
            }
        }
    }
    BOOST_TEST(std::equal(got.flat().span().begin(), got.flat().span().end(), want.flat().span().begin()));

    auto other = make(work / "b");
    other.reference().fingerprint = "other settings";
    BOOST_CHECK_THROW(other.run(base, pool, [](std::size_t, const CleanedSet&) {}), Error);
    fs::remove_all(work);
}
