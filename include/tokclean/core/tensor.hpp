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
#include "tokclean/core/tensor_base.hpp"

namespace tokclean {

template <class T, class D = Cpu>
class Tensor;

// Host tensor. Owning memory is 64-byte aligned and zero-filled at allocation.
template <class T>
class Tensor<T, Cpu> : public TensorBase<T, Tensor<T, Cpu>, AlignedFree> {
    using Base = TensorBase<T, Tensor<T, Cpu>, AlignedFree>;

public:
    using device_type = Cpu;

    Tensor() = default;
    explicit Tensor(Shape shape) : Base(aligned_zeros<T>(static_cast<std::size_t>(shape.numel())), shape) {}

    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;

    Tensor clone() const {
        TOKCLEAN_CHECK(this->is_contiguous(), "clone of a strided view");
        Tensor t(this->shape());
        std::copy_n(this->data(), this->numel(), t.data());
        return t;
    }

    std::span<T> span() {
        TOKCLEAN_CHECK(this->is_contiguous(), "span of a strided view");
        return {this->data(), static_cast<std::size_t>(this->numel())};
    }
    std::span<const T> span() const {
        TOKCLEAN_CHECK(this->is_contiguous(), "span of a strided view");
        return {this->data(), static_cast<std::size_t>(this->numel())};
    }

    template <class... Index>
    T& operator()(Index... index) {
        return this->data()[this->offset(index...)];
    }
    template <class... Index>
    const T& operator()(Index... index) const {
        return this->data()[this->offset(index...)];
    }

    void fill(T value) { std::fill_n(span().data(), this->numel(), value); }
    void zero() { fill(T(0)); }
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
