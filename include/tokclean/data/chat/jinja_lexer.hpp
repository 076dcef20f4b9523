#pragma once
// Tokens of a Jinja2 template, split the way jinja2's lexer splits them with trim_blocks and
// lstrip_blocks on (the configuration of transformers' apply_chat_template): template data
// comes out already stripped by `-`, lstrip_blocks and trim_blocks, so the parser never sees
// whitespace control.
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/io/utf8.hpp"

namespace tokclean::jinja {

// 1-based line and column (columns count characters, not bytes).
struct Pos {
    int line = 1;
    int col = 1;
};

// Throws tokclean::Error "NAME:LINE:COL: what", on one line whatever names and strings of the
// template the message quotes (control characters and invalid UTF-8 become \xNN).
template <class... Parts>
[[noreturn]] void fail_at(const std::string& name, Pos pos, Parts&&... parts) {
    fail(name, ":", pos.line, ":", pos.col, ": ", detail::printable(detail::concat(std::forward<Parts>(parts)...)));
}

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Op, Eof };

struct Token {
    Tok type;
    std::string text;  // Data: the text; String: the unescaped value; others: as written
    Pos pos;
};

namespace detail {

// Python's str.isspace() (and re's \s): what str.strip() and jinja2's whitespace control remove.
inline bool is_py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Decodes the UTF-8 character at s[i] (advancing i); invalid bytes decode as themselves.
inline char32_t next_char(std::string_view s, std::size_t& i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int n = b < 0x80 ? 0 : (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : -1;
    if (n <= 0 || i + static_cast<std::size_t>(n) >= s.size()) {
        ++i;
        return b;
    }
    char32_t c = b & (0x3f >> n);
    for (int k = 1; k <= n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += static_cast<std::size_t>(n) + 1;
    return c;
}

inline void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xc0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xe0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    }
}

inline std::u32string decode(std::string_view s) {
    std::u32string out;
    for (std::size_t i = 0; i < s.size();) out += next_char(s, i);
    return out;
}

inline std::string encode(std::u32string_view s) {
    std::string out;
    for (char32_t c : s) append_utf8(out, c);
    return out;
}

// Length of the Python-whitespace character starting at s[i], 0 if it is not one.
inline std::size_t space_at(std::string_view s, std::size_t i) {
    std::size_t j = i;
    return is_py_space(next_char(s, j)) ? j - i : 0;
}

// str.rstrip(): drops trailing Python whitespace.
inline std::string_view rstrip_py(std::string_view s) {
    std::size_t end = 0;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = space_at(s, i);
        if (n) {
            i += n;
        } else {
            next_char(s, i);
            end = i;
        }
    }
    return s.substr(0, end);
}

