#pragma once
// Tensor<T, Cuda>: the host tensor's interface on device memory from the caching allocator
// (owning tensors zero-filled at allocation, like host ones), without element access: device
// values are read through copy_to(Cpu{}, t) or download(). Transfers between the devices.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/core/tensor.hpp"

namespace tokclean {

namespace cuda_detail {
struct DeviceFree {
    void operator()(void* p) const noexcept { allocator().release(p); }
};
}  // namespace cuda_detail

template <class T>
class Tensor<T, Cuda> {
public:
    using value_type = T;
    using device_type = Cuda;

    Tensor() = default;
    explicit Tensor(Shape shape)
        : owned_(static_cast<T*>(cuda_detail::allocator().allocate(bytes_of(shape.numel())))),
          data_(owned_.get()),
          shape_(shape),
          strides_(shape.contiguous_strides()) {
        zero();
    }

    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;

    // A non-owning contiguous view of device memory `data` with `shape`.
    static Tensor view(T* data, Shape shape) {
        Tensor t;
        t.data_ = data;
        t.shape_ = shape;
        t.strides_ = shape.contiguous_strides();
        return t;
    }
    Tensor view() const {
        Tensor t = view(data_, shape_);
        t.strides_ = strides_;
        return t;
    }
    Tensor clone() const {
        TOKCLEAN_CHECK(is_contiguous(), "clone of a strided view");
        Tensor t(shape_);
        TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(t.data_, data_, bytes_of(numel()), cudaMemcpyDeviceToDevice,
                                            cuda_detail::stream()));
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
    bool empty() const { return data_ == nullptr; }
    bool is_contiguous() const { return strides_ == shape_.contiguous_strides(); }

    // Rows [start, start + count) of the first dimension, as a view.
    Tensor slice(std::int64_t start, std::int64_t count) const {
        TOKCLEAN_CHECK(rank() >= 1 && start >= 0 && count >= 0 && start + count <= size(0),
                       "slice [", start, ", ", start + count, ") of ", shape_.str());
        std::array<std::int64_t, Shape::max_rank> d{};
        for (int i = 0; i < rank(); ++i) d[i] = shape_[i];
        d[0] = count;
        const Shape s = rank() == 1 ? Shape{d[0]} : rank() == 2 ? Shape{d[0], d[1]}
                      : rank() == 3 ? Shape{d[0], d[1], d[2]} : Shape{d[0], d[1], d[2], d[3]};
        Tensor t = view(data_ + start * strides_[0], s);
        t.strides_ = strides_;
        return t;
    }
    Tensor reshape(Shape shape) const {
        TOKCLEAN_CHECK(is_contiguous() && shape.numel() == numel(), "reshape ", shape_.str(), " to ",
                       shape.str());
        return view(const_cast<T*>(data_), shape);
    }

    // Zero bytes (for float: +0.0) over the whole tensor.
    void zero() {
        TOKCLEAN_CHECK(is_contiguous(), "zero() of a strided view");
        if (numel() > 0)
            TOKCLEAN_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes_of(numel()), cuda_detail::stream()));
    }

private:
    static std::size_t bytes_of(std::int64_t n) { return static_cast<std::size_t>(n) * sizeof(T); }

    std::unique_ptr<T[], cuda_detail::DeviceFree> owned_;
    T* data_ = nullptr;
    Shape shape_;
    std::array<std::int64_t, Shape::max_rank> strides_{};
};

template <class T>
using DeviceTensor = Tensor<T, Cuda>;

// --- Transfers (contiguous tensors; each on the context's stream) -------------------------

// A device copy of a host tensor.
template <class T>
Tensor<T, Cuda> copy_to(Cuda, const Tensor<T, Cpu>& t) {
    TOKCLEAN_CHECK(t.is_contiguous(), "copy of a strided view");
    Tensor<T, Cuda> d(t.shape());
    TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(d.data(), t.data(), static_cast<std::size_t>(t.numel()) * sizeof(T),
                                        cudaMemcpyHostToDevice, cuda_detail::stream()));
    return d;
}
template <class T>
Tensor<T, Cuda> copy_to(Cuda, const Tensor<T, Cuda>& t) {
    return t.clone();
}
// A host copy of a device tensor (waits for it).
template <class T>
Tensor<T, Cpu> copy_to(Cpu, const Tensor<T, Cuda>& t) {
    TOKCLEAN_CHECK(t.is_contiguous(), "copy of a strided view");
    Tensor<T, Cpu> h(t.shape());
    TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(h.data(), t.data(), static_cast<std::size_t>(t.numel()) * sizeof(T),
                                        cudaMemcpyDeviceToHost, cuda_detail::stream()));
    TOKCLEAN_CUDA_CHECK(cudaStreamSynchronize(cuda_detail::stream()));
    return h;
}

// n host values where device kernels read them: copied into `staging` (grown when too
// small). The host memory may change as soon as this returns.
template <class T>
const T* upload(Cuda, const T* host, std::int64_t n, Tensor<T, Cuda>& staging) {
    if (n <= 0) return staging.data();
    if (staging.numel() < n) staging = Tensor<T, Cuda>(Shape{n});
    TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(staging.data(), host, static_cast<std::size_t>(n) * sizeof(T),
                                        cudaMemcpyHostToDevice, cuda_detail::stream()));
    return staging.data();
}

// n device values where the host reads them: copied into `staging` (waits for them).
template <class T>
const T* download(Cuda, const T* device, std::int64_t n, std::vector<T>& staging) {
    staging.resize(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
    if (n <= 0) return staging.data();
    TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(staging.data(), device, static_cast<std::size_t>(n) * sizeof(T),
                                        cudaMemcpyDeviceToHost, cuda_detail::stream()));
    TOKCLEAN_CUDA_CHECK(cudaStreamSynchronize(cuda_detail::stream()));
    return staging.data();
}

}  // namespace tokclean
