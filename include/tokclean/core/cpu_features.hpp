#pragma once
// Which CPU kernels run, chosen once per process from the CPU itself, not from the flags the
// including program was compiled with.
//
// The CPU backend's kernels come in two sets: AVX-512 (hand-vectorised, compiled in every
// build on x86-64 with GCC or Clang, each function carrying TOKCLEAN_TARGET_AVX512) and
// generic (Eigen's GEMM and plain loops, vectorised as the compile flags allow). The AVX-512
// set runs where the CPU has AVX-512 F, BW, DQ and VL and the OS saves its registers. Two
// families, each with one dispatch point: the GEMMs (backend/cpu/detail/gemm.hpp) and the
// element-wise and row kernels (backend/cpu/detail/row_kernels.hpp). So a program built with
// plain -O2 runs the same AVX-512 kernels, bit for bit, as one built with -march=native; the
// generic kernels' bits follow the compile flags (vector width, FMA contraction).
//
// A third set adds to the AVX-512 one the products with bfloat16 weights (--dtype bf16) as
// AVX512_BF16 dot products (gemm_avx512_bf16.hpp): where the CPU has them (AMD Zen 4 and 5,
// Intel Cooper Lake and Sapphire Rapids), those products round the other operand to bf16 too;
// elsewhere they widen the weights exactly and compute in float32.
//
// TOKCLEAN_CPU (read once, at the first kernel call) overrides the choice:
//   unset, "" or "auto"  the best the CPU supports;
//   "generic"            the generic kernels, whatever the CPU (to test them);
//   "avx512"             the AVX-512 kernels without bf16 dot products (bf16 weights widened,
//                        exact); on a CPU without AVX-512, the generic ones;
//   "avx512_bf16"        the AVX-512 kernels with bf16 dot products; on a CPU without them,
//                        the best it has.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TOKCLEAN_HAVE_AVX512_KERNELS 1
// On every function of the AVX-512 kernels (intrinsics need their ISA enabled where used).
#define TOKCLEAN_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2")))
// On the bf16 dot-product kernels.
#define TOKCLEAN_TARGET_AVX512_BF16 \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,avx2")))
#else
#define TOKCLEAN_HAVE_AVX512_KERNELS 0
#define TOKCLEAN_TARGET_AVX512
#define TOKCLEAN_TARGET_AVX512_BF16
#endif

// Unrolls the register-tile loops of the GEMM micro-kernel. nvcc's front end does not know
// GCC's pragma and would warn in every CUDA translation unit; unrolling changes no result.
#if defined(__clang__)
#define TOKCLEAN_UNROLL_16 _Pragma("unroll 16")
#elif defined(__GNUC__) && !defined(__CUDACC__)
#define TOKCLEAN_UNROLL_16 _Pragma("GCC unroll 16")
#else
#define TOKCLEAN_UNROLL_16
#endif

namespace tokclean {

// The kernel sets of the CPU backend.
enum class CpuKernels { generic, avx512, avx512_bf16 };

inline const char* cpu_kernels_name(CpuKernels k) {
    return k == CpuKernels::avx512_bf16 ? "avx512_bf16" : k == CpuKernels::avx512 ? "avx512" : "generic";
}

namespace cpu_detail {

// Whether the AVX-512 kernels can run here (cpuid, and XCR0: the OS saves the registers).
inline bool cpu_has_avx512() {
#if TOKCLEAN_HAVE_AVX512_KERNELS
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

// Whether AVX512_BF16's dot products can run here too.
inline bool cpu_has_avx512_bf16() {
#if TOKCLEAN_HAVE_AVX512_KERNELS
    __builtin_cpu_init();
    return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

// The choice for a TOKCLEAN_CPU value (null: unset) on a CPU with or without AVX-512 (and its
// bf16 dot products). `warning` receives a message when the value cannot be honoured as written.
inline CpuKernels choose_cpu_kernels(const char* env, bool has_avx512, std::string_view* warning = nullptr,
                                     bool has_bf16 = false) {
    const std::string_view v = env ? env : "";
    const CpuKernels avx512 = has_avx512 ? CpuKernels::avx512 : CpuKernels::generic;
    const CpuKernels best = has_avx512 && has_bf16 ? CpuKernels::avx512_bf16 : avx512;
    if (v.empty() || v == "auto") return best;
    if (v == "generic") return CpuKernels::generic;
    if (v == "avx512") {
        if (!has_avx512 && warning)
            *warning = "TOKCLEAN_CPU=avx512: this CPU lacks AVX-512, using the generic kernels";
        return avx512;
    }
    if (v == "avx512_bf16") {
        if (best != CpuKernels::avx512_bf16 && warning)
            *warning = "TOKCLEAN_CPU=avx512_bf16: this CPU lacks AVX512_BF16, using the best kernels it has";
        return best;
    }
    if (warning) *warning = "TOKCLEAN_CPU: expected auto, generic, avx512 or avx512_bf16; ignored";
    return best;
}

}  // namespace cpu_detail

// The one dispatch point of a kernel family: its kernels `portable` or `vectorised` (an
// expression naming its AVX-512 kernels, dropped where they are not compiled), as
// cpu_kernels() chose.
#if TOKCLEAN_HAVE_AVX512_KERNELS
#define TOKCLEAN_CPU_DISPATCH(portable, vectorised) \
    (::tokclean::cpu_kernels() != ::tokclean::CpuKernels::generic ? (vectorised) : (portable))
#else
#define TOKCLEAN_CPU_DISPATCH(portable, vectorised) (portable)
#endif

// The kernels this process runs: decided at the first call (TOKCLEAN_CPU, then cpuid) and
// fixed from then on. Every kernel family of the CPU backend dispatches on it.
inline CpuKernels cpu_kernels() {
    static const CpuKernels chosen = [] {
        std::string_view warning;
        const CpuKernels k =
            cpu_detail::choose_cpu_kernels(std::getenv("TOKCLEAN_CPU"), cpu_detail::cpu_has_avx512(), &warning,
                                           cpu_detail::cpu_has_avx512_bf16());
        if (!warning.empty())
            std::fprintf(stderr, "tokclean: %.*s\n", static_cast<int>(warning.size()), warning.data());
        return k;
    }();
    return chosen;
}

}  // namespace tokclean