class Lexer {
public:
    Lexer(std::string_view source, const std::string& name) : name_(name) {
        // jinja2 turns \r\n and \r into \n, then drops one trailing newline (keep_trailing_newline=False).
        src_.reserve(source.size());
        for (std::size_t i = 0; i < source.size(); ++i) {
            if (source[i] == '\r') {
                src_ += '\n';
                if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
            } else {
                src_ += source[i];
            }
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    }

    std::vector<Token> run() {
        bool line_starting = true;  // the previous match ended with a newline (or nothing came yet)
        while (pos_ < src_.size()) {
            const std::size_t open = find_tag(pos_);
            if (open == std::string::npos) {
                emit_data(src_.substr(pos_), at(pos_));
                break;
            }
            const char kind = src_[open + 1];
            const char sign = open + 2 < src_.size() && (src_[open + 2] == '-' || src_[open + 2] == '+') ? src_[open + 2] : 0;
            std::string_view text = std::string_view(src_).substr(pos_, open - pos_);
            if (sign == '-') {
                text = rstrip_py(text);
            } else if (sign != '+' && kind != '{') {
                // lstrip_blocks: a block or comment tag preceded on its line by whitespace only.
                const std::size_t nl = text.rfind('\n');
                const std::size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
                if ((l_pos > 0 || line_starting) && l_pos < text.size() && rstrip_py(text.substr(l_pos)).empty())
                    text = text.substr(0, l_pos);
            }
            emit_data(text, at(pos_));
            const Pos tag_pos = at(open);
            pos_ = open + 2 + (sign ? 1 : 0);
            if (kind == '#')
                line_starting = comment(tag_pos);
            else
                line_starting = tag(kind == '{' ? Tok::VarBegin : Tok::BlockBegin, tag_pos);
        }
        out_.push_back({Tok::Eof, "", at(src_.size())});
        return std::move(out_);
    }

private:
    std::string src_;
    const std::string& name_;
    std::size_t pos_ = 0;
    std::vector<Token> out_;
    // Position bookkeeping: positions are asked for in increasing order.
    std::size_t mark_ = 0;
    Pos mark_pos_{};

    Pos at(std::size_t offset) {
        if (offset < mark_) mark_ = 0, mark_pos_ = {};
        while (mark_ < offset && mark_ < src_.size()) {
            const auto b = static_cast<unsigned char>(src_[mark_]);
            if (b == '\n') {
                ++mark_pos_.line;
                mark_pos_.col = 1;
            } else if ((b & 0xc0) != 0x80) {
                ++mark_pos_.col;
            }
            ++mark_;
        }
        return mark_pos_;
    }

    std::size_t find_tag(std::size_t from) const {
        for (std::size_t i = src_.find('{', from); i != std::string::npos && i + 1 < src_.size(); i = src_.find('{', i + 1))
            if (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#') return i;
        return std::string::npos;
    }

    void emit_data(std::string_view text, Pos p) {
        if (!text.empty()) out_.push_back({Tok::Data, std::string(text), p});
    }

    // After an end tag: `-` eats all whitespace, trim_blocks one newline. Returns whether the
    // consumed text ended with a newline (jinja2's line_starting).
    bool after_end(bool dash, bool trim) {
        bool nl = false;
        if (dash) {
            while (pos_ < src_.size()) {
                const std::size_t n = space_at(src_, pos_);
                if (!n) break;
                nl = src_[pos_] == '\n';
                pos_ += n;
            }
        } else if (trim && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
            nl = true;
        }
        return nl;
    }

    bool comment(Pos open) {
        const std::size_t start = pos_;
        const std::size_t close = src_.find("#}", start);
        if (close == std::string::npos) fail_at(name_, open, "unclosed comment: '{#' without '#}'");
        const char sign = close > start ? src_[close - 1] : 0;
        pos_ = close + 2;
        if (sign == '+') return false;
        return after_end(sign == '-', true);
    }

    bool tag(Tok begin, Pos open) {
        const bool block = begin == Tok::BlockBegin;
        const char close = block ? '%' : '}';
        out_.push_back({begin, "", open});
        std::vector<char> balance;
        while (true) {
            if (pos_ >= src_.size())
                fail_at(name_, open, "unclosed tag: '", block ? "{%" : "{{", "' without '", block ? "%}" : "}}", "'");
            const Pos p = at(pos_);
            if (balance.empty()) {
                const char c = src_[pos_];
                const bool dash = c == '-' || (block && c == '+');
                const std::size_t q = pos_ + (dash ? 1 : 0);
                if (q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}') {
                    out_.push_back({block ? Tok::BlockEnd : Tok::VarEnd, "", p});
                    pos_ = q + 2;
                    if (c == '+') return false;
                    return after_end(c == '-', block);
                }
            }
            if (const std::size_t n = space_at(src_, pos_)) {
                pos_ += n;
                continue;
            }
            const char c = src_[pos_];
            if (c >= '0' && c <= '9') {
                number(p);
            } else if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                std::size_t e = pos_;
                while (e < src_.size() && (src_[e] == '_' || std::isalnum(static_cast<unsigned char>(src_[e])))) ++e;
                out_.push_back({Tok::Name, src_.substr(pos_, e - pos_), p});
                pos_ = e;
            } else if (c == '\'' || c == '"') {
                string(p);
            } else {
                op(p, balance);
            }
        }
    }

