#pragma once
// Row-major matrix products on cuBLASLt (cuBLAS for batches and as a fallback), in the math
// mode of the context. cuBLAS is column-major: a row-major C (M, N) = op(a) · op(b) is the
// column-major Cᵀ (N, M) = op(b)ᵀ · op(a)ᵀ, so every call passes b first and swaps M and N.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>

#include "tokclean/backend/cuda/allocator.cuh"
#include "tokclean/backend/cuda/check.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/grad_write.hpp"

namespace tokclean::cuda_detail {

// One operand as stored: row-major (rows, cols) with row stride ld, transposed in the product
// when trans (then op(x) is (cols, rows)).
struct Operand {
    const void* data;
    std::int64_t ld;
    bool trans;
};

// The alignment (bytes, a power of two up to 256) of a pointer, for cuBLASLt's heuristics,
// which otherwise assume 256 and would pick kernels that fault on a parameter slice.
inline std::uint32_t alignment_of(const void* p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    std::uint32_t align = 256;
    while (align > 1 && a % align != 0) align /= 2;
    return align;
}

// x (rows, cols) row-major with row stride ld -> y (rows, cols) contiguous bfloat16.
template <class T>
__global__ void to_bf16_kernel(__nv_bfloat16* y, const T* x, std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    const std::int64_t n = rows * cols;
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        y[i] = __float2bfloat16(x[i / cols * ld + i % cols]);
}

// c (M, N) row stride ldc = (accumulate ? c : 0) + bias (N) on every row.
template <class T>
__global__ void bias_rows_kernel(T* c, std::int64_t ldc, const T* bias, std::int64_t M, std::int64_t N,
                                 GradWrite write) {
    const std::int64_t n = M * N;
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
        T* e = c + i / N * ldc + i % N;
        const T b = bias ? bias[i % N] : T(0);
        *e = write == GradWrite::accumulate ? *e + b : b;
    }
}

inline void bias_rows(float* c, std::int64_t ldc, const float* bias, std::int64_t M, std::int64_t N,
                      GradWrite write) {
    if (M * N <= 0) return;
    bias_rows_kernel<<<blocks_for(M * N, 256, 8192), 256, 0, stream()>>>(c, ldc, bias, M, N, write);
    TOKCLEAN_CUDA_CHECK_LAUNCH("bias_rows_kernel");
}

// The compute type of fp32-operand products in the context's mode (bf16 mode converts the
// operands of the large products itself and computes in float32; batched attention products
// use cuBLAS's own down-conversion).
inline cublasComputeType_t fp32_operand_compute(CudaMath m) {
    switch (m) {
        case CudaMath::tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
        case CudaMath::bf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
        default: return CUBLAS_COMPUTE_32F;
    }
}

// A cached cuBLASLt plan: descriptors and the heuristic's algorithm for one product shape.
struct LtPlan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // column-major A', B', C = D
    cublasLtMatmulAlgo_t algo{};
    bool usable = false;  // false: no algorithm; the product goes to cublasGemmEx
};

class LtPlans {
public:
    // (M, N, K, ta, tb, lda, ldb, ldc, bf16, compute, bias, write, alignments a, b, c, bias)
    using Key = std::tuple<std::int64_t, std::int64_t, std::int64_t, bool, bool, std::int64_t, std::int64_t,
                           std::int64_t, bool, int, bool, GradWrite, std::uint32_t, std::uint32_t, std::uint32_t,
                           std::uint32_t>;

    LtPlan& get(const Key& key, const void* bias) {
        auto it = plans_.find(key);
        if (it != plans_.end()) return it->second;
        return plans_.emplace(key, make(key, bias)).first->second;
    }

private:
    static LtPlan make(const Key& k, const void* bias) {
        const auto [M, N, K, ta, tb, lda, ldb, ldc, bf16, compute, has_bias, write, al_a, al_b, al_c, al_bias] = k;
        (void)write;
        LtPlan p;
        const cudaDataType op_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
        TOKCLEAN_CUDA_CHECK(cublasLtMatmulDescCreate(&p.desc, static_cast<cublasComputeType_t>(compute), CUDA_R_32F));
        const cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
        TOKCLEAN_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
        TOKCLEAN_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
        if (has_bias) {
            const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
            const cudaDataType bias_type = CUDA_R_32F;
            TOKCLEAN_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
            TOKCLEAN_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                               sizeof bias_type));
            // The heuristic reads the pointer's alignment.
            TOKCLEAN_CUDA_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                               sizeof bias));
        }
        // A' = b as stored, column-major: (cols, rows) of its row-major shape.
        TOKCLEAN_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.a, op_type, tb ? K : N, tb ? N : K, ldb));
        TOKCLEAN_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.b, op_type, ta ? M : K, ta ? K : M, lda));
        TOKCLEAN_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, N, M, ldc));
        cublasLtMatmulPreference_t pref = nullptr;
        TOKCLEAN_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&pref));
        const std::uint64_t ws = Context::workspace_bytes;
        TOKCLEAN_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                                 sizeof ws));
        const std::uint32_t aligns[4] = {al_b, al_a, al_c, al_c};  // A' is b, B' is a, C = D
        const cublasLtMatmulPreferenceAttributes_t names[4] = {
            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
        for (int i = 0; i < 4; ++i)
            TOKCLEAN_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, names[i], &aligns[i], sizeof aligns[i]));
        (void)al_bias;
        cublasLtMatmulHeuristicResult_t result{};
        int found = 0;
        const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(context().lt(), p.desc, p.a, p.b, p.c, p.c, pref, 1,
                                                                &result, &found);
        TOKCLEAN_CUDA_CHECK(cublasLtMatmulPreferenceDestroy(pref));
        // No algorithm (or a layout cuBLASLt declines): cublasGemmEx takes the product, and
        // reports the error itself if the product is truly invalid.
        if (s == CUBLAS_STATUS_SUCCESS && found > 0) {
            p.algo = result.algo;
            p.usable = true;
        }
        return p;
    }

    std::map<Key, LtPlan> plans_;
};

