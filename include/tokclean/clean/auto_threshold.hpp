#pragma once
// Thresholds chosen from the scores themselves, without labels (`--select auto`). The scores of
// a set (or chunk) fall into three groups: a narrow mass of tokens the two models treat alike
// (both know them, or both do not: scores near a centre), a tail of tokens the reference
// predicts better (the informative ones, above it), and tokens it predicts worse (junk the
// reference has learnt to find surprising, below it). Only the upper side is a choice:
//
//   centre  the median of the densest half of the scores (the shortest window of ⌈n/2⌉
//           sorted scores; the first such window on ties), so neither tail moves it;
//   upper   the scores above the centre; a rule splits them into the mass's upper flank and
//           the tail, and keeps the tail, tau being its smallest score (keep score >= tau):
//
//   AutoRule::otsu (the default)  the split of the upper scores that maximises the
//     between-class variance w0 · w1 · (mean1 - mean0)² (Otsu's rule);
//   AutoRule::mixture  two Gaussians fitted to the upper scores by EM (start: weights 1/2,
//     means the centre and the upper scores' 90th percentile, deviations half of theirs);
//     tau is the smallest score from which on the posterior of the upper component stays
//     >= 1/2 (more inclusive: the mass's flank is heavier-tailed than a Gaussian).
//
// Fewer than two distinct upper scores: nothing is kept (tau = +inf). On the shipped demo task,
// a symmetric rule (a false-discovery estimate mirrored about the centre) kept nothing, because
// the lower side is junk, not noise: bench/RESULTS.md, "Choosing the threshold from the scores".
//
// Every rule sorts a copy of the scores (n log n) and scans it in a fixed order, so tau
// depends on the multiset of scores alone: the same for any thread count and any order of
// the tokens, and equal scores are always kept or dropped together. Each selection reports
// its choice (tau, kept, total) to on_choice when it is set: once for a fixed reference,
// once per chunk for a self-evolving one.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "tokclean/clean/detail/check_scores.hpp"
#include "tokclean/clean/detail/omp.hpp"
#include "tokclean/clean/threshold.hpp"
#include "tokclean/clean/token_scores.hpp"
#include "tokclean/core/error.hpp"

