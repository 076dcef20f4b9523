#pragma once
// Eigen views of raw row-major buffers: the CPU kernels keep llm.c's flat pointers and
// hand Eigen a Map, so no data is ever copied into Eigen's own storage.
#include <cstdint>

#include <Eigen/Core>

namespace tokclean::cpu_detail {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMajorMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix>;
using StridedMap = Eigen::Map<RowMajorMatrix, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const RowMajorMatrix, 0, Eigen::OuterStride<>>;
using VectorMap = Eigen::Map<Eigen::VectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;

// Rows are split into this many fixed chunks for reductions across rows, whatever the thread
// count, so that sums are added in the same order with 1 or 2 threads (bit-identical results).
inline constexpr std::int64_t reduction_chunks = 64;

}  // namespace tokclean::cpu_detail