inline LtPlans& lt_plans() {
    static LtPlans* p = new LtPlans();
    return *p;
}

// c (M, N), row stride ldc, = op(a) · op(b) [+ bias (N) on every row], or += with
// GradWrite::accumulate. a is stored (M, K), or (K, M) when a.trans; b (K, N), or (N, K) when
// b.trans. float32 in and out; the context's math mode decides how the product computes.
inline void gemm(float* c, std::int64_t ldc, Operand a, Operand b, std::int64_t M, std::int64_t N, std::int64_t K,
                 GradWrite write, const float* bias) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // an empty sum: c = (accumulate ? c : 0) + bias
        bias_rows(c, ldc, bias, M, N, write);
        return;
    }
    Context& ctx = context();
    const bool bf16 = ctx.math == CudaMath::bf16;
    // bf16 mode: contiguous bfloat16 copies of both operands (rows, cols as stored).
    const std::int64_t a_rows = a.trans ? K : M, a_cols = a.trans ? M : K;
    const std::int64_t b_rows = b.trans ? N : K, b_cols = b.trans ? K : N;
    std::optional<Scratch<__nv_bfloat16>> a16, b16;
    if (bf16) {
        a16.emplace(static_cast<std::size_t>(a_rows * a_cols));
        b16.emplace(static_cast<std::size_t>(b_rows * b_cols));
        to_bf16_kernel<<<blocks_for(a_rows * a_cols, 256, 8192), 256, 0, stream()>>>(
            a16->get(), static_cast<const float*>(a.data), a_rows, a_cols, a.ld);
        TOKCLEAN_CUDA_CHECK_LAUNCH("to_bf16_kernel");
        to_bf16_kernel<<<blocks_for(b_rows * b_cols, 256, 8192), 256, 0, stream()>>>(
            b16->get(), static_cast<const float*>(b.data), b_rows, b_cols, b.ld);
        TOKCLEAN_CUDA_CHECK_LAUNCH("to_bf16_kernel");
        a = {a16->get(), a_cols, a.trans};
        b = {b16->get(), b_cols, b.trans};
    }
    const cublasComputeType_t compute = bf16 ? CUBLAS_COMPUTE_32F : fp32_operand_compute(ctx.math);
    const float alpha = 1.0f, beta = write == GradWrite::accumulate ? 1.0f : 0.0f;

    const LtPlans::Key key{M, N, K, a.trans, b.trans, a.ld, b.ld, ldc, bf16, static_cast<int>(compute),
                           bias != nullptr, write, alignment_of(a.data), alignment_of(b.data),
                           alignment_of(c), alignment_of(bias)};
    LtPlan& plan = lt_plans().get(key, bias);
    if (plan.usable) {
        if (bias)
            TOKCLEAN_CUDA_CHECK(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                               sizeof bias));
        const cublasStatus_t s = cublasLtMatmul(ctx.lt(), plan.desc, &alpha, b.data, plan.a, a.data, plan.b, &beta, c,
                                                plan.c, c, plan.c, &plan.algo, ctx.workspace(),
                                                Context::workspace_bytes, ctx.stream());
        if (s == CUBLAS_STATUS_SUCCESS) return;
        if (s != CUBLAS_STATUS_NOT_SUPPORTED) TOKCLEAN_CUDA_CHECK(s);
        plan.usable = false;  // never again for this shape
    }
    // cublasGemmEx: the bias goes in first, then the product adds onto it.
    if (bias) bias_rows(c, ldc, bias, M, N, write);
    const float beta_ex = write == GradWrite::accumulate || bias ? 1.0f : 0.0f;
    const cudaDataType t = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    TOKCLEAN_CUDA_CHECK(cublasGemmEx(ctx.cublas(), b.trans ? CUBLAS_OP_T : CUBLAS_OP_N, a.trans ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, b.data, t,
                                     static_cast<int>(b.ld), a.data, t, static_cast<int>(a.ld), &beta_ex, c, CUDA_R_32F,
                                     static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT));
}

// For each of `batch` products i: c + i·sc (M, N, row stride ldc) = op(a + i·sa) · op(b + i·sb)
// (row-major as in gemm), or += with GradWrite::accumulate. float32 operands; in bf16 mode cuBLAS
// down-converts them itself (the attention products that cuDNN's fused kernel does not take).
inline void gemm_batched(float* c, std::int64_t ldc, std::int64_t sc, Operand a, std::int64_t sa, Operand b,
                         std::int64_t sb, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t batch,
                         GradWrite write) {
    if (M <= 0 || N <= 0 || batch <= 0) return;
    Context& ctx = context();
    const float alpha = 1.0f, beta = write == GradWrite::accumulate ? 1.0f : 0.0f;
    TOKCLEAN_CUDA_CHECK(cublasGemmStridedBatchedEx(
        ctx.cublas(), b.trans ? CUBLAS_OP_T : CUBLAS_OP_N, a.trans ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(N),
        static_cast<int>(M), static_cast<int>(K), &alpha, b.data, CUDA_R_32F, static_cast<int>(b.ld), sb, a.data,
        CUDA_R_32F, static_cast<int>(a.ld), sa, &beta, c, CUDA_R_32F, static_cast<int>(ldc), sc,
        static_cast<int>(batch), fp32_operand_compute(ctx.math), CUBLAS_GEMM_DEFAULT));
}

}  // namespace tokclean::cuda_detail
