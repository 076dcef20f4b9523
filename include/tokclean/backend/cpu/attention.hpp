#pragma once
// Causal multi-head self-attention on the CPU: per (batch, head), two GEMMs around a causal
// softmax. Heads run in parallel; Eigen keeps each GEMM on one thread inside that loop.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "tokclean/backend/cpu/eigen_maps.hpp"
#include "tokclean/core/device.hpp"

namespace tokclean {

// qkv (B, T, 3C): per position [q | k | v], head h owns columns [h·hs, (h+1)·hs) of each.
// out (B, T, C): heads concatenated. att (B, NH, T, T): softmax probabilities, kept for
// backward; entries above the diagonal are 0.
inline void attention_forward(Cpu, float* out, float* att, const float* qkv, std::int64_t B,
                              std::int64_t T, std::int64_t C, std::int64_t NH) {
    using namespace cpu_detail;
    const std::int64_t hs = C / NH;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t h = 0; h < NH; ++h) {
            const float* base = qkv + b * T * 3 * C + h * hs;
            ConstStridedMap q(base, T, hs, Eigen::OuterStride<>(3 * C));      // (T, hs)
            ConstStridedMap k(base + C, T, hs, Eigen::OuterStride<>(3 * C));  // (T, hs)
            ConstStridedMap v(base + 2 * C, T, hs, Eigen::OuterStride<>(3 * C));
            MatrixMap p(att + (b * NH + h) * T * T, T, T);  // (T, T)
            p.noalias() = scale * (q * k.transpose());
            for (std::int64_t t = 0; t < T; ++t) {
                float* row = p.data() + t * T;
                float mx = row[0];
                for (std::int64_t s = 1; s <= t; ++s) mx = std::max(mx, row[s]);
                float sum = 0.0f;
                for (std::int64_t s = 0; s <= t; ++s) {
                    row[s] = std::exp(row[s] - mx);
                    sum += row[s];
                }
                const float inv = 1.0f / sum;
                for (std::int64_t s = 0; s <= t; ++s) row[s] *= inv;
                for (std::int64_t s = t + 1; s < T; ++s) row[s] = 0.0f;
            }
            StridedMap o(out + b * T * C + h * hs, T, hs, Eigen::OuterStride<>(C));  // (T, hs)
            o.noalias() = p * v;
        }
}

// Accumulates dqkv (B, T, 3C) from dout (B, T, C), given qkv and att of the forward.
inline void attention_backward(Cpu, float* dqkv, const float* dout, const float* qkv,
                               const float* att, std::int64_t B, std::int64_t T, std::int64_t C,
                               std::int64_t NH) {
    using namespace cpu_detail;
    const std::int64_t hs = C / NH;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t h = 0; h < NH; ++h) {
            const float* base = qkv + b * T * 3 * C + h * hs;
            float* dbase = dqkv + b * T * 3 * C + h * hs;
            const Eigen::OuterStride<> s3(3 * C);
            ConstStridedMap q(base, T, hs, s3), k(base + C, T, hs, s3), v(base + 2 * C, T, hs, s3);
            StridedMap dq(dbase, T, hs, s3), dk(dbase + C, T, hs, s3), dv(dbase + 2 * C, T, hs, s3);
            ConstMatrixMap p(att + (b * NH + h) * T * T, T, T);                       // (T, T)
            ConstStridedMap dO(dout + b * T * C + h * hs, T, hs, Eigen::OuterStride<>(C));
            RowMajorMatrix dS = dO * v.transpose();  // (T, T): dP, then dS in place
            dv.noalias() += p.transpose() * dO;
            for (std::int64_t t = 0; t < T; ++t) {
                const float* pr = p.data() + t * T;
                float* dr = dS.data() + t * T;
                float dot = 0.0f;
                for (std::int64_t s = 0; s <= t; ++s) dot += pr[s] * dr[s];
                for (std::int64_t s = 0; s <= t; ++s) dr[s] = scale * pr[s] * (dr[s] - dot);
                for (std::int64_t s = t + 1; s < T; ++s) dr[s] = 0.0f;
            }
            dq.noalias() += dS * k;
            dk.noalias() += dS.transpose() * q;
        }
}

}  // namespace tokclean
