#pragma once
// The CPU backend: every op of the transformer as a _forward/_backward pair on Eigen.
#include "tokclean/backend/cpu/adamw.hpp"
#include "tokclean/backend/cpu/attention.hpp"
#include "tokclean/backend/cpu/cross_entropy.hpp"
#include "tokclean/backend/cpu/embedding.hpp"
#include "tokclean/backend/cpu/gelu.hpp"
#include "tokclean/backend/cpu/layernorm.hpp"
#include "tokclean/backend/cpu/matmul.hpp"
#include "tokclean/backend/cpu/residual.hpp"
#include "tokclean/backend/cpu/rows.hpp"