namespace tokclean {

enum class AutoRule { otsu, mixture };

inline std::string_view auto_rule_name(AutoRule r) { return r == AutoRule::otsu ? "otsu" : "mixture"; }
inline AutoRule parse_auto_rule(std::string_view name) {
    for (const AutoRule r : {AutoRule::otsu, AutoRule::mixture})
        if (name == auto_rule_name(r)) return r;
    fail("--auto-rule: expected otsu or mixture, got '", name, "'");
}

// What a rule chose for one set of scores: keep score >= tau (tau = +inf: nothing kept).
struct AutoChoice {
    double tau = std::numeric_limits<double>::infinity();
    std::int64_t kept = 0, total = 0;
    double kept_fraction() const { return total > 0 ? static_cast<double>(kept) / static_cast<double>(total) : 0.0; }
};

namespace detail {

inline constexpr double no_tau = std::numeric_limits<double>::infinity();

// a ascending, not empty: the median of the shortest window of ⌈n/2⌉ values (the first one
// on ties), a value of a.
inline double scores_centre(const std::vector<float>& a) {
    const std::size_t n = a.size(), h = (n + 1) / 2;
    std::size_t best = 0;
    for (std::size_t i = 1; i + h <= n; ++i)
        if (a[i + h - 1] - a[i] < a[best + h - 1] - a[best]) best = i;
    return a[best + (h - 1) / 2];
}

// u = a[from .. n), ascending. Otsu's split of u: the smallest score of the upper class.
inline double otsu_tau(const std::vector<float>& a, std::size_t from) {
    const std::size_t n = a.size();
    double total = 0.0;
    for (std::size_t i = from; i < n; ++i) total += a[i];
    double best = -1.0, tau = no_tau, below_sum = 0.0;
    for (std::size_t i = from + 1; i < n; ++i) {  // split before a[i]: lower class a[from .. i)
        below_sum += a[i - 1];
        if (a[i] == a[i - 1]) continue;
        const double w0 = static_cast<double>(i - from), w1 = static_cast<double>(n - i);
        const double d = (total - below_sum) / w1 - below_sum / w0;
        const double between = w0 * w1 * d * d;
        if (between > best) best = between, tau = a[i];
    }
    return tau;
}

// u = a[from .. n), ascending. Two-Gaussian EM on u, sums in index order (no thread changes a
// bit); the posterior crossing of the upper component, from the top down.
inline double mixture_tau(const std::vector<float>& a, std::size_t from, double centre) {
    const std::size_t n = a.size(), m = n - from;
    if (m < 2 || a[from] == a[n - 1]) return no_tau;
    double sum = 0.0, sq = 0.0;
    for (std::size_t i = from; i < n; ++i) sum += a[i], sq += static_cast<double>(a[i]) * a[i];
    const double mean = sum / static_cast<double>(m);
    const double spread = std::sqrt(std::max(sq / static_cast<double>(m) - mean * mean, 0.0));
    const double floor_sd = 1e-9 * std::max(1.0, static_cast<double>(a[n - 1]) - a[from]);
    double w[2] = {0.5, 0.5};
    double mu[2] = {centre, a[from + static_cast<std::size_t>(0.9 * static_cast<double>(m - 1))]};
    double sd[2] = {std::max(spread / 2, floor_sd), std::max(spread / 2, floor_sd)};
    constexpr double sqrt_2pi = 2.5066282746310002;
    const auto density = [&](int k, double x) {
        const double z = (x - mu[k]) / sd[k];
        return w[k] * std::exp(-0.5 * z * z) / (sd[k] * sqrt_2pi);
    };
    double last_ll = -std::numeric_limits<double>::infinity();
    for (int iter = 0; iter < 500; ++iter) {
        double r_sum[2] = {0, 0}, rx[2] = {0, 0}, rxx[2] = {0, 0}, ll = 0.0;
        for (std::size_t i = from; i < n; ++i) {
            const double x = a[i], p0 = density(0, x), p1 = density(1, x), p = p0 + p1;
            double r1;
            if (p > 0.0) {
                ll += std::log(p);
                r1 = p1 / p;
            } else {  // far from both: to the nearer mean in deviations
                r1 = std::fabs(x - mu[1]) / sd[1] < std::fabs(x - mu[0]) / sd[0] ? 1.0 : 0.0;
            }
            const double r[2] = {1.0 - r1, r1};
            for (int k = 0; k < 2; ++k) r_sum[k] += r[k], rx[k] += r[k] * x, rxx[k] += r[k] * x * x;
        }
        for (int k = 0; k < 2; ++k) {
            if (r_sum[k] <= 0.0) return no_tau;  // one component took every score: no tail
            w[k] = r_sum[k] / static_cast<double>(m);
            mu[k] = rx[k] / r_sum[k];
            sd[k] = std::max(std::sqrt(std::max(rxx[k] / r_sum[k] - mu[k] * mu[k], 0.0)), floor_sd);
        }
        if (std::fabs(ll - last_ll) <= 1e-12 * std::fabs(ll)) break;
        last_ll = ll;
    }
    const int hi = mu[1] >= mu[0] ? 1 : 0, lo = 1 - hi;
    double tau = no_tau;
    for (std::size_t i = n; i-- > from;) {
        const double x = a[i];
        if (x <= mu[lo] || density(hi, x) < density(lo, x)) break;
        tau = x;
    }
    return tau;
}

}  // namespace detail

// The Threshold policy of `--select auto`: keeps score >= the tau its rule picks from these
// scores (see the top of this file).
struct AutoThreshold {
    AutoRule rule = AutoRule::otsu;
    std::function<void(const AutoChoice&)> on_choice{};  // called with each selection's choice

    // The choice for these scores (every score finite, else an Error naming the first one).
    AutoChoice choose(const TokenScores& s) const {
        require_finite_scores(s);
        AutoChoice c;
        c.total = static_cast<std::int64_t>(s.num_tokens());
        if (c.total == 0) return c;
        std::vector<float> a(s.scores.begin(), s.scores.end());
        std::sort(a.begin(), a.end());
        for (float& v : a) v = v == 0.0f ? 0.0f : v;  // -0.0 is +0.0
        const double centre = detail::scores_centre(a);
        const auto from = static_cast<std::size_t>(std::upper_bound(a.begin(), a.end(), static_cast<float>(centre)) - a.begin());
        c.tau = rule == AutoRule::otsu ? detail::otsu_tau(a, from) : detail::mixture_tau(a, from, centre);
        c.kept = static_cast<std::int64_t>(a.end() - std::lower_bound(a.begin(), a.end(), static_cast<float>(c.tau)));
        if (std::isinf(c.tau)) c.kept = 0;
        return c;
    }

    void select(const TokenScores& s, std::span<std::uint8_t> mask) const {
        detail::check_layout(s, mask);
        const AutoChoice c = choose(s);
        const auto n = static_cast<std::int64_t>(s.num_tokens());
        const float* x = s.scores.data();
        std::uint8_t* out = mask.data();
        const double tau = c.tau;
#pragma omp parallel for simd schedule(static) if (n >= detail::parallel_min_tokens)
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(x[i]) >= tau;
        if (on_choice) on_choice(c);
    }
};

static_assert(Threshold<AutoThreshold>);

}  // namespace tokclean
