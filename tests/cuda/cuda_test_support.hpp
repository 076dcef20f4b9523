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
// Whole-model tolerances: model_tolerance below.
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

// Whole-model tolerances (losses, gradients), relative L2 over a tensor:
//   fp32: losses 1e-5, gradients 1e-5 (float32 both sides; sums in another order).
//   tf32: losses 5e-3, gradients 2e-2: each product is off by ~7e-4 (√2·2⁻¹¹); a gradient
//         passes through ~10 of them (two blocks, the head), and the errors add.
//   bf16: losses 2e-2, gradients 1e-1: the same with bfloat16's 2⁻⁸ (~8× TF32's error), plus
//         fused attention's bfloat16 probabilities.
struct ModelTolerances {
    double loss, grad;
};
inline ModelTolerances model_tolerance(CudaMath m) {
    return m == CudaMath::fp32 ? ModelTolerances{1e-5, 1e-5}
           : m == CudaMath::tf32 ? ModelTolerances{5e-3, 2e-2}
                                 : ModelTolerances{2e-2, 1e-1};
}

// A (B, T) batch over V; the first quarter of each row is prompt (-100), and the last row
// is shorter (right padding, -100), as make_batch pads.
inline void random_batch(std::uint64_t seed, std::int64_t B, std::int64_t T, std::int64_t V,
                         std::vector<std::int32_t>& ids, std::vector<std::int32_t>& labels) {
    Rng rng(seed);
    ids.resize(static_cast<std::size_t>(B * T));
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(V)));
    labels = ids;
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < T; ++t)
            if (t < T / 4 || (b == B - 1 && t >= T - 5)) labels[static_cast<std::size_t>(b * T + t)] = -100;
}

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