    void number(Pos p) {
        std::size_t e = pos_;
        auto digits = [&] {
            while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
        };
        digits();
        bool is_float = false;
        if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
            ++e;
            digits();
            is_float = true;
        }
        if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
            std::size_t f = e + 1;
            if (f < src_.size() && (src_[f] == '+' || src_[f] == '-')) ++f;
            if (f < src_.size() && std::isdigit(static_cast<unsigned char>(src_[f]))) {
                e = f;
                digits();
                is_float = true;
            }
        }
        out_.push_back({is_float ? Tok::Float : Tok::Integer, src_.substr(pos_, e - pos_), p});
        pos_ = e;
    }

    // A quoted string with Python's unicode-escape rules (what jinja2 applies to string literals).
    void string(Pos p) {
        const char quote = src_[pos_];
        std::string value;
        std::size_t i = pos_ + 1;
        auto hex = [&](int n) -> char32_t {
            char32_t v = 0;
            for (int k = 0; k < n; ++k, ++i) {
                if (i >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[i])))
                    fail_at(name_, p, "bad escape in string literal");
                const char h = src_[i];
                v = v * 16 + static_cast<char32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
            }
            return v;
        };
        while (true) {
            if (i >= src_.size()) fail_at(name_, p, "unterminated string literal");
            const char c = src_[i];
            if (c == quote) break;
            if (c != '\\') {
                value += c;
                ++i;
                continue;
            }
            if (++i >= src_.size()) fail_at(name_, p, "unterminated string literal");
            const char e = src_[i++];
            switch (e) {
                case 'n': value += '\n'; break;
                case 't': value += '\t'; break;
                case 'r': value += '\r'; break;
                case '\\': value += '\\'; break;
                case '\'': value += '\''; break;
                case '"': value += '"'; break;
                case 'a': value += '\a'; break;
                case 'b': value += '\b'; break;
                case 'f': value += '\f'; break;
                case 'v': value += '\v'; break;
                case '\n': break;  // a backslash-newline continues the line
                case 'x': append_utf8(value, hex(2)); break;
                case 'u': append_utf8(value, hex(4)); break;
                case 'U': append_utf8(value, hex(8)); break;
                default:
                    if (e >= '0' && e <= '7') {
                        char32_t v = static_cast<char32_t>(e - '0');
                        for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k)
                            v = v * 8 + static_cast<char32_t>(src_[i++] - '0');
                        append_utf8(value, v);
                    } else {
                        value += '\\';  // unknown escapes stay as written
                        value += e;
                    }
            }
        }
        out_.push_back({Tok::String, std::move(value), p});
        pos_ = i + 1;
    }

    void op(Pos p, std::vector<char>& balance) {
        static constexpr std::string_view two[] = {"//", "**", "==", "!=", ">=", "<="};
        for (auto t : two)
            if (src_.compare(pos_, 2, t) == 0) {
                out_.push_back({Tok::Op, std::string(t), p});
                pos_ += 2;
                return;
            }
        const char c = src_[pos_];
        if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
            std::size_t j = pos_;
            const char32_t ch = next_char(src_, j);
            std::string shown;
            append_utf8(shown, ch);
            fail_at(name_, p, "unexpected character '", shown, "'");
        }
        if (c == '(' || c == '[' || c == '{') balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
        if (c == ')' || c == ']' || c == '}') {
            if (balance.empty() || balance.back() != c) fail_at(name_, p, "unexpected '", std::string(1, c), "'");
            balance.pop_back();
        }
        out_.push_back({Tok::Op, std::string(1, c), p});
        ++pos_;
    }
};

}  // namespace detail

// The tokens of `source`; `name` prefixes error messages.
inline std::vector<Token> lex(std::string_view source, const std::string& name) {
    return detail::Lexer(source, name).run();
}

}  // namespace tokclean::jinja
