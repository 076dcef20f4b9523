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
class Tensor<T, Cuda> : public TensorBase<T, Tensor<T, Cuda>, cuda_detail::DeviceFree> {
    using Base = TensorBase<T, Tensor<T, Cuda>, cuda_detail::DeviceFree>;

public:
    using device_type = Cuda;

    Tensor() = default;
    explicit Tensor(Shape shape)
        : Base(std::unique_ptr<T[], cuda_detail::DeviceFree>(
                   static_cast<T*>(cuda_detail::allocator().allocate(bytes_of(shape.numel())))),
               shape) {
        zero();
    }

    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;

    Tensor clone() const {
        TOKCLEAN_CHECK(this->is_contiguous(), "clone of a strided view");
        Tensor t(this->shape());
        TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(t.data(), this->data(), bytes_of(this->numel()), cudaMemcpyDeviceToDevice,
                                            cuda_detail::stream()));
        return t;
    }

    // Zero bytes (for float: +0.0) over the whole tensor.
    void zero() {
        TOKCLEAN_CHECK(this->is_contiguous(), "zero() of a strided view");
        if (this->numel() > 0)
            TOKCLEAN_CUDA_CHECK(cudaMemsetAsync(this->data(), 0, bytes_of(this->numel()), cuda_detail::stream()));
    }

private:
    static std::size_t bytes_of(std::int64_t n) { return static_cast<std::size_t>(n) * sizeof(T); }
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
