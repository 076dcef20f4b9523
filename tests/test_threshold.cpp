// The threshold policies against independent references: a plain std::stable_sort of indices
// by descending score (ranking policies) or a plain loop (AbsoluteThreshold), on scores with
// planted ties, empty and one-token examples; thread-count independence; errors; the guards.
#define BOOST_TEST_MODULE threshold
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <omp.h>

#include "tokclean/clean/threshold_policies.hpp"
#include "tokclean/core/rng.hpp"

using namespace tokclean;
using Mask = std::vector<std::uint8_t>;

// ---- Every policy is a Threshold; a guard of a non-policy is not a type -------------------
static_assert(Threshold<GlobalTopK> && Threshold<SampleTopK> && Threshold<BatchTopK> &&
              Threshold<PositiveTopK> && Threshold<AbsoluteThreshold> && Threshold<RandomSelect>);
static_assert(Threshold<KeepEos<GlobalTopK>> && Threshold<MinPerExample<SampleTopK>> &&
              Threshold<KeepEos<MinPerExample<GlobalTopK>>> &&
              Threshold<MinPerExample<KeepEos<RandomSelect>>>);
template <class P>
concept guardable = requires { typename KeepEos<P>; } || requires { typename MinPerExample<P>; };
static_assert(!Threshold<int> && !guardable<int> && !guardable<TokenScores> && guardable<GlobalTopK>);

// ---- Test data ----------------------------------------------------------------------------
// Each example is one response turn whose targets start at position 1 (a {"text"} line).
struct Scores {
    std::vector<float> scores;
    std::vector<std::int64_t> offsets{0};
    std::vector<std::int32_t> positions, turns;
    std::vector<std::uint8_t> eos;
    TokenScores view() const { return {scores, offsets, positions, turns, eos}; }
    std::size_t size() const { return scores.size(); }
    void add_example(const std::vector<float>& x, bool eos_last = true) {
        for (std::size_t j = 0; j < x.size(); ++j) {
            scores.push_back(x[j]);
            positions.push_back(static_cast<std::int32_t>(j + 1));
            turns.push_back(0);
            eos.push_back(eos_last && j + 1 == x.size());
        }
        offsets.push_back(static_cast<std::int64_t>(scores.size()));
    }
};

// Scores built to tie: a few fixed values (±0.0 among them), coarse roundings, runs of one
// repeated value, and plain normals. `spread` scales the normals, so a large spread makes
// ties rare and a small one makes them everywhere.
float tie_prone_score(Rng& rng, float& run_value, int& run_left) {
    if (run_left > 0) return --run_left, run_value;
    const double u = rng.uniform();
    static const float fixed[] = {-1.0f, -0.5f, -0.0f, 0.0f, 0.25f, 0.5f, 1.0f, 2.0f};
    float v;
    if (u < 0.25) v = fixed[rng.below(8)];
    else if (u < 0.5) v = static_cast<float>(std::round(rng.normal() * 10.0) / 10.0);
    else v = static_cast<float>(rng.normal());
    if (rng.uniform() < 0.05) {  // start a run of identical scores
        run_value = v;
        run_left = static_cast<int>(rng.below(30));
    }
    return v;
}

// Examples of random length, with many empty and one-token ones.
Scores random_scores(std::uint64_t seed, std::size_t examples, std::uint64_t max_len = 40) {
    Rng rng(seed);
    Scores s;
    float run_value = 0;
    int run_left = 0;
    for (std::size_t e = 0; e < examples; ++e) {
        const double u = rng.uniform();
        const std::size_t len = u < 0.15 ? 0 : u < 0.3 ? 1 : static_cast<std::size_t>(rng.below(max_len));
        std::vector<float> x(len);
        for (auto& v : x) v = tie_prone_score(rng, run_value, run_left);
        s.add_example(x, rng.uniform() < 0.7);
    }
    return s;
}

template <class P>
Mask run(const P& policy, const Scores& s) {
    Mask m(s.size(), 7);  // 7: select must overwrite every entry with 0 or 1
    policy.select(s.view(), m);
    return m;
}

