#pragma once
// How the CPU kernels split work over OpenMP threads so that results never depend on the
// thread count: element-wise work in blocks, reductions across rows in fixed chunks.
#include <algorithm>
#include <cstdint>

namespace tokclean::cpu_detail {

// Rows are split into this many fixed chunks for reductions across rows, whatever the thread
// count, so that sums are added in the same order with 1 or 2 threads (bit-identical results).
inline constexpr std::int64_t reduction_chunks = 64;

// Calls body(begin, end) over [0, n) in blocks of `block` elements, blocks spread over the
// threads. For element-wise work, whose results do not depend on the split.
template <class Body>
void parallel_blocks(std::int64_t n, std::int64_t block, Body&& body) {
    const std::int64_t blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (std::int64_t i = 0; i < blocks; ++i) body(i * block, std::min(n, (i + 1) * block));
}

}  // namespace tokclean::cpu_detail
