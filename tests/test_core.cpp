// Tensor ownership, views, strides and alignment; the deterministic RNG.
#define BOOST_TEST_MODULE core
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>

#include "tokclean/core/rng.hpp"
#include "tokclean/core/tensor.hpp"

using namespace tokclean;

BOOST_AUTO_TEST_CASE(owning_tensor_is_zeroed_aligned_and_row_major) {
    Tensor<float> t(Shape{3, 4, 5});
    BOOST_TEST(t.owns_memory());
    BOOST_TEST(t.numel() == 60);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    for (float x : t.span()) BOOST_TEST(x == 0.0f);
    BOOST_TEST(t.stride(0) == 20);
    BOOST_TEST(t.stride(1) == 5);
    BOOST_TEST(t.stride(2) == 1);
    t(1, 2, 3) = 7.0f;
    BOOST_TEST(t.data()[1 * 20 + 2 * 5 + 3] == 7.0f);
}

BOOST_AUTO_TEST_CASE(views_share_memory_and_slices_offset_the_first_dimension) {
    Tensor<float> t(Shape{4, 3});
    for (std::int64_t i = 0; i < 12; ++i) t.data()[i] = float(i);
    Tensor<float> rows = t.slice(1, 2);
    BOOST_TEST(!rows.owns_memory());
    BOOST_TEST(rows.size(0) == 2);
    BOOST_TEST(rows(0, 0) == 3.0f);
    rows(1, 2) = -1.0f;
    BOOST_TEST(t(2, 2) == -1.0f);
    Tensor<float> flat = t.reshape(Shape{12});
    BOOST_TEST(flat(8) == -1.0f);
    Tensor<float> copy = t.clone();
    copy(0, 0) = 99.0f;
    BOOST_TEST(t(0, 0) == 0.0f);
    BOOST_CHECK_THROW(t.slice(3, 2), Error);
    BOOST_CHECK_THROW(t.reshape(Shape{5}), Error);
}

BOOST_AUTO_TEST_CASE(moved_tensor_keeps_its_memory) {
    Tensor<float> a(Shape{8});
    a(3) = 2.0f;
    const float* p = a.data();
    Tensor<float> b = std::move(a);
    BOOST_TEST(b.data() == p);
    BOOST_TEST(b(3) == 2.0f);
}

BOOST_AUTO_TEST_CASE(rng_is_reproducible_and_normal_has_unit_moments) {
    Rng a(42), b(42), c(43);
    BOOST_TEST(a.next_u64() == b.next_u64());
    BOOST_TEST(a.next_u64() != c.next_u64());
    Rng r(7);
    const int n = 200000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
        const double x = r.normal();
        s += x;
        s2 += x * x;
    }
    BOOST_TEST(std::abs(s / n) < 0.01);
    BOOST_TEST(std::abs(s2 / n - 1.0) < 0.02);
    for (int i = 0; i < 1000; ++i) {
        const double u = r.uniform();
        BOOST_TEST((u >= 0.0 && u < 1.0));
    }
}
