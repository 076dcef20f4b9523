#pragma once
// One AdamW step on the CPU (the contract: backend/ops.hpp) with PyTorch's semantics
// (torch.optim.AdamW): decoupled weight decay, bias-corrected moments, eps added after the
// square root. The update of a block: detail/row_kernels.hpp.
#include <cmath>
#include <cstdint>

#include "tokclean/backend/cpu/detail/parallel.hpp"
#include "tokclean/backend/cpu/detail/row_kernels.hpp"
#include "tokclean/backend/ops.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// Updates params (N), m (N), v (N) in place from grads (N); step counts from 1.
inline void adamw_update(Cpu, float* params, float* m, float* v, const float* grads,
                         std::int64_t N, const AdamWHyper& h, std::int64_t step) {
    const double bc1 = 1.0 - std::pow(static_cast<double>(h.beta1), static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(static_cast<double>(h.beta2), static_cast<double>(step));
    // The product of two floats is exact in double: the same decay whether or not the
    // compiler fuses it with the subtraction (-ffp-contract, -march).
    const cpu_detail::AdamWStep k{
        h.beta1, h.beta2, h.eps, static_cast<float>(h.lr / bc1), static_cast<float>(std::sqrt(bc2)),
        static_cast<float>(1.0 - static_cast<double>(h.lr) * static_cast<double>(h.weight_decay))};
    const auto block = cpu_detail::row_kernels().adamw;
    cpu_detail::parallel_blocks(N, 16384, [&](std::int64_t i0, std::int64_t i1) {
        block(params + i0, m + i0, v + i0, grads + i0, i1 - i0, k);
    });
}

}  // namespace tokclean
