#pragma once
// The GEMM family of the CPU backend and its one dispatch point: matmul, matmul_strided and
// PreparedB call through gemm_kernels(), which picks our packed AVX-512 GEMM
// (gemm_avx512.hpp, compiled in every x86-64 build) on CPUs with AVX-512 and Eigen's
// (gemm_eigen.hpp) elsewhere, and, where the CPU has AVX512_BF16, the bf16 dot-product GEMM
// for products with bf16 weights (gemm_avx512_bf16.hpp), from cpu_kernels()
// (core/cpu_features.hpp, TOKCLEAN_CPU).
#include <cstdint>

#include "tokclean/backend/cpu/detail/gemm_avx512.hpp"
#include "tokclean/backend/cpu/detail/gemm_avx512_bf16.hpp"
#include "tokclean/backend/cpu/detail/gemm_eigen.hpp"
#include "tokclean/backend/cpu/detail/gemm_operand.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/core/cpu_features.hpp"

namespace tokclean::cpu_detail {

struct GemmKernels {
    // C (M, N), row stride ldc, = op(A) · op(B) [+ bias (N) on every row, when not null], or
    // += with GradWrite::accumulate. Inside a parallel region it runs on the calling thread.
    void (*gemm)(std::int64_t M, std::int64_t N, std::int64_t K, GemmOperand a, GemmOperand b, float* c,
                 std::int64_t ldc, GradWrite write, const float* bias);
    // op(B) packed whole for several products (PreparedB): floats it takes, the packing, and
    // the product with a leading block of it. Null where products read op(B) in place.
    std::int64_t (*packed_b_floats)(std::int64_t N, std::int64_t K);
    void (*pack_b)(float* panels, GemmOperand b, std::int64_t N, std::int64_t K);
    void (*gemm_packed_b)(std::int64_t M, std::int64_t N, std::int64_t K, GemmOperand a, const float* panels,
                          std::int64_t depth, float* c, std::int64_t ldc, GradWrite write);
    // Products with bf16 weights as bf16 dot products (bf16_dot_applies: B bf16 stored (N, K),
    // A float32, rounded to bf16), as gemm's arguments. Null: gemm widens the weights instead.
    void (*gemm_bf16)(std::int64_t M, std::int64_t N, std::int64_t K, GemmOperand a, GemmOperand b, float* c,
                      std::int64_t ldc, GradWrite write, const float* bias);
};

// The kernels of this process's CPU (decided once).
inline const GemmKernels& gemm_kernels() {
    static constexpr GemmKernels generic{gemm_eigen, nullptr, nullptr, nullptr, nullptr};
#if TOKCLEAN_HAVE_AVX512_KERNELS
    static constexpr GemmKernels avx512{gemm_avx512, packed_b_floats, pack_b_whole, gemm_avx512_packed_b, nullptr};
    static constexpr GemmKernels avx512_bf16{gemm_avx512, packed_b_floats, pack_b_whole, gemm_avx512_packed_b,
                                             gemm_avx512_bf16};
    static const GemmKernels& chosen =
        cpu_kernels() == CpuKernels::avx512_bf16 ? avx512_bf16 : TOKCLEAN_CPU_DISPATCH(generic, avx512);
#else
    static const GemmKernels& chosen = generic;
#endif
    return chosen;
}

}  // namespace tokclean::cpu_detail
