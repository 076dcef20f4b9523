#pragma once
// What every device's Tensor shares: a pointer, a shape and strides, either owning its memory
// (released by `Free`) or viewing someone else's, and the views made from them. Tensor<T, D>
// derives from it (CRTP: views are of the derived type) and adds what depends on the device:
// allocation, clone(), filling, element access.
#include <array>
#include <cstdint>
#include <memory>

#include "tokclean/core/error.hpp"
#include "tokclean/core/shape.hpp"

namespace tokclean {

template <class T, class Derived, class Free>
class TensorBase {
public:
    using value_type = T;

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

    // A non-owning contiguous view of `data` (memory of the tensor's device) with `shape`.
    static Derived view(T* data, Shape shape) {
        Derived t;
        TensorBase& b = t;
        b.data_ = data;
        b.shape_ = shape;
        b.strides_ = shape.contiguous_strides();
        return t;
    }
    // A non-owning view of this tensor (same shape and strides).
    Derived view() const {
        Derived t = view(data_, shape_);
        static_cast<TensorBase&>(t).strides_ = strides_;
        return t;
    }
    // Rows [start, start + count) of the first dimension, as a view.
    Derived slice(std::int64_t start, std::int64_t count) const {
        TOKCLEAN_CHECK(rank() >= 1 && start >= 0 && count >= 0 && start + count <= size(0),
                       "slice [", start, ", ", start + count, ") of ", shape_.str());
        std::array<std::int64_t, Shape::max_rank> dims{};
        for (int i = 0; i < rank(); ++i) dims[i] = shape_[i];
        dims[0] = count;
        Derived t = view(data_ + start * strides_[0], make_shape(dims, rank()));
        static_cast<TensorBase&>(t).strides_ = strides_;
        return t;
    }
    // The same elements under another shape of equal size (contiguous tensors only).
    Derived reshape(Shape shape) const {
        TOKCLEAN_CHECK(is_contiguous() && shape.numel() == numel(), "reshape ", shape_.str(), " to ", shape.str());
        return view(const_cast<T*>(data_), shape);
    }

protected:
    TensorBase() = default;
    // Owning `memory`, which holds shape.numel() elements.
    TensorBase(std::unique_ptr<T[], Free> memory, Shape shape)
        : owned_(std::move(memory)), data_(owned_.get()), shape_(shape), strides_(shape.contiguous_strides()) {}
    TensorBase(TensorBase&&) noexcept = default;
    TensorBase& operator=(TensorBase&&) noexcept = default;

    // Offset of element `index...` (one index per leading dimension) from data().
    template <class... Index>
    std::int64_t offset(Index... index) const {
        static_assert(sizeof...(Index) <= Shape::max_rank);
        const std::int64_t idx[] = {static_cast<std::int64_t>(index)...};
        std::int64_t off = 0;
        for (std::size_t i = 0; i < sizeof...(Index); ++i) off += idx[i] * strides_[i];
        return off;
    }

private:
    static Shape make_shape(const std::array<std::int64_t, Shape::max_rank>& d, int rank) {
        switch (rank) {
            case 1: return {d[0]};
            case 2: return {d[0], d[1]};
            case 3: return {d[0], d[1], d[2]};
            case 4: return {d[0], d[1], d[2], d[3]};
            default: return {};
        }
    }

    std::unique_ptr<T[], Free> owned_;
    T* data_ = nullptr;
    Shape shape_;
    std::array<std::int64_t, Shape::max_rank> strides_{};
};

}  // namespace tokclean
