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
#include <sstream>
#include <vector>

#include "tokclean/clean/reference.hpp"
#include "tokclean/clean/reselect.hpp"
#include "tokclean/clean/rho1.hpp"
#include "tokclean/clean/self_evolving.hpp"
#include "tokclean/clean/threshold_policies.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/jsonl_reader.hpp"
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

// Appends `prompt` random tokens (not targets), then `response` targets, the last one EOS (96).
void append_turn(Example& ex, Rng& rng, std::size_t prompt, std::size_t response) {
    for (std::size_t j = 0; j < prompt + response; ++j) {
        const auto id = j + 1 == prompt + response ? 96 : static_cast<std::int32_t>(rng.below(96));
        ex.input_ids.push_back(id);
        ex.labels.push_back(j < prompt ? ignore_label : id);
    }
}

// A pool of n examples over vocab 97: a prompt of 2..5 tokens, then 3..12 response tokens.
std::vector<Example> random_pool(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Example> pool(n);
    for (auto& ex : pool) {
        const std::size_t prompt = 2 + rng.below(4), response = 3 + rng.below(10);
        append_turn(ex, rng, prompt, response);
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

// A chat-shaped pool over vocab 97: 1..3 turns, each a header of 1..4 tokens and a response
// of 1..6. A first header of one token puts the first target at position 1.
std::vector<Example> chat_pool(std::size_t n, std::uint64_t seed) {
    Rng rng(seed);
    std::vector<Example> pool(n);
    for (auto& ex : pool)
        for (std::size_t t = 0, turns = 1 + rng.below(3); t < turns; ++t) {
            const std::size_t header = 1 + rng.below(4), response = 1 + rng.below(6);
            append_turn(ex, rng, header, response);
        }
    return pool;
}

// The examples of JSONL `text`.
std::vector<Example> read_lines(const std::string& text, const ReadOptions& opt) {
    std::istringstream in(text);
    ExampleReader reader(in, "lines", opt);
    std::vector<Example> out;
    for (Example ex; reader.next(ex);) out.push_back(std::move(ex));
    return out;
}

// What a policy was handed: the layout views of its TokenScores, copied.
struct Seen {
    std::vector<std::int64_t> offsets;
    std::vector<std::int32_t> positions, turns;
    std::vector<std::uint8_t> is_eos;
};
// GlobalTopK that records its input.
struct Recording {
    Seen* seen;
    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        seen->offsets.assign(s.offsets.begin(), s.offsets.end());
        seen->positions.assign(s.positions.begin(), s.positions.end());
        seen->turns.assign(s.turns.begin(), s.turns.end());
        seen->is_eos.assign(s.is_eos.begin(), s.is_eos.end());
        GlobalTopK{0.5}.select(s, mask);
    }
};
static_assert(Threshold<Recording>);

void expect_layout(const Seen& got, const TokenStats& want) {
    BOOST_TEST(got.offsets == want.offsets, boost::test_tools::per_element());
    BOOST_TEST(got.positions == want.positions, boost::test_tools::per_element());
    BOOST_TEST(got.turns == want.turns, boost::test_tools::per_element());
    BOOST_TEST(got.is_eos == want.is_eos, boost::test_tools::per_element());
}

// The global top keep_count(N, keep), less every target among the first `skip` positions of
// its turn: a rule that needs positions and turns.
struct TopKPastTurnOpening {
    double keep = 0.5;
    std::int32_t skip = 2;
    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        GlobalTopK{keep}.select(s, mask);
        TOKCLEAN_CHECK(s.positions.size() == s.num_tokens() && s.turns.size() == s.num_tokens(),
                       "positions and turns are needed");
        for (std::size_t e = 0; e < s.num_examples(); ++e) {
            std::int32_t start = 0;  // the position of the current turn's first target
            for (auto i = static_cast<std::size_t>(s.begin(e)); i < static_cast<std::size_t>(s.end(e)); ++i) {
                if (i == static_cast<std::size_t>(s.begin(e)) || s.turns[i] != s.turns[i - 1]) start = s.positions[i];
                if (s.positions[i] - start < skip) mask[i] = 0;
            }
        }
    }
};

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
    const std::unique_ptr<CausalLm<Cpu>> final_model =
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
    BOOST_TEST(std::equal(final_model->flat_params().span().begin(), final_model->flat_params().span().end(),
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
    const std::unique_ptr<CausalLm<Cpu>> want =
        uninterrupted.run(base, pool, [&](std::size_t, const CleanedSet& c) { want_sets.push_back(c); });

    struct Interrupted {};
    auto first = make(work / "b");
    BOOST_CHECK_THROW(first.run(base, pool, [](std::size_t c, const CleanedSet&) { if (c == 1) throw Interrupted{}; }),
                      Interrupted);
    std::vector<std::size_t> redone, sunk;
    std::vector<CleanedSet> got_sets;
    auto second = make(work / "b");
    second.reference().on_chunk = [&](std::size_t t) { redone.push_back(t); };
    const std::unique_ptr<CausalLm<Cpu>> got = second.run(base, pool, [&](std::size_t c, const CleanedSet& set) {
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
    BOOST_TEST(std::equal(got->flat_params().span().begin(), got->flat_params().span().end(),
                          want->flat_params().span().begin()));

    auto other = make(work / "b");
    other.reference().fingerprint = "other settings";
    BOOST_CHECK_THROW(other.run(base, pool, [](std::size_t, const CleanedSet&) {}), Error);
    fs::remove_all(work);
}

// positions and turns of the targets, by hand: prompt/completion (one turn), two assistant
// turns of {"messages"} read with the byte tokenizer, text and pre-tokenized examples whose
// first target is at position 1 (position 0 is never one), and a pre-tokenized gap.
BOOST_AUTO_TEST_CASE(positions_and_turns_follow_the_runs_of_original_targets) {
    const ByteTokenizer tok;  // EOS 256
    ReadOptions opt;
    opt.vocab_size = tok.min_vocab_size();
    opt.tokenizer = &tok;
    opt.chat_template = ChatTemplate{"S>", "U>", "A>", ";"};
    const std::vector<Example> data = read_lines(
        // "Q:" "ab" EOS: targets 2..4.
        "{\"prompt\": \"Q:\", \"completion\": \"ab\"}\n"
        // "U>hi;" "A>yo" EOS ";" "U>x;" "A>ok" EOS ";": targets 7..9 and 17..19.
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": "
        "\"yo\"}, {\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"ok\"}]}\n"
        "{\"text\": \"abc\"}\n"
        "{\"input_ids\": [5, 6, 7, 8, 9], \"labels\": [5, 6, -100, 8, 9]}\n",
        opt);
    BOOST_REQUIRE_EQUAL(data.size(), 4u);
    BOOST_TEST(data[1].labels[9] == 256);
    const TokenStats t = target_layout(data, tok.eos_id());
    BOOST_TEST(t.offsets == (std::vector<std::int64_t>{0, 3, 9, 11, 14}), boost::test_tools::per_element());
    BOOST_TEST(t.positions == (std::vector<std::int32_t>{2, 3, 4, 7, 8, 9, 17, 18, 19, 1, 2, 1, 3, 4}),
               boost::test_tools::per_element());
    BOOST_TEST(t.turns == (std::vector<std::int32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1}),
               boost::test_tools::per_element());
    BOOST_TEST(t.is_eos == (std::vector<std::uint8_t>{0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0}),
               boost::test_tools::per_element());
    // The view hands them on as they are.
    const std::vector<float> scores(t.num_tokens(), 0.0f);
    const TokenScores v = t.view(scores);
    BOOST_TEST(v.positions.data() == t.positions.data());
    BOOST_TEST(v.turns.data() == t.turns.data());
    BOOST_TEST(v.is_eos.data() == t.is_eos.data());
    BOOST_TEST(v.turns.size() == v.num_tokens());
}

// TokenCleaner (which scores the pool in slices and joins them) and reselect (from the scores
// cleaning recorded, after the dropped labels) hand a policy the layout of the original targets.
BOOST_AUTO_TEST_CASE(cleaning_and_reselect_hand_policies_the_positions_and_turns) {
    Gpt<Cpu> base = fixture_model("model"), ref = fixture_model("adamw_final");
    const auto pool = chat_pool(40, 13);
    const TokenStats want = target_layout(pool, 96);
    BOOST_TEST(want.turns.back() > 0);  // the pool has several turns
    Seen cleaned, reselected;
    TokenCleaner<Cpu, LossDelta, Recording, FixedReference<Cpu>> c(LossDelta{}, Recording{&cleaned},
                                                                   FixedReference<Cpu>{&ref});
    CleanedSet out;
    c.run(base, pool, [&](std::size_t, const CleanedSet& s) { out = s; });
    expect_layout(cleaned, want);
    BOOST_TEST(out.kept < out.targets);
    const CleanedSet again = reselect(out, Recording{&reselected}, 96, "pool");
    expect_layout(reselected, want);
    expect_same_labels(again.examples, out.examples);
}

// A policy that reads positions and turns gives, through TokenCleaner, what a plain loop over
// the labels gives: the global top-k of a stable sort, less each run's first `skip` targets.
BOOST_AUTO_TEST_CASE(a_policy_reading_positions_equals_its_rule_computed_by_hand) {
    Gpt<Cpu> base = fixture_model("model"), ref = fixture_model("adamw_final");
    const auto pool = chat_pool(40, 17);
    const auto lb = losses_of(base, pool), lr = losses_of(ref, pool);
    for (std::int32_t skip : {0, 1, 3}) {
        BOOST_TEST_CONTEXT("skip " << skip) {
            const TopKPastTurnOpening policy{0.6, skip};
            TokenCleaner<Cpu, LossDelta, TopKPastTurnOpening, FixedReference<Cpu>> c(LossDelta{}, policy,
                                                                                     FixedReference<Cpu>{&ref});
            CleanedSet out;
            c.run(base, pool, [&](std::size_t, const CleanedSet& s) { out = s; });
            std::vector<Example> want = clean_by_stable_sort(pool, lb, lr, policy.keep, false);
            for (std::size_t e = 0; e < pool.size(); ++e) {
                std::size_t run_start = 0;  // 0: not inside a run of targets (position 0 never is one)
                for (std::size_t j = 1; j < pool[e].labels.size(); ++j) {
                    if (pool[e].labels[j] == ignore_label) {
                        run_start = 0;
                        continue;
                    }
                    if (run_start == 0) run_start = j;
                    if (j - run_start < static_cast<std::size_t>(skip)) want[e].labels[j] = ignore_label;
                }
            }
            expect_same_labels(out.examples, want);
        }
    }
}

// RHO-1's online rule (clean/rho1.hpp): the weights of one batch against a plain computation
// from the two models' per-token losses: with GlobalTopK, the top ⌊n · keep⌋ excess losses of
// a stable descending sort; with AutoThreshold, the scores >= the tau it chooses for them;
// each kept target weighs 1/kept, and the reported loss is their mean.
BOOST_AUTO_TEST_CASE(rho1_weights_the_batch_targets_its_policy_keeps) {
    Gpt<Cpu> current = fixture_model("model"), ref = fixture_model("adamw_final");
    const std::vector<Example> data = random_pool(6, 41);
    const Batch batch = make_batch(std::span<const Example>(data));
    const std::int64_t B = batch.batch_size(), T = batch.seq_len();
    current.forward(batch.input_ids.data(), batch.labels.data(), B, T);
    const std::vector<float> losses(current.token_losses().begin(), current.token_losses().end());  // (B, T)
    ref.forward(batch.input_ids.data(), batch.labels.data(), B, T);
    const std::vector<float> ref_losses(ref.token_losses().begin(), ref.token_losses().end());
    std::vector<float> scores;
    std::vector<std::size_t> slots;
    for (std::size_t i = 0; i < losses.size(); ++i)
        if (!std::isnan(losses[i])) scores.push_back(losses[i] - ref_losses[i]), slots.push_back(i);
    BOOST_REQUIRE(scores.size() > 20);

    const auto check = [&](const TokenWeighter& weighter, const std::vector<std::uint8_t>& keep, const char* what) {
        BOOST_TEST_CONTEXT(what) {
            std::vector<float> weights;
            const float reported = weighter(batch, losses, weights);
            BOOST_REQUIRE_EQUAL(weights.size(), losses.size());
            const auto kept = std::count(keep.begin(), keep.end(), 1);
            BOOST_REQUIRE(kept > 0);
            double sum = 0.0;
            std::vector<float> want(losses.size(), 0.0f);
            for (std::size_t i = 0; i < scores.size(); ++i)
                if (keep[i]) want[slots[i]] = 1.0f / static_cast<float>(kept), sum += losses[slots[i]];
            BOOST_TEST(weights == want, boost::test_tools::per_element());
            BOOST_TEST(reported == static_cast<float>(sum / static_cast<double>(kept)));
        }
    };
    // GlobalTopK{0.5}: a stable descending sort.
    std::vector<std::size_t> order(scores.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    std::vector<std::uint8_t> top(scores.size(), 0);
    for (std::size_t r = 0; r < scores.size() / 2; ++r) top[order[r]] = 1;
    check(rho1_weighter(ref, 0.5), top, "RHO-1, keep 0.5");
    // AutoThreshold: score >= tau of these scores.
    const std::int64_t offsets[] = {0, static_cast<std::int64_t>(scores.size())};
    const AutoChoice c = AutoThreshold{}.choose(TokenScores{.scores = scores, .offsets = offsets});
    std::vector<std::uint8_t> above(scores.size());
    for (std::size_t i = 0; i < scores.size(); ++i) above[i] = static_cast<double>(scores[i]) >= c.tau;
    check(rho1_weighter(ref, AutoThreshold{}), above, "auto");
}
