#pragma once
// A right-hand operand op(b) (K, N) prepared once for several products on one thread, each
// with a leading block op(b)[0:K', 0:N'] (attention: a head's keys and values, met by every
// query block). Where the AVX-512 GEMM runs it is packed once; elsewhere a view for Eigen.
#include <cstdint>

#include "tokclean/backend/cpu/detail/gemm.hpp"
#include "tokclean/backend/grad_write.hpp"
#include "tokclean/backend/ops.hpp"  // Transpose

namespace tokclean::cpu_detail {

class PreparedB {
public:
    // b is stored (K, N), or (N, K) when trans_b, with row stride ldb; it must outlive the
    // products.
    void prepare(const float* b, std::int64_t ldb, Transpose trans_b, std::int64_t K,
                 std::int64_t N) {
        kernels_ = &gemm_kernels();
        b_ = {b, ldb, trans_b == Transpose::no};
        if (kernels_->pack_b) {
            depth_ = K;
            panels_ = scratch_.get(kernels_->packed_b_floats(N, K));
            kernels_->pack_b(panels_, b_, N, K);
        }
    }

    // c (M, N), row stride ldc, = op(a) · op(b)[0:K, 0:N], or += with GradWrite::accumulate;
    // a is stored (M, K), or (K, M) when trans_a, with row stride lda.
    void multiply(float* c, std::int64_t ldc, const float* a, std::int64_t lda, Transpose trans_a,
                  std::int64_t M, std::int64_t N, std::int64_t K, GradWrite write) const {
        const GemmOperand op_a{a, lda, trans_a == Transpose::yes};
        if (kernels_->pack_b) kernels_->gemm_packed_b(M, N, K, op_a, panels_, depth_, c, ldc, write);
        else kernels_->gemm(M, N, K, op_a, b_, c, ldc, write, nullptr);
    }

private:
    const GemmKernels* kernels_ = nullptr;  // those of prepare()
    GemmOperand b_{};
    Scratch scratch_;  // the packed panels, reused by the next prepare()
    float* panels_ = nullptr;
    std::int64_t depth_ = 0;  // K of the packed panels
};

}  // namespace tokclean::cpu_detail
