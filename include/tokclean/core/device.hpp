#pragma once
// Device tags. The device is part of a tensor's type; per-device math is chosen by
// overloading on the tag (backend/cpu for Cpu, backend/cuda for Cuda, nvcc only).

namespace tokclean {

struct Cpu {
    static constexpr const char* name = "cpu";
};

// Declared for the GPU backend; its definitions live in backend/cuda (.cuh, nvcc only).
struct Cuda {
    static constexpr const char* name = "cuda";
};

template <class D>
inline constexpr bool is_device_v = false;
template <>
inline constexpr bool is_device_v<Cpu> = true;
template <>
inline constexpr bool is_device_v<Cuda> = true;

template <class D>
concept Device = is_device_v<D>;

}  // namespace tokclean
