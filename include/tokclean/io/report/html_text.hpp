#pragma once
// Text on the report page: HTML escaping, and a token's bytes made visible (newlines, tabs,
// control and invisible characters, bytes that are not UTF-8 shown as stand-ins).
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokclean/io/utf8.hpp"

namespace tokclean::detail::report {

inline void append_html_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(c);
        }
    }
}

inline std::string html_escaped(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_html_escaped(out, s);
    return out;
}

// One piece of a token's visible text: plain UTF-8, or a stand-in for something invisible
// or unsafe to show (a newline, a control character, a byte that is not UTF-8).
struct Piece {
    std::string text;
    enum Kind { plain, escape, newline } kind = plain;
};

// "\xC3": a byte shown as its escape.
inline std::string byte_escape(unsigned char b) {
    std::string out = "\\x";
    append_hex2(out, b, true);
    return out;
}

inline std::string hex_code_point(char32_t c) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(c));
    return buf;
}

// Code points shown as \uXXXX: C1 controls, invisible format characters, line/paragraph
// separators and bidirectional overrides (which would reorder the text around them).
inline bool hidden_code_point(char32_t c) {
    return (c >= 0x80 && c <= 0x9F) || c == 0xAD || (c >= 0x200B && c <= 0x200F) ||
           (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2069) || c == 0xFEFF;
}

inline std::vector<Piece> visible_pieces(std::string_view s) {
    std::vector<Piece> out;
    const auto add = [&](std::string text, Piece::Kind kind) {
        if (kind == Piece::plain && !out.empty() && out.back().kind == Piece::plain)
            out.back().text += text;
        else
            out.push_back({std::move(text), kind});
    };
    for (std::size_t i = 0, len = 0; i < s.size(); i += len) {
        const char32_t cp = decode_utf8(s, i, len);  // length 1 where not UTF-8
        if (cp == invalid_code_point) {
            add(byte_escape(static_cast<unsigned char>(s[i])), Piece::escape);
            continue;
        }
        if (cp == '\n') add("\xE2\x86\xB5", Piece::newline);       // ↵
        else if (cp == '\t') add("\xE2\x87\xA5", Piece::escape);   // ⇥
        else if (cp == '\r') add("\\r", Piece::escape);
        else if (cp < 0x20 || cp == 0x7F) add(byte_escape(static_cast<unsigned char>(cp)), Piece::escape);
        else if (hidden_code_point(cp)) add(hex_code_point(cp), Piece::escape);
        else add(std::string(s.substr(i, len)), Piece::plain);
    }
    return out;
}

// The visible text as plain UTF-8 (for tooltips).
inline std::string visible_text(std::string_view s) {
    std::string out;
    for (const auto& p : visible_pieces(s)) out += p.text;
    return out;
}

// The visible text as HTML: stand-ins in <i> (styled apart), a newline after ↵ so the text
// keeps its lines (the token area is white-space: pre-wrap).
inline void append_visible_html(std::string& out, std::string_view s) {
    for (const auto& p : visible_pieces(s)) {
        if (p.kind == Piece::plain) {
            append_html_escaped(out, p.text);
        } else {
            out += "<i>";
            append_html_escaped(out, p.text);
            out += "</i>";
            if (p.kind == Piece::newline) out += '\n';
        }
    }
}

}  // namespace tokclean::detail::report
