// `--select auto` (clean/auto_threshold.hpp): the centre and Otsu's split against plain
// quadratic implementations of their definitions; both rules on scores drawn like the demo
// task's, where the group of each score is known; ties kept or dropped together; the same tau
// for any order of the tokens and any thread count; the guards on top; errors.
#define BOOST_TEST_MODULE auto_threshold
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <omp.h>

#include "tokclean/clean/auto_threshold.hpp"
#include "tokclean/clean/guards.hpp"
#include "tokclean/core/rng.hpp"

using namespace tokclean;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// A null mass N(0, 1) of `null_n` tokens and a tail N(shift, 1) of `tail_n`, coarsened to
// multiples of `grain` when grain > 0 (ties everywhere), in a shuffled order.
std::vector<float> two_groups(std::uint64_t seed, std::size_t null_n, std::size_t tail_n, double shift,
                              double grain = 0.0) {
    Rng rng(seed);
    std::vector<float> x;
    for (std::size_t i = 0; i < null_n + tail_n; ++i) {
        double v = rng.normal() + (i < tail_n ? shift : 0.0);
        if (grain > 0) v = std::round(v / grain) * grain;
        x.push_back(static_cast<float>(v));
    }
    for (std::size_t i = x.size(); i > 1; --i) std::swap(x[i - 1], x[rng.below(i)]);
    return x;
}

TokenScores view(const std::vector<float>& x, std::vector<std::int64_t>& offsets) {
    offsets = {0, static_cast<std::int64_t>(x.size())};
    return TokenScores{.scores = x, .offsets = offsets};
}

AutoChoice choose(AutoRule rule, const std::vector<float>& x) {
    std::vector<std::int64_t> offsets;
    return AutoThreshold{rule}.choose(view(x, offsets));
}

// The centre as defined: the median of the first shortest window of ⌈n/2⌉ sorted scores.
double plain_centre(std::vector<float> x) {
    std::sort(x.begin(), x.end());
    const std::size_t n = x.size(), h = (n + 1) / 2;
    double best_width = inf, centre = 0;
    for (std::size_t i = 0; i + h <= n; ++i) {
        std::vector<float> window(x.begin() + static_cast<std::ptrdiff_t>(i), x.begin() + static_cast<std::ptrdiff_t>(i + h));
        const double width = window.back() - window.front();
        if (width < best_width) best_width = width, centre = window[(h - 1) / 2];
    }
    return centre;
}

// Otsu's split of the scores above the centre, as defined: every distinct value as the
// upper class's start, both means recomputed.
double plain_otsu(const std::vector<float>& x) {
    const double centre = plain_centre(x);
    std::vector<float> upper;
    for (const float v : x)
        if (v > centre) upper.push_back(v);
    std::vector<float> values(upper);
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    double best = -1.0, tau = inf;
    for (std::size_t k = 1; k < values.size(); ++k) {
        const float t = values[k];
        double n0 = 0, n1 = 0, s0 = 0, s1 = 0;
        for (const float v : upper) (v >= t ? (n1 += 1, s1 += v) : (n0 += 1, s0 += v));
        const double d = s1 / n1 - s0 / n0, between = n0 * n1 * d * d;
        if (between > best * (1 + 1e-12)) best = between, tau = t;  // near-equal splits: the lowest t
    }
    return tau;
}

// The demo task's shape of scores: a narrow mass at 0 (tokens both models know), an
// informative tail N(4.3, 1.5²) and junk the reference finds worse, N(-7, 3²); `informative`
// of n in the tail, 25% junk. Returns the scores and each one's group (0 mass, 1 tail, 2 junk).
std::pair<std::vector<float>, std::vector<int>> demo_like(std::uint64_t seed, std::size_t n, double informative) {
    Rng rng(seed);
    std::vector<float> x;
    std::vector<int> group;
    for (std::size_t i = 0; i < n; ++i) {
        const double u = rng.uniform();
        const int g = u < informative ? 1 : u < informative + 0.25 ? 2 : 0;
        const double v = g == 1 ? 4.3 + 1.5 * rng.normal() : g == 2 ? -7.0 + 3.0 * rng.normal() : 0.05 * rng.normal();
        x.push_back(static_cast<float>(v));
        group.push_back(g);
    }
    return {x, group};
}

std::int64_t count_at_least(const std::vector<float>& x, double tau) {
    return std::count_if(x.begin(), x.end(), [tau](float v) { return static_cast<double>(v) >= tau; });
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_centre_is_the_densest_half_and_ignores_both_tails) {
    for (const double grain : {0.0, 0.1})
        for (const std::uint64_t seed : {1, 2}) {
            auto [x, group] = demo_like(seed, 900, 0.15);
            if (grain > 0)
                for (float& v : x) v = static_cast<float>(std::round(v / grain) * grain);
            std::vector<float> sorted(x);
            std::sort(sorted.begin(), sorted.end());
            BOOST_TEST(tokclean::detail::scores_centre(sorted) == plain_centre(x));
            BOOST_TEST(std::abs(plain_centre(x)) < 0.1);  // in the mass, though 25% lie far below it
        }
}

