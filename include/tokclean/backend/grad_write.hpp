#pragma once
// How an op writes its output into a buffer that may already hold values: added to them
// (parameter gradients accumulate across backward passes, like PyTorch's .grad; a product
// folds a residual connection into its output), or written over them (the buffer holds zeros
// or garbage: one pass of memory traffic less, the same values). Device-neutral: every
// backend's ops take it (backend/ops.hpp says which, and their defaults).

namespace tokclean {

enum class GradWrite : bool { accumulate, overwrite };

}  // namespace tokclean
