#pragma once
// The GPU backend (nvcc only; link tokclean::cuda): every op of backend/ops.hpp as an
// overload on the Cuda tag, so Gpt<Cuda>, Llama<Cuda>, AdamW<Cuda> and the cleaner run the same code on
// the device. Device memory comes from a caching allocator; every op runs on one stream
// (context.cuh); products run on cuBLASLt in the math mode set by set_cuda_math().
//
// Kernels are templates (on the value type, float throughout) so that several .cu files of
// one program can include these headers: template instances merge at link time, where plain
// __global__ functions would be defined twice.
#ifndef __CUDACC__
#error "tokclean/backend/cuda.cuh is CUDA code: compile this file with nvcc (or link tokclean::cuda and name it .cu)"
#endif
#include "tokclean/backend/cuda/adamw.cuh"
#include "tokclean/backend/cuda/attention.cuh"
#include "tokclean/backend/cuda/context.cuh"
#include "tokclean/backend/cuda/cross_entropy.cuh"
#include "tokclean/backend/cuda/dropout.cuh"
#include "tokclean/backend/cuda/embedding.cuh"
#include "tokclean/backend/cuda/gelu.cuh"
#include "tokclean/backend/cuda/layernorm.cuh"
#include "tokclean/backend/cuda/matmul.cuh"
#include "tokclean/backend/cuda/rmsnorm.cuh"
#include "tokclean/backend/cuda/rope.cuh"
#include "tokclean/backend/cuda/rows.cuh"
#include "tokclean/backend/cuda/swiglu.cuh"
#include "tokclean/backend/cuda/tensor.cuh"
#include "tokclean/backend/ops.hpp"

static_assert(tokclean::BackendOps<tokclean::Cuda>, "the GPU backend lacks an op of backend/ops.hpp");
