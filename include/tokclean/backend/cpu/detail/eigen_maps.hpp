#pragma once
// Eigen views of raw row-major buffers: the CPU kernels keep llm.c's flat pointers and
// hand Eigen a Map, so no data is ever copied into Eigen's own storage.
#include <cstdint>

#include <Eigen/Core>

#include "tokclean/backend/cpu/detail/parallel.hpp"

namespace tokclean::cpu_detail {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMajorMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix>;
using StridedMap = Eigen::Map<RowMajorMatrix, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const RowMajorMatrix, 0, Eigen::OuterStride<>>;
using VectorMap = Eigen::Map<Eigen::VectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;
// Element-wise views: Eigen evaluates an array expression in one vectorised loop (AdamW's
// square roots, which a plain loop keeps scalar: std::sqrt may set errno).
using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

}  // namespace tokclean::cpu_detail
