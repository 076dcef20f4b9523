#pragma once
// What every GEMM of the CPU backend shares: how an operand is described, and the aligned
// scratch buffers the packing kernels reuse.
#include <cstdint>
#include <cstdlib>
#include <new>

#include "tokclean/core/bfloat16.hpp"

namespace tokclean::cpu_detail {

// One operand of C = op(A) · op(B), seen as rows along C's edge and depth k: element (r, k)
// is data[r * ld + k], or data[k * ld + r] when k_outer. For op(A), r is the row i of C:
// A stored (M, K) has k_outer false, A stored (K, M) true. For op(B), r is the column j of
// C: B stored (K, N) has k_outer true, B stored (N, K) false. An operand of bfloat16 values
// (weights kept in bf16) has them at bf16, in the same layout, and data null: the GEMMs widen
// them (exactly) as they pack or read them, so the product is the float32 product of the
// widened values, bit for bit.
struct GemmOperand {
    const float* data;
    std::int64_t ld;
    bool k_outer;
    const bfloat16* bf16 = nullptr;
};

// Whether the bf16 dot-product GEMM (gemm_avx512_bf16.hpp) takes a product: B bf16 stored
// (N, K) (op(B) = Bᵀ, a linear layer's weight), A float32.
inline bool bf16_dot_applies(const GemmOperand& a, const GemmOperand& b) { return b.bf16 && !b.k_outer && !a.bf16; }

// A grow-only 64-byte aligned buffer, one per thread and role, reused across calls.
class Scratch {
public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { std::free(data_); }
    float* get(std::int64_t count) {
        if (count > size_) {
            std::free(data_);
            data_ = nullptr;
            size_ = 0;
            const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(float) + 63) / 64 * 64;
            data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
            if (!data_) throw std::bad_alloc();
            size_ = count;
        }
        return data_;
    }

private:
    float* data_ = nullptr;
    std::int64_t size_ = 0;
};

}  // namespace tokclean::cpu_detail
