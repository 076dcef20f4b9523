#pragma once
// How a backward kernel writes a gradient: added to what the buffer holds (parameter
// gradients accumulate across backward passes, like PyTorch's .grad), or written over it
// (the buffer holds zeros or garbage: one pass of memory traffic less, the same values).

namespace tokclean {

enum class GradWrite : bool { accumulate, overwrite };

}  // namespace tokclean