BOOST_AUTO_TEST_CASE(otsu_equals_its_definition_with_and_without_ties) {
    for (const double grain : {0.0, 0.25, 1.0})
        for (const std::uint64_t seed : {7, 8}) {
            BOOST_TEST_CONTEXT("grain " << grain << " seed " << seed) {
                const auto x = two_groups(seed, 600, 200, 4.0, grain);
                const AutoChoice c = choose(AutoRule::otsu, x);
                BOOST_TEST(std::isfinite(c.tau));
                BOOST_TEST(c.tau == plain_otsu(x));
                BOOST_TEST(c.kept == count_at_least(x, c.tau));
            }
        }
}

BOOST_AUTO_TEST_CASE(both_rules_keep_the_informative_tail_and_not_the_junk_below_the_centre) {
    // Kept shares per group on the demo task's shape, at two informative shares: most of the
    // tail, almost none of the mass or of the junk.
    for (const double informative : {0.15, 0.35})
        for (const AutoRule rule : {AutoRule::otsu, AutoRule::mixture}) {
            BOOST_TEST_CONTEXT(auto_rule_name(rule) << " informative " << informative) {
                const auto [x, group] = demo_like(11, 20000, informative);
                const AutoChoice c = choose(rule, x);
                BOOST_TEST_MESSAGE(auto_rule_name(rule) << " informative " << informative << ": tau " << c.tau);
                double kept[3] = {0, 0, 0}, total[3] = {0, 0, 0};
                for (std::size_t i = 0; i < x.size(); ++i)
                    total[group[i]] += 1, kept[group[i]] += static_cast<double>(x[i]) >= c.tau;
                // Otsu cuts into the tail (tau ≈ 2.4: 88% of N(4.3, 1.5²) lies above), the mixture
                // at the mass's edge (tau ≈ 0.15, 3 of its deviations); 0.9% of the junk lies above 0.15.
                BOOST_TEST(kept[1] / total[1] > 0.85);
                BOOST_TEST(kept[0] / total[0] < 0.02);
                BOOST_TEST(kept[2] / total[2] < 0.02);
                BOOST_TEST(c.kept == count_at_least(x, c.tau));
            }
        }
}

BOOST_AUTO_TEST_CASE(every_rule_gives_the_same_tau_for_any_order_and_thread_count_and_keeps_ties_together) {
    const auto x = two_groups(21, 30000, 6000, 3.0, 0.05);  // above the parallel cut-off, many ties
    std::vector<float> reversed(x.rbegin(), x.rend());
    const int before = omp_get_max_threads();
    for (const AutoRule rule : {AutoRule::otsu, AutoRule::mixture}) {
        BOOST_TEST_CONTEXT(auto_rule_name(rule)) {
            omp_set_num_threads(1);
            const AutoChoice one = choose(rule, x);
            omp_set_num_threads(3);
            const AutoChoice three = choose(rule, x);
            BOOST_TEST(one.tau == three.tau);
            BOOST_TEST(choose(rule, reversed).tau == one.tau);
            BOOST_TEST(std::isfinite(one.tau));

            std::vector<std::int64_t> offsets;
            std::vector<std::uint8_t> mask(x.size(), 7);
            AutoChoice reported;
            AutoThreshold policy{rule, [&](const AutoChoice& c) { reported = c; }};
            policy.select(view(x, offsets), mask);
            std::int64_t kept = 0;
            for (std::size_t i = 0; i < x.size(); ++i) {
                BOOST_TEST_REQUIRE((mask[i] == (static_cast<double>(x[i]) >= one.tau)));  // equal scores alike
                kept += mask[i];
            }
            BOOST_TEST(kept == one.kept);
            BOOST_TEST(reported.tau == one.tau);
            BOOST_TEST(reported.kept == kept);
        }
    }
    omp_set_num_threads(before);
}

BOOST_AUTO_TEST_CASE(guards_add_to_what_auto_keeps_and_edge_sets_are_handled) {
    // Two examples whose scores all tie keep nothing; MinPerExample adds one to each.
    const std::vector<float> x(200, 0.25f);
    std::vector<std::int64_t> offsets{0, 120, 200};
    std::vector<std::uint8_t> mask(x.size());
    MinPerExample<AutoThreshold> guarded{AutoThreshold{}, 1};
    guarded.select(TokenScores{.scores = x, .offsets = offsets}, mask);
    BOOST_TEST(std::count(mask.begin(), mask.end(), 1) == 2);
    BOOST_TEST(mask[0] == 1);  // ties: the earlier position first
    BOOST_TEST(mask[120] == 1);

    // No token, one token, all equal: nothing to split, nothing kept, no error.
    for (const std::vector<float>& edge : {std::vector<float>{}, std::vector<float>{0.5f}, std::vector<float>(50, 1.0f)})
        for (const AutoRule rule : {AutoRule::otsu, AutoRule::mixture}) {
            const AutoChoice c = choose(rule, edge);
            BOOST_TEST(c.kept == 0);
            BOOST_TEST(c.total == static_cast<std::int64_t>(edge.size()));
        }
}

BOOST_AUTO_TEST_CASE(non_finite_scores_and_bad_settings_are_errors) {
    auto x = two_groups(41, 100, 10, 3.0);
    x[37] = std::numeric_limits<float>::quiet_NaN();
    BOOST_CHECK_THROW(choose(AutoRule::otsu, x), Error);
    BOOST_CHECK_THROW(choose(AutoRule::mixture, x), Error);
    BOOST_CHECK_THROW(parse_auto_rule("gap"), Error);
    BOOST_TEST((parse_auto_rule("mixture") == AutoRule::mixture));
}
