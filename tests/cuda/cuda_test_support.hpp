#pragma once
// What the GPU tests share: moving values to and from the device, poisoning outputs (NaN
// bytes) before each run so that an element a kernel forgot to write cannot pass, comparing
// against the CPU backend, and the main() that reports "skipped" (exit 77, CTest's
// SKIP_RETURN_CODE) on a machine without a CUDA device.
//
// Tolerances (relative L2 error over a whole output, ‖gpu − cpu‖ / ‖cpu‖):
//   fp32: 1e-5 (both sides float32; only the order of the sums differs);
//   tf32: 2e-3 (≈ 4× the operand rounding unit 2⁻¹¹ = 4.9e-4 of TF32's 10-bit mantissa: an
//         inner product of rounded operands is off by about √2·2⁻¹¹ relative, whatever K);
//   bf16: 1.6e-2 (≈ 4× bfloat16's 2⁻⁸ = 3.9e-3, by the same argument).
// Whole-model tolerances (losses, gradients through a few layers of products) are stated at
// their tests.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <vector>

#include "gradcheck.hpp"
#include "tokclean/backend/cuda.cuh"

namespace tokclean::test {

// A device tensor holding `v`.
template <class T>
Tensor<T, Cuda> on_device(const std::vector<T>& v) {
    Tensor<T, Cuda> t(Shape{static_cast<std::int64_t>(v.size())});
    upload(Cuda{}, v.data(), static_cast<std::int64_t>(v.size()), t);
    return t;
}

// n values of device memory, on the host.
template <class T>
std::vector<T> on_host(const T* device, std::int64_t n) {
    std::vector<T> v;
    download(Cuda{}, device, n, v);
    return v;
}
template <class T>
std::vector<T> on_host(const Tensor<T, Cuda>& t) {
    return on_host(t.data(), t.numel());
}

// Every byte 0xFF: each float a NaN.
inline void poison(float* device, std::int64_t n) {
    TOKCLEAN_CUDA_CHECK(cudaMemsetAsync(device, 0xFF, static_cast<std::size_t>(n) * sizeof(float), cuda_detail::stream()));
}
inline void poison(Tensor<float, Cuda>& t) { poison(t.data(), t.numel()); }

// ‖a − b‖ / ‖b‖ (0 when both are 0); infinite when a holds a non-finite value b does not.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    double e = 0.0, r = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isfinite(b[i]) != std::isfinite(a[i])) return INFINITY;
        if (!std::isfinite(b[i])) continue;  // NaN where the CPU says NaN (no target) too
        e += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
        r += static_cast<double>(b[i]) * b[i];
    }
    return r == 0.0 ? std::sqrt(e) : std::sqrt(e / r);
}

inline void check_close(const char* what, const std::vector<float>& gpu, const std::vector<float>& cpu, double tol) {
    const double err = relative_error(gpu, cpu);
    BOOST_TEST_INFO(what << ": relative error " << err << " (tolerance " << tol << ")");
    BOOST_TEST(err <= tol);
}

// The tolerance of a single product (or of an op built on products) in a math mode.
inline double product_tolerance(CudaMath m) {
    return m == CudaMath::fp32 ? 1e-5 : m == CudaMath::tf32 ? 2e-3 : 1.6e-2;
}

// Sets a math mode for one scope.
class MathScope {
public:
    explicit MathScope(CudaMath m) : saved_(cuda_math()) { set_cuda_math(m); }
    ~MathScope() { set_cuda_math(saved_); }
    MathScope(const MathScope&) = delete;
    MathScope& operator=(const MathScope&) = delete;

private:
    CudaMath saved_;
};

inline constexpr CudaMath all_modes[] = {CudaMath::fp32, CudaMath::tf32, CudaMath::bf16};

}  // namespace tokclean::test

// Skipped (77) without a device; otherwise Boost.Test's own main.
int main(int argc, char* argv[]) {
    if (!tokclean::cuda_device_available()) {
        std::cout << "no CUDA device: the GPU tests are skipped\n";
        return 77;
    }
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
