#pragma once
// Every CUDA runtime, cuBLAS(Lt) and cuDNN call goes through one of these checks: a failure
// throws tokclean::Error naming the call, its file and line, and the library's own message.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <type_traits>

#include "tokclean/core/error.hpp"

namespace tokclean::cuda_detail {

inline const char* status_text(cudaError_t s) { return cudaGetErrorString(s); }
inline const char* status_text(cublasStatus_t s) { return cublasGetStatusString(s); }
inline const char* status_text(cudnnStatus_t s) { return cudnnGetErrorString(s); }

inline bool is_ok(cudaError_t s) { return s == cudaSuccess; }
inline bool is_ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
inline bool is_ok(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }

template <class Status>
void check(Status s, const char* call, const char* file, int line) {
    if (is_ok(s)) return;
    // A failed runtime call also leaves its error as the "last error"; clear it, or the next
    // launch check would report it again as its own.
    if constexpr (std::is_same_v<Status, cudaError_t>) (void)cudaGetLastError();
    fail(file, ":", line, ": ", call, " failed: ", status_text(s), " (", static_cast<long long>(s), ")");
}

}  // namespace tokclean::cuda_detail

// TOKCLEAN_CUDA_CHECK(cudaMemcpyAsync(...)): for any call returning cudaError_t,
// cublasStatus_t or cudnnStatus_t.
#define TOKCLEAN_CUDA_CHECK(call) ::tokclean::cuda_detail::check((call), #call, __FILE__, __LINE__)

// After a kernel launch: launch errors (bad configuration) surface here, at the launch site;
// errors inside the kernel surface at the next synchronising call.
#define TOKCLEAN_CUDA_CHECK_LAUNCH(name) \
    ::tokclean::cuda_detail::check(cudaGetLastError(), name " launch", __FILE__, __LINE__)
