#pragma once
// Shapes and row-major strides of up to four dimensions.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tokclean/core/error.hpp"

namespace tokclean {

class Shape {
public:
    static constexpr int max_rank = 4;

    Shape() = default;
    Shape(std::initializer_list<std::int64_t> dims) {
        TOKCLEAN_CHECK(dims.size() <= max_rank, "rank ", dims.size());
        for (auto d : dims) {
            TOKCLEAN_CHECK(d >= 0, "negative dimension ", d);
            dims_[rank_++] = d;
        }
    }

    int rank() const { return rank_; }
    std::int64_t operator[](int i) const { return dims_[i]; }
    std::int64_t numel() const {
        std::int64_t n = 1;
        for (int i = 0; i < rank_; ++i) n *= dims_[i];
        return n;
    }
    // Row-major (C-order) strides in elements.
    std::array<std::int64_t, max_rank> contiguous_strides() const {
        std::array<std::int64_t, max_rank> s{};
        std::int64_t acc = 1;
        for (int i = rank_ - 1; i >= 0; --i) {
            s[i] = acc;
            acc *= dims_[i];
        }
        return s;
    }
    bool operator==(const Shape& o) const {
        if (rank_ != o.rank_) return false;
        for (int i = 0; i < rank_; ++i)
            if (dims_[i] != o.dims_[i]) return false;
        return true;
    }
    std::string str() const {
        std::string s = "[";
        for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
        return s + "]";
    }

private:
    std::array<std::int64_t, max_rank> dims_{};
    int rank_ = 0;
};

}  // namespace tokclean
