#pragma once
// The label convention shared by data and model (Hugging Face's): -100 marks a position
// whose token is not a target.
#include <cstdint>

namespace tokclean {

inline constexpr std::int32_t ignore_label = -100;

}  // namespace tokclean
