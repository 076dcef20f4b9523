#pragma once
// Tensor<T, Device>: a shape, strides and a pointer, either owning its memory or viewing
// someone else's (a slice of a flat parameter buffer, a batch of activations).
// Owning tensors are move-only; copy data explicitly with clone().
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tokclean/core/device.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/core/memory.hpp"
#include "tokclean/core/shape.hpp"

namespace tokclean {

template <class T, class D = Cpu>
class Tensor;

// Host tensor. Owning memory is 64-byte aligned and zero-filled at allocation.
template <class T>
class Tensor<T, Cpu> {
public:
    using value_type = T;
    using device_type = Cpu;

    Tensor() = default;
    explicit Tensor(Shape shape)
        : owned_(aligned_zeros<T>(static_cast<std::size_t>(shape.numel()))),
          data_(owned_.get()),
          shape_(shape),
          strides_(shape.contiguous_strides()) {}

    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;

    // A non-owning contiguous view of `data` with `shape`.
    static Tensor view(T* data, Shape shape) {
        Tensor t;
        t.data_ = data;
        t.shape_ = shape;
        t.strides_ = shape.contiguous_strides();
        return t;
    }
    // A non-owning view of this tensor (same shape and strides).
    Tensor view() const {
        Tensor t;
        t.data_ = data_;
        t.shape_ = shape_;
        t.strides_ = strides_;
        return t;
    }
    Tensor clone() const {
        TOKCLEAN_CHECK(is_contiguous(), "clone of a strided view");
        Tensor t(shape_);
        std::copy_n(data_, numel(), t.data_);
        return t;
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    const Shape& shape() const { return shape_; }
    int rank() const { return shape_.rank(); }
    std::int64_t size(int dim) const { return shape_[dim]; }
    std::int64_t stride(int dim) const { return strides_[dim]; }
    std::int64_t numel() const { return shape_.numel(); }
    bool owns_memory() const { return owned_ != nullptr; }
    // True for a default-constructed tensor (no memory, no shape).
    bool empty() const { return data_ == nullptr; }
    bool is_contiguous() const { return strides_ == shape_.contiguous_strides(); }

    std::span<T> span() {
        TOKCLEAN_CHECK(is_contiguous(), "span of a strided view");
        return {data_, static_cast<std::size_t>(numel())};
    }
    std::span<const T> span() const {
        TOKCLEAN_CHECK(is_contiguous(), "span of a strided view");
        return {data_, static_cast<std::size_t>(numel())};
    }

    template <class... Index>
    T& operator()(Index... index) {
        return data_[offset(index...)];
    }
    template <class... Index>
    const T& operator()(Index... index) const {
        return data_[offset(index...)];
    }

    // Rows [start, start + count) of the first dimension, as a view.
    Tensor slice(std::int64_t start, std::int64_t count) const {
        TOKCLEAN_CHECK(rank() >= 1 && start >= 0 && count >= 0 && start + count <= size(0),
                       "slice [", start, ", ", start + count, ") of ", shape_.str());
        Tensor t = view();
        t.data_ = data_ + start * strides_[0];
        std::array<std::int64_t, Shape::max_rank> dims{};
        for (int i = 0; i < rank(); ++i) dims[i] = shape_[i];
        dims[0] = count;
        t.shape_ = make_shape(dims, rank());
        return t;
    }
    // The same elements under another shape of equal size (contiguous tensors only).
    Tensor reshape(Shape shape) const {
        TOKCLEAN_CHECK(is_contiguous() && shape.numel() == numel(), "reshape ", shape_.str(),
                       " to ", shape.str());
        return view(const_cast<T*>(data_), shape);
    }

    void fill(T value) { std::fill_n(span().data(), numel(), value); }
    void zero() { fill(T(0)); }

private:
    template <class... Index>
    std::int64_t offset(Index... index) const {
        static_assert(sizeof...(Index) <= Shape::max_rank);
        const std::int64_t idx[] = {static_cast<std::int64_t>(index)...};
        std::int64_t off = 0;
        for (std::size_t i = 0; i < sizeof...(Index); ++i) off += idx[i] * strides_[i];
        return off;
    }
    static Shape make_shape(const std::array<std::int64_t, Shape::max_rank>& d, int rank) {
        switch (rank) {
            case 1: return {d[0]};
            case 2: return {d[0], d[1]};
            case 3: return {d[0], d[1], d[2]};
            case 4: return {d[0], d[1], d[2], d[3]};
            default: return {};
        }
    }

    std::unique_ptr<T[], AlignedFree> owned_;
    T* data_ = nullptr;
    Shape shape_;
    std::array<std::int64_t, Shape::max_rank> strides_{};
};

template <class T>
using HostTensor = Tensor<T, Cpu>;

// Device-generic transfers, so that code written once for any Device moves values between
// the host and the tensors' device. On the CPU they copy nothing they need not; backend/cuda
// adds the Cuda overloads.

// A copy of t on the device given by the tag.
template <class T>
Tensor<T, Cpu> copy_to(Cpu, const Tensor<T, Cpu>& t) {
    return t.clone();
}
// n host values where the device's kernels read them: the host pointer itself on the CPU
// (`staging` stays untouched); elsewhere a copy into `staging`.
template <class T>
const T* upload(Cpu, const T* host, std::int64_t, Tensor<T, Cpu>&) {
    return host;
}
// n values of device memory where the host reads them: the pointer itself on the CPU;
// elsewhere a copy into `staging`.
template <class T>
const T* download(Cpu, const T* data, std::int64_t, std::vector<T>&) {
    return data;
}

}  // namespace tokclean