// ---- Independent references ---------------------------------------------------------------
// The first k of [b, e) under a stable sort by descending score (float ==: -0.0 == +0.0).
void ref_top_k(const std::vector<float>& x, std::int64_t b, std::int64_t e, std::int64_t k, Mask& m) {
    std::vector<std::int64_t> idx(static_cast<std::size_t>(e - b));
    std::iota(idx.begin(), idx.end(), b);
    std::stable_sort(idx.begin(), idx.end(), [&](std::int64_t i, std::int64_t j) {
        return x[static_cast<std::size_t>(i)] > x[static_cast<std::size_t>(j)];
    });
    for (std::size_t r = 0; r < idx.size(); ++r) m[static_cast<std::size_t>(idx[r])] = r < static_cast<std::size_t>(k);
}
std::int64_t exact_floor(std::int64_t n, double keep) {  // keep given in decimal, as the tests use
    return static_cast<std::int64_t>(std::floor(static_cast<long double>(n) * keep + 1e-9L));
}
Mask ref_global(const Scores& s, double keep) {
    Mask m(s.size());
    const auto n = static_cast<std::int64_t>(s.size());
    ref_top_k(s.scores, 0, n, exact_floor(n, keep), m);
    return m;
}
Mask ref_batch(const Scores& s, double keep, std::size_t per) {
    Mask m(s.size());
    const std::size_t examples = s.offsets.size() - 1;
    for (std::size_t first = 0; first < examples; first += per) {
        const std::int64_t b = s.offsets[first], e = s.offsets[std::min(first + per, examples)];
        ref_top_k(s.scores, b, e, exact_floor(e - b, keep), m);
    }
    return m;
}
Mask ref_sample(const Scores& s, double keep) { return ref_batch(s, keep, 1); }
Mask ref_positive(const Scores& s, double keep) {
    Mask m = ref_global(s, keep);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = m[i] && s.scores[i] > 0.0f;
    return m;
}
Mask ref_absolute(const Scores& s, double tau) {
    Mask m(s.size());
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = s.scores[i] > tau;
    return m;
}
Mask ref_keep_eos(const Scores& s, Mask m) {
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = m[i] || s.eos[i];
    return m;
}
Mask ref_min_per_example(const Scores& s, Mask m, std::int64_t min_kept) {
    for (std::size_t e = 0; e + 1 < s.offsets.size(); ++e) {
        const std::int64_t b = s.offsets[e], n = s.offsets[e + 1] - b;
        std::vector<std::int64_t> dropped;
        std::int64_t kept = 0;
        for (std::int64_t i = b; i < b + n; ++i) {
            if (m[static_cast<std::size_t>(i)]) ++kept;
            else dropped.push_back(i);
        }
        std::stable_sort(dropped.begin(), dropped.end(), [&](std::int64_t i, std::int64_t j) {
            return s.scores[static_cast<std::size_t>(i)] > s.scores[static_cast<std::size_t>(j)];
        });
        for (std::int64_t r = 0; r < std::min(min_kept, n) - kept; ++r)
            m[static_cast<std::size_t>(dropped[static_cast<std::size_t>(r)])] = 1;
    }
    return m;
}
std::int64_t count(const Mask& m) { return std::count(m.begin(), m.end(), std::uint8_t{1}); }

const double keeps[] = {0.0, 0.3, 0.6, 0.999, 1.0, 0.5, 0.123};

// ---- keep_count ---------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(keep_count_is_the_exact_decimal_floor) {
    BOOST_TEST(keep_count(5, 0.6) == 3);
    BOOST_TEST(keep_count(10, 0.3) == 3);
    BOOST_TEST(keep_count(10, 0.7) == 7);
    BOOST_TEST(keep_count(1, 0.6) == 0);
    BOOST_TEST(keep_count(1, 1.0) == 1);
    BOOST_TEST(keep_count(1000, 0.999) == 999);
    BOOST_TEST(keep_count(100'000'000, 0.6) == 60'000'000);
    for (double k : keeps) BOOST_TEST(keep_count(0, k) == 0);
    for (std::int64_t n = 0; n < 2000; ++n)
        for (double k : keeps) BOOST_TEST_REQUIRE(keep_count(n, k) == exact_floor(n, k));
    BOOST_CHECK_THROW(keep_count(10, -0.1), Error);
    BOOST_CHECK_THROW(keep_count(10, 1.0001), Error);
    BOOST_CHECK_THROW(keep_count(0, std::nan("")), Error);
}

