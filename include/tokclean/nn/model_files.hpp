#pragma once
// The files of a model directory every architecture shares: config.json, and the tokenizer
// files that may sit beside it (copied along when a model is saved).
#include <filesystem>
#include <string_view>
#include <vector>

#include "tokclean/core/compiled_once.hpp"

namespace tokclean {

inline constexpr std::string_view config_file_name = "config.json";
inline constexpr std::string_view weights_file_name = "model.safetensors";

// The tokenizer files present in `dir` (vocab.json, merges.txt, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json).
TOKCLEAN_COMPILED_ONCE std::vector<std::filesystem::path> tokenizer_files(const std::filesystem::path& dir)
#if TOKCLEAN_DEFINE_COMPILED_ONCE
{
    std::vector<std::filesystem::path> out;
    for (const char* name : {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                             "special_tokens_map.json"}) {
        std::error_code ec;
        if (std::filesystem::is_regular_file(dir / name, ec)) out.push_back(dir / name);
    }
    return out;
}
#else
    ;
#endif

}  // namespace tokclean
