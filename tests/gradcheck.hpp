#pragma once
// Finite-difference checking for the float32 kernels: the scalar probed is
// loss = Σ out · R with a fixed random R, differentiated by central differences in float32.
// With eps = 1e-2 the truncation and rounding errors stay near 1e-3 relative, while a wrong
// or missing term in a backward shows up at O(1), so the tolerance below separates the two.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include <omp.h>

#include <boost/test/unit_test.hpp>

#include "tokclean/core/rng.hpp"

namespace tokclean::test {

// Backward passes that accumulate are checked over a buffer pre-filled with this value: they
// must add to it, not overwrite it; minus_prefill takes it off again.
inline constexpr float prefill = 0.25f;

inline std::vector<float> minus_prefill(std::vector<float> g) {
    for (auto& x : g) x -= prefill;
    return g;
}

inline bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Runs f with n OpenMP threads, restoring the previous count.
template <class F>
void with_threads(int n, F&& f) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(n);
    f();
    omp_set_num_threads(saved);
}

inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, double scale = 1.0) {
    Rng rng(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(scale * rng.normal());
    return v;
}

inline double weighted_sum(const std::vector<float>& out, const std::vector<float>& weights) {
    double s = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) s += static_cast<double>(out[i]) * weights[i];
    return s;
}

// Checks `analytic` (the backward's gradient of loss w.r.t. `input`) against central
// differences of `loss()` (which reads `input`). Compares relative L2 error of the whole
// gradient (< rel_tol) and each element (|fd - an| <= abs_tol + rel_tol · |fd|).
inline void check_gradient(const char* what, std::vector<float>& input,
                           const std::vector<float>& analytic, const std::function<double()>& loss,
                           float eps = 1e-2f, double rel_tol = 2e-2, double abs_tol = 2e-3) {
    BOOST_TEST_CONTEXT(what) {
        BOOST_REQUIRE_EQUAL(input.size(), analytic.size());
        double err2 = 0.0, ref2 = 0.0;
        for (std::size_t i = 0; i < input.size(); ++i) {
            const float saved = input[i];
            input[i] = saved + eps;
            const double up = loss();
            input[i] = saved - eps;
            const double down = loss();
            input[i] = saved;
            const double fd = (up - down) / (2.0 * eps);
            err2 += (fd - analytic[i]) * (fd - analytic[i]);
            ref2 += fd * fd;
            BOOST_TEST_CONTEXT("element " << i << ": finite difference " << fd << ", backward "
                                          << analytic[i]) {
                BOOST_TEST(std::abs(fd - analytic[i]) <= abs_tol + rel_tol * std::abs(fd));
            }
        }
        BOOST_TEST(ref2 > 0.0, "the probed gradient is identically zero: the check is vacuous");
        BOOST_TEST(std::sqrt(err2) <= rel_tol * std::sqrt(ref2));
    }
}

}  // namespace tokclean::test
