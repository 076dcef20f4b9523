#pragma once
// A right-hand operand op(b) (K, N) prepared once for several products on one thread, each
// with a leading block op(b)[0:K', 0:N'] (attention: a head's keys and values, met by every
// query block). On AVX-512 builds it is packed once; elsewhere a view for Eigen.
#include <algorithm>
#include <cstdint>

#include "tokclean/backend/cpu/detail/gemm_eigen.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/backend/ops.hpp"  // Transpose
#if defined(__AVX512F__)
#include "tokclean/backend/cpu/detail/gemm_avx512.hpp"
#endif

namespace tokclean::cpu_detail {

class PreparedB {
public:
    // b is stored (K, N), or (N, K) when trans_b, with row stride ldb; it must outlive the
    // products.
    void prepare(const float* b, std::int64_t ldb, Transpose trans_b, std::int64_t K,
                 std::int64_t N) {
#if defined(__AVX512F__)
        depth_ = K;
        panels_ = scratch_.get(gemm::round_up(std::max<std::int64_t>(N, 1), gemm::nr) *
                               std::max<std::int64_t>(K, 1));
        pack_b_whole(panels_, {b, ldb, trans_b == Transpose::no}, N, K);
#else
        (void)K;
        (void)N;
        b_ = b;
        ld_ = ldb;
        trans_ = trans_b;
#endif
    }

    // c (M, N), row stride ldc, = op(a) · op(b)[0:K, 0:N], or += with GradWrite::accumulate;
    // a is stored (M, K), or (K, M) when trans_a, with row stride lda.
    void multiply(float* c, std::int64_t ldc, const float* a, std::int64_t lda, Transpose trans_a,
                  std::int64_t M, std::int64_t N, std::int64_t K, GradWrite write) const {
#if defined(__AVX512F__)
        gemm_avx512_packed_b(M, N, K, {a, lda, trans_a == Transpose::yes}, panels_, depth_, c,
                             ldc, write);
#else
        matmul_eigen_strided(c, ldc, a, lda, trans_a == Transpose::yes, b_, ld_,
                             trans_ == Transpose::yes, M, N, K, write);
#endif
    }

private:
#if defined(__AVX512F__)
    gemm::Scratch scratch_;  // the panels, reused by the next prepare()
    float* panels_ = nullptr;
    std::int64_t depth_ = 0;  // K of the packed panels
#else
    const float* b_ = nullptr;
    std::int64_t ld_ = 0;
    Transpose trans_ = Transpose::no;
#endif
};

}  // namespace tokclean::cpu_detail
