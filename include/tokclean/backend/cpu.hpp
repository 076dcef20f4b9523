#pragma once
// The CPU backend: every op of backend/ops.hpp on the Cpu tag, on Eigen, our AVX-512 GEMM and
// OpenMP. The headers under cpu/detail/ are its internals.
#include "tokclean/backend/cpu/adamw.hpp"
#include "tokclean/backend/cpu/attention.hpp"
#include "tokclean/backend/cpu/cross_entropy.hpp"
#include "tokclean/backend/cpu/dropout.hpp"
#include "tokclean/backend/cpu/embedding.hpp"
#include "tokclean/backend/cpu/gelu.hpp"
#include "tokclean/backend/cpu/layernorm.hpp"
#include "tokclean/backend/cpu/matmul.hpp"
#include "tokclean/backend/cpu/residual.hpp"
#include "tokclean/backend/cpu/rmsnorm.hpp"
#include "tokclean/backend/cpu/rope.hpp"
#include "tokclean/backend/cpu/rows.hpp"
#include "tokclean/backend/cpu/swiglu.hpp"
#include "tokclean/backend/ops.hpp"

static_assert(tokclean::BackendOps<tokclean::Cpu>, "the CPU backend lacks an op of backend/ops.hpp");