// ---- Ranking policies against the stable sort ---------------------------------------------
BOOST_AUTO_TEST_CASE(ranking_policies_equal_a_stable_descending_sort) {
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
        const Scores s = random_scores(seed, 1 + seed * 3);
        for (double keep : keeps) {
            BOOST_TEST_CONTEXT("seed " << seed << ", keep " << keep) {
                BOOST_TEST_REQUIRE(run(GlobalTopK{keep}, s) == ref_global(s, keep));
                BOOST_TEST_REQUIRE(run(SampleTopK{keep}, s) == ref_sample(s, keep));
                BOOST_TEST_REQUIRE(run(PositiveTopK{keep}, s) == ref_positive(s, keep));
                for (std::size_t per : {1, 2, 3, 8, 1000})
                    BOOST_TEST_REQUIRE(run(BatchTopK{keep, per}, s) == ref_batch(s, keep, per));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(ties_keep_the_earlier_token_and_signed_zeros_are_equal) {
    Scores s;
    s.add_example({-0.0f, 0.0f, -0.0f, 1.0f});
    s.add_example({0.0f, -0.0f});
    // Ranked: 1.0 (3), then five equal zeros in index order 0, 1, 2, 4, 5.
    BOOST_TEST(run(GlobalTopK{0.5}, s) == (Mask{1, 1, 0, 1, 0, 0}));
    BOOST_TEST(run(SampleTopK{0.5}, s) == (Mask{1, 0, 0, 1, 1, 0}));
    BOOST_TEST(run(PositiveTopK{1.0}, s) == (Mask{0, 0, 0, 1, 0, 0}));
    Scores t;
    t.add_example({2.0f, 3.0f, 3.0f, 1.0f, 3.0f});
    BOOST_TEST(run(GlobalTopK{0.4}, t) == (Mask{0, 1, 1, 0, 0}));
    BOOST_TEST(run(GlobalTopK{0.6}, t) == (Mask{0, 1, 1, 0, 1}));
    BOOST_TEST(run(GlobalTopK{0.8}, t) == (Mask{1, 1, 1, 0, 1}));
}

BOOST_AUTO_TEST_CASE(empty_inputs_and_one_token_examples) {
    Scores none;  // N = 0, E = 0
    for (double keep : keeps) {
        BOOST_TEST(run(GlobalTopK{keep}, none).empty());
        BOOST_TEST(run(SampleTopK{keep}, none).empty());
        BOOST_TEST(run(BatchTopK{keep}, none).empty());
        BOOST_TEST(run(PositiveTopK{keep}, none).empty());
        BOOST_TEST(run(RandomSelect{keep, 3}, none).empty());
    }
    BOOST_TEST(run(AbsoluteThreshold{}, none).empty());
    Mask m;
    GlobalTopK{}.select(TokenScores{}, m);  // no offsets at all is fine when N = 0
    Scores empties;  // examples with no tokens (equal neighbouring offsets)
    empties.offsets = {0, 0, 0, 0};
    BOOST_TEST(run(KeepEos{MinPerExample{SampleTopK{}, 3}}, empties).empty());
    Scores singles;
    for (int e = 0; e < 5; ++e) singles.add_example({static_cast<float>(e)}, false);
    BOOST_TEST(count(run(SampleTopK{0.999}, singles)) == 0);  // one token keeps none at keep < 1
    BOOST_TEST(count(run(SampleTopK{1.0}, singles)) == 5);
    BOOST_TEST(run(GlobalTopK{0.6}, singles) == (Mask{0, 0, 1, 1, 1}));
}

// ---- The radix path ---------------------------------------------------------------------
// Few distinct values, so that a long run of ties crosses the cut; ±0.0 among them.
Scores large_scores(std::uint64_t seed, std::size_t n, int distinct, std::size_t example_len) {
    Rng rng(seed);
    Scores s;
    s.scores.resize(n);
    for (auto& v : s.scores) {
        v = static_cast<float>(static_cast<double>(rng.below(static_cast<std::uint64_t>(distinct))) - distinct / 2) * 0.25f;
        if (v == 0.0f && rng.uniform() < 0.5) v = -0.0f;
        if (rng.uniform() < 0.2) v = static_cast<float>(rng.normal());
    }
    s.eos.assign(n, 0);
    s.offsets.clear();
    for (std::size_t o = 0; o < n; o += example_len) s.offsets.push_back(static_cast<std::int64_t>(o));
    s.offsets.push_back(static_cast<std::int64_t>(n));
    return s;
}

BOOST_AUTO_TEST_CASE(global_top_k_large_n_radix_path) {
    for (int distinct : {9, 1000}) {
        const Scores s = large_scores(static_cast<std::uint64_t>(distinct), 1'000'000, distinct, 700);
        for (double keep : keeps) {
            BOOST_TEST_CONTEXT("distinct " << distinct << ", keep " << keep) {
                const Mask want = ref_global(s, keep);
                BOOST_TEST_REQUIRE(run(GlobalTopK{keep}, s) == want);
                BOOST_TEST_REQUIRE(count(want) == keep_count(1'000'000, keep));
            }
        }
        BOOST_TEST(run(PositiveTopK{0.6}, s) == ref_positive(s, 0.6));
    }
}

BOOST_AUTO_TEST_CASE(radix_path_with_64_bit_counters_agrees) {
    // The 64-bit histogram counters are only chosen past 2^32 tokens; run them directly.
    const Scores s = large_scores(21, 300'000, 40, 1000);
    for (double keep : {0.3, 0.6, 0.999}) {
        Mask m(s.size());
        BOOST_TEST(detail::top_k_mask_radix<std::uint64_t>(s.scores, keep_count(300'000, keep), m));
        BOOST_TEST(m == ref_global(s, keep));
    }
}

BOOST_AUTO_TEST_CASE(large_groups_use_the_radix_path_inside_examples_and_batches) {
    // Example lengths 0, 1, tiny and beyond the radix cut-over (2^15 tokens), mixed.
    Rng rng(5);
    Scores s;
    float run_value = 0;
    int run_left = 0;
    for (std::size_t len : {70000u, 0u, 1u, 5u, 40000u, 3u, 100000u, 2u}) {
        std::vector<float> x(len);
        for (auto& v : x) v = tie_prone_score(rng, run_value, run_left);
        s.add_example(x);
    }
    for (double keep : {0.3, 0.6, 0.999}) {
        BOOST_TEST(run(SampleTopK{keep}, s) == ref_sample(s, keep));
        BOOST_TEST(run(BatchTopK{keep, 3}, s) == ref_batch(s, keep, 3));
        BOOST_TEST(run(GlobalTopK{keep}, s) == ref_global(s, keep));
    }
}

BOOST_AUTO_TEST_CASE(masks_do_not_depend_on_the_thread_count) {
    const Scores big = large_scores(11, 1'500'001, 50, 333);
    const Scores small = random_scores(12, 3000);
    auto all = [&](const Scores& s) {
        std::vector<Mask> out;
        out.push_back(run(GlobalTopK{0.6}, s));
        out.push_back(run(GlobalTopK{0.37}, s));
        out.push_back(run(SampleTopK{0.6}, s));
        out.push_back(run(BatchTopK{0.6, 4}, s));
        out.push_back(run(PositiveTopK{0.6}, s));
        out.push_back(run(AbsoluteThreshold{0.1}, s));
        out.push_back(run(RandomSelect{0.6, 9}, s));
        out.push_back(run(KeepEos{MinPerExample{GlobalTopK{0.1}, 3}}, s));
        return out;
    };
    const int before = omp_get_max_threads();
    for (const Scores* s : {&big, &small}) {
        omp_set_num_threads(1);
        const auto one = all(*s);
        omp_set_num_threads(2);
        const auto two = all(*s);
        omp_set_num_threads(3);  // uneven chunks
        const auto three = all(*s);
        for (std::size_t p = 0; p < one.size(); ++p) {
            BOOST_TEST_CONTEXT("policy " << p) {
                BOOST_TEST(one[p] == two[p]);
                BOOST_TEST(one[p] == three[p]);
            }
        }
        BOOST_TEST(one[0] == ref_global(*s, 0.6));
    }
    omp_set_num_threads(before);
}

// ---- AbsoluteThreshold --------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(absolute_threshold_is_a_plain_comparison) {
    const double inf = std::numeric_limits<double>::infinity();
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
        const Scores s = random_scores(seed + 100, 50);
        for (double tau : {0.0, -0.0, 0.5, -1.0, 0.1, 1e30, -inf, inf})
            BOOST_TEST_REQUIRE(run(AbsoluteThreshold{tau}, s) == ref_absolute(s, tau));
    }
    Scores z;
    z.add_example({-0.0f, 0.0f, 1e-30f, -1e-30f});
    BOOST_TEST(run(AbsoluteThreshold{0.0}, z) == (Mask{0, 0, 1, 0}));
    BOOST_CHECK_THROW(run(AbsoluteThreshold{std::nan("")}, z), Error);
}

// ---- RandomSelect -------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(random_select_keeps_exactly_k_reproducibly) {
    const Scores s = random_scores(77, 400);
    for (double keep : keeps) {
        const Mask a = run(RandomSelect{keep, 1}, s);
        BOOST_TEST(count(a) == keep_count(static_cast<std::int64_t>(s.size()), keep));
        BOOST_TEST(run(RandomSelect{keep, 1}, s) == a);
    }
    BOOST_TEST(run(RandomSelect{0.6, 1}, s) != run(RandomSelect{0.6, 2}, s));
    // The scores do not matter: any finite scores of the same N give the same mask.
    Scores other = s;
    for (auto& v : other.scores) v = -v;
    BOOST_TEST(run(RandomSelect{0.6, 5}, other) == run(RandomSelect{0.6, 5}, s));
}

BOOST_AUTO_TEST_CASE(random_select_is_roughly_uniform) {
    Scores s;
    s.add_example(std::vector<float>(50, 1.0f));
    const int seeds = 4000;
    std::vector<int> hits(50);
    for (int seed = 0; seed < seeds; ++seed) {
        const Mask m = run(RandomSelect{0.3, static_cast<std::uint64_t>(seed)}, s);
        for (std::size_t i = 0; i < m.size(); ++i) hits[i] += m[i];
    }
    // Inclusion probability 15/50 = 0.3 at every position; sd over 4000 seeds ≈ 0.0072.
    for (std::size_t i = 0; i < hits.size(); ++i)
        BOOST_TEST(std::abs(hits[i] / double(seeds) - 0.3) < 0.04, "position " << i << ": " << hits[i]);
    // The first and last tokens are kept together as often as independence predicts
    // (15/50 · 14/49 ≈ 0.0857), i.e. no structure in the subset.
    int both = 0;
    for (int seed = 0; seed < seeds; ++seed) {
        const Mask m = run(RandomSelect{0.3, static_cast<std::uint64_t>(seed)}, s);
        both += m.front() && m.back();
    }
    BOOST_TEST(std::abs(both / double(seeds) - 15.0 / 50 * 14.0 / 49) < 0.025);
}

// ---- Guards -------------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(keep_eos_adds_every_eos_token) {
    for (std::uint64_t seed = 0; seed < 15; ++seed) {
        const Scores s = random_scores(seed + 200, 60);
        for (double keep : {0.0, 0.3, 0.6}) {
            BOOST_TEST_REQUIRE(run(KeepEos{GlobalTopK{keep}}, s) == ref_keep_eos(s, ref_global(s, keep)));
            BOOST_TEST_REQUIRE(run(KeepEos{SampleTopK{keep}}, s) == ref_keep_eos(s, ref_sample(s, keep)));
            BOOST_TEST_REQUIRE(run(KeepEos<RandomSelect>{{keep, seed}}, s) ==
                               ref_keep_eos(s, run(RandomSelect{keep, seed}, s)));
        }
    }
    Scores no_eos = random_scores(3, 20);
    no_eos.eos.clear();  // no EOS information: the inner mask as it is
    BOOST_TEST(run(KeepEos{GlobalTopK{0.3}}, no_eos) == ref_global(no_eos, 0.3));
}

BOOST_AUTO_TEST_CASE(min_per_example_adds_the_best_dropped_tokens) {
    Scores s;
    s.add_example({3.0f, 1.0f, 3.0f, 3.0f});  // nothing kept: the first two 3.0s by position
    s.add_example({5.0f, 4.0f, 4.0f});        // 5.0 kept by the inner policy: one 4.0 added
    s.add_example({0.5f});                    // min(2, 1) = 1 token
    s.add_example({});
    s.add_example({9.0f, 8.0f, 0.1f});        // kept 2 already: unchanged
    const Mask inner = run(GlobalTopK{0.3}, s);  // keeps 9.0, 8.0, 5.0 (k = 3 of 11)
    BOOST_TEST(inner == (Mask{0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0}));
    BOOST_TEST(run(MinPerExample{GlobalTopK{0.3}, 2}, s) == (Mask{1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0}));
    BOOST_TEST(run(MinPerExample{GlobalTopK{0.3}, 0}, s) == inner);
    BOOST_CHECK_THROW(run(MinPerExample{GlobalTopK{}, -1}, s), Error);

    for (std::uint64_t seed = 0; seed < 15; ++seed) {
        const Scores r = random_scores(seed + 300, 80);
        for (std::int64_t m : {1, 2, 5, 1000}) {
            for (double keep : {0.0, 0.3, 0.6}) {
                BOOST_TEST_CONTEXT("seed " << seed << ", min " << m << ", keep " << keep) {
                    BOOST_TEST_REQUIRE(run(MinPerExample{GlobalTopK{keep}, m}, r) ==
                                       ref_min_per_example(r, ref_global(r, keep), m));
                    BOOST_TEST_REQUIRE(run(MinPerExample{BatchTopK{keep, 4}, m}, r) ==
                                       ref_min_per_example(r, ref_batch(r, keep, 4), m));
                    BOOST_TEST_REQUIRE(
                        run(KeepEos{MinPerExample{GlobalTopK{keep}, m}}, r) ==
                        ref_keep_eos(r, ref_min_per_example(r, ref_global(r, keep), m)));
                    BOOST_TEST_REQUIRE(
                        run(MinPerExample{KeepEos{GlobalTopK{keep}}, m}, r) ==
                        ref_min_per_example(r, ref_keep_eos(r, ref_global(r, keep)), m));
                }
            }
        }
    }
}

// ---- Errors -------------------------------------------------------------------------------
template <class P>
void expect_error(const P& policy, const Scores& s, const std::string& needle) {
    try {
        run(policy, s);
        BOOST_ERROR("no Error, expected one mentioning '" << needle << "'");
    } catch (const Error& e) {
        BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(non_finite_scores_are_errors_naming_example_and_token) {
    for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
        Scores s;
        s.add_example({1.0f, 2.0f});
        s.add_example({});
        s.add_example({0.5f, bad, 0.0f});
        const std::string where = "example 2, target token 1";
        expect_error(GlobalTopK{}, s, where);
        expect_error(SampleTopK{}, s, where);
        expect_error(BatchTopK{}, s, where);
        expect_error(PositiveTopK{}, s, where);
        expect_error(AbsoluteThreshold{}, s, where);
        expect_error(RandomSelect{}, s, where);
        expect_error(KeepEos{MinPerExample{GlobalTopK{}}}, s, where);
        Scores big = large_scores(1, 200'000, 100, 1000);  // the threaded check
        big.scores[123'456] = bad;
        expect_error(GlobalTopK{}, big, "example 123, target token 456");
    }
}

BOOST_AUTO_TEST_CASE(bad_settings_and_layouts_are_errors) {
    const Scores s = random_scores(1, 10);
    const Scores none;
    for (double keep : {-0.5, 1.5, std::nan("")}) {
        BOOST_CHECK_THROW(run(GlobalTopK{keep}, s), Error);
        BOOST_CHECK_THROW(run(SampleTopK{keep}, none), Error);
        BOOST_CHECK_THROW(run(BatchTopK{keep}, none), Error);
        BOOST_CHECK_THROW(run(PositiveTopK{keep}, none), Error);
        BOOST_CHECK_THROW(run(RandomSelect{keep}, none), Error);
    }
    BOOST_CHECK_THROW(run(BatchTopK{0.6, 0}, s), Error);
    Mask short_mask(s.size() - 1);
    BOOST_CHECK_THROW(GlobalTopK{}.select(s.view(), short_mask), Error);
    Scores bad_offsets = s;
    bad_offsets.offsets.back() -= 1;
    BOOST_CHECK_THROW(run(GlobalTopK{}, bad_offsets), Error);
    Scores no_offsets = s;
    no_offsets.offsets.clear();
    BOOST_CHECK_THROW(run(SampleTopK{}, no_offsets), Error);
}
