#pragma once
// What flows through a tokenizer.json pipeline between its stages: the text of one piece.
#include <string>

namespace tokclean::hf {

struct Piece {
    std::string text;
    // The ByteLevel pre-tokenizer has run: the model reads each byte of `text` as that byte's
    // character (GPT-2's bytes_to_unicode) instead of each UTF-8 character. (The mapped
    // string is never built: the mapping is a function of the byte.)
    bool byte_level = false;
    // The piece begins at the start of the input text (Metaspace's prepend_scheme "first").
    bool at_text_start = false;
};

}  // namespace tokclean::hf
