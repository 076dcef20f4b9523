#pragma once
// UTF-8, once for the whole library: validating and decoding by Unicode's definition (Table
// 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), encoding, and making any
// bytes printable on one line. Used by the JSON readers (json_fields.hpp), GPT-2 BPE
// (data/gpt2_bpe.hpp) and the HTML report (io/report/).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tokclean::detail {

// What decode_utf8 returns where no well-formed sequence begins.
inline constexpr char32_t invalid_code_point = 0xFFFFFFFF;

// The code point that starts at s[i] and its length in bytes; invalid_code_point with length
// 1 where s[i] does not begin a well-formed sequence.
inline char32_t decode_utf8(std::string_view s, std::size_t i, std::size_t& len) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned b0 = byte(i);
    len = 1;
    if (b0 < 0x80) return b0;
    const std::size_t left = s.size() - i;
    auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return k < left && byte(i + k) >= lo && byte(i + k) <= hi;
    };
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (!cont(1)) return invalid_code_point;
        len = 2;
        return ((b0 & 0x1F) << 6) | (byte(i + 1) & 0x3F);
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        const unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
        if (!cont(1, lo, hi) || !cont(2)) return invalid_code_point;
        len = 3;
        return ((b0 & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F);
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        const unsigned lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return invalid_code_point;
        len = 4;
        return ((b0 & 0x07) << 18) | ((byte(i + 1) & 0x3F) << 12) | ((byte(i + 2) & 0x3F) << 6) |
               (byte(i + 3) & 0x3F);
    }
    return invalid_code_point;
}

// The length of the well-formed UTF-8 sequence at s[i], or 0 if s[i] does not begin one.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    std::size_t len = 0;
    return decode_utf8(s, i, len) == invalid_code_point ? 0 : len;
}

// The offset of the first byte of `s` that does not begin a well-formed UTF-8 sequence, or
// npos if `s` is valid UTF-8.
inline std::size_t first_invalid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0) return i;
        i += n;
    }
    return std::string_view::npos;
}

// Appends code point `c` (at most U+10FFFF) as UTF-8.
inline void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

// Splits text into its code points, each as its bytes; a byte that does not begin a
// well-formed sequence is one piece of its own.
inline std::vector<std::string> utf8_chars(std::string_view s) {
    std::vector<std::string> out;
    for (std::size_t i = 0, len = 0; i < s.size(); i += len) {
        decode_utf8(s, i, len);
        out.emplace_back(s.substr(i, len));
    }
    return out;
}

// Appends byte `c` as two hex digits: "0a", or "0A" with `upper`.
inline void append_hex2(std::string& out, unsigned char c, bool upper = false) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    out += digits[c >> 4];
    out += digits[c & 15];
}

// "0x0a": a byte for messages.
inline std::string hex_byte(unsigned char c) {
    std::string out = "0x";
    append_hex2(out, c);
    return out;
}

// Makes text safe to print on one line: control characters and bytes that are not valid
// UTF-8 become \xNN.
inline std::string printable(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = utf8_sequence_length(s, i);
        if (n == 0 || c < 0x20 || c == 0x7F) {
            out += "\\x";
            append_hex2(out, c);
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

// Text from the input (a key, a name) made safe for a one-line message.
inline std::string one_line(std::string_view s) { return printable(s); }

}  // namespace tokclean::detail
