#pragma once
// The regular expressions of tokenizer.json's Split pre-tokenizers (Llama-3's, Qwen2/3's and
// their kind), matched as Hugging Face tokenizers matches them (Oniguruma: leftmost-first
// alternation, greedy quantifiers, backtracking) on UTF-8 text, one code point at a time.
//
// Supported: literals and escapes (\r \n \t \f \v \0 \xNN \x{N..} \uNNNN, escaped
// punctuation), '.', classes [...] and [^...] with ranges, \p{L} \p{N} \P{L} \P{N} \s \S
// (also inside classes); groups (...), (?:...), (?i:...) and (?i) (ASCII letters fold, and
// also 's' with U+017F and 'k' with U+212A, as Unicode's simple case folding does); the
// quantifiers ? * + {m} {m,} {m,n} and their lazy forms; lookahead (?=...) and (?!...).
// Anything else (\d and \w, whose Unicode meaning needs other tables, other \p{..} classes,
// lookbehind, anchors, backreferences, atomic groups, possessive quantifiers, a non-ASCII
// letter under (?i)) is refused with an error naming the pattern offset, never matched
// differently.
//   - \s is Unicode's White_Space property, as in Oniguruma (JavaScript's \s, which the
//     GPT-2 pre-tokenizer uses, differs by U+0085 and U+FEFF); \p{L} is category L, \p{N}
//     category N (data/detail/unicode_tables.hpp, Unicode 14.0.0).
//   - A byte that does not begin well-formed UTF-8 is one code point that is in no class and
//     equals no literal (so [^...] matches it).
//   - Matching time: linear in the text for these patterns (each alternative backtracks over
//     at most one run). A pattern with nested ambiguous repeats could take exponential time,
//     as in any backtracking engine: a match that takes more than max_steps steps is an error,
//     as are groups nested deeper than max_depth and programs longer than max_program.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokclean/core/error.hpp"
#include "tokclean/data/detail/unicode_tables.hpp"
#include "tokclean/io/utf8.hpp"

namespace tokclean::hf {

namespace detail::regex {

using tokclean::detail::invalid_code_point;
namespace unicode = tokclean::detail::unicode;

}  // namespace detail::regex

// Unicode's White_Space: Oniguruma's \s and Rust's char::is_whitespace. (The table's space
// class is JavaScript's \s: White_Space less U+0085, plus U+FEFF.)
inline bool is_white_space(char32_t c) {
    if (c == 0x85) return true;
    if (c == 0xFEFF || c == tokclean::detail::invalid_code_point) return false;
    return tokclean::detail::unicode::char_class(c) == tokclean::detail::unicode::CharClass::space;
}

namespace detail::regex {

// A set of code points: explicit ranges plus the named classes, possibly negated.
struct CharSet {
    std::vector<unicode::CodeRange> ranges;  // sorted and merged by finish()
    bool letter = false, number = false, space = false;           // \p{L} \p{N} \s
    bool not_letter = false, not_number = false, not_space = false;  // \P{L} \P{N} \S
    bool negated = false;
    std::uint64_t ascii[2] = {0, 0};  // membership of U+0000..U+007F, precomputed

    bool contains_slow(char32_t c) const {
        bool in = false;
        if (c != invalid_code_point) {
            const auto cls = unicode::char_class(c);
            const bool white = is_white_space(c);
            in = (letter && cls == unicode::CharClass::letter) || (number && cls == unicode::CharClass::number) ||
                 (space && white) || (not_letter && cls != unicode::CharClass::letter) ||
                 (not_number && cls != unicode::CharClass::number) || (not_space && !white);
            if (!in) {
                auto it = std::lower_bound(ranges.begin(), ranges.end(), c,
                                           [](const unicode::CodeRange& r, char32_t x) { return r.last < x; });
                in = it != ranges.end() && it->first <= c;
            }
        }
        return in != negated;
    }
    bool contains(char32_t c) const {
        if (c < 128) return (ascii[c >> 6] >> (c & 63)) & 1;
        return contains_slow(c);
    }
    void finish() {
        std::sort(ranges.begin(), ranges.end(), [](auto& a, auto& b) { return a.first < b.first; });
        std::vector<unicode::CodeRange> merged;
        for (const auto& r : ranges) {
            if (!merged.empty() && r.first <= merged.back().last + 1) merged.back().last = std::max(merged.back().last, r.last);
            else merged.push_back(r);
        }
        ranges = std::move(merged);
        ascii[0] = ascii[1] = 0;
        for (char32_t c = 0; c < 128; ++c)
            if (contains_slow(c)) ascii[c >> 6] |= std::uint64_t{1} << (c & 63);
    }
};

// The program of a backtracking matcher (as in Thompson's and Pike's constructions): `split`
// tries `x` first and comes back to `y` on failure, which gives leftmost-first alternation
// and greedy (or, with x and y swapped, lazy) repetition.
struct Inst {
    enum Op : std::uint8_t { set, split, jump, look, match } op;
    std::int32_t x = 0, y = 0;  // set: the CharSet's index; split: the two targets; jump: x;
                                // look: x = the sub-program's first instruction, y = 1 if negative
};

// The pattern's syntax tree, built by Parser and compiled into Insts.
struct Node {
    enum Kind : std::uint8_t { set, concat, alternation, repeat, look } kind;
    explicit Node(Kind k) : kind(k) {}
    std::int32_t set_index = -1;        // set
    std::vector<Node> children;          // concat, alternation; repeat and look: one
    int min = 0, max = -1;               // repeat: max -1 = unbounded
    bool greedy = true;                  // repeat
    bool negative = false;               // look
};

class Parser {
public:
    Parser(std::string_view pattern, const std::string& where, std::vector<CharSet>& sets)
        : p_(pattern), where_(where), sets_(sets) {}

    Node parse() {
        Node n = alternation();
        if (i_ < p_.size()) refuse("unbalanced ')'");
        return n;
    }

private:
    [[noreturn]] void refuse(std::string_view what, std::size_t at = std::string_view::npos) const {
        fail(where_, ": at offset ", at == std::string_view::npos ? i_ : at, " of the pattern: ", tokclean::detail::printable(what),
             " (tokclean's regex subset: see data/hf/regex.hpp)");
    }
    bool more() const { return i_ < p_.size(); }
    char peek() const { return p_[i_]; }
    bool eat(char c) {
        if (more() && p_[i_] == c) return ++i_, true;
        return false;
    }
    char32_t next_code_point() {
        std::size_t len = 0;
        const char32_t c = tokclean::detail::decode_utf8(p_, i_, len);
        if (c == invalid_code_point) refuse("invalid UTF-8");
        i_ += len;
        return c;
    }

    Node alternation() {
        Node first = concatenation();
        if (!more() || peek() != '|') return first;
        Node alt{Node::alternation};
        alt.children.push_back(std::move(first));
        while (eat('|')) alt.children.push_back(concatenation());
        return alt;
    }

    Node concatenation() {
        Node cat{Node::concat};
        while (more() && peek() != '|' && peek() != ')') {
            if (eat('(')) {
                if (++depth_ > max_depth) refuse("groups nested deeper than " + std::to_string(max_depth));
                if (eat('?')) {
                    if (eat(':')) cat.children.push_back(group_body());
                    else if (eat('=')) cat.children.push_back(look_body(false));
                    else if (eat('!')) cat.children.push_back(look_body(true));
                    else if (eat('i')) {
                        if (eat(':')) {
                            const bool was = fold_;
                            fold_ = true;
                            cat.children.push_back(group_body());
                            fold_ = was;
                        } else if (eat(')')) {
                            --depth_;      // a flag, not a group
                            fold_ = true;  // to the end of the enclosing group
                            continue;      // nothing to quantify
                        } else {
                            refuse("unsupported group flags");
                        }
                    } else {
                        refuse("unsupported group kind (lookbehind, atomic, named or flag group)");
                    }
                } else {
                    cat.children.push_back(group_body());
                }
            } else {
                cat.children.push_back(atom());
            }
            quantify(cat.children.back());
        }
        return cat;
    }

    Node group_body() {
        const bool fold_before = fold_;
        Node inner = alternation();
        fold_ = fold_before;  // (?i) inside a group ends with it
        if (!eat(')')) refuse("missing ')'");
        --depth_;
        return inner;
    }

    Node look_body(bool negative) {
        Node look{Node::look};
        look.negative = negative;
        look.children.push_back(group_body());
        return look;
    }

    void quantify(Node& target) {
        if (!more()) return;
        int min = 0, max = -1;
        const std::size_t at = i_;
        if (eat('?')) max = 1;
        else if (eat('*')) {}
        else if (eat('+')) min = 1;
        else if (peek() == '{' && counted(min, max)) {}
        else return;
        if (target.kind == Node::look) refuse("a quantified lookahead", at);
        bool greedy = true;
        if (eat('?')) greedy = false;
        else if (more() && peek() == '+') refuse("possessive quantifiers");
        if (max == -1 && can_be_empty(target)) refuse("an unbounded repeat of something that can match nothing", at);
        Node rep{Node::repeat};
        rep.min = min;
        rep.max = max;
        rep.greedy = greedy;
        rep.children.push_back(std::move(target));
        target = std::move(rep);
    }

    // {m}, {m,}, {m,n}; false (nothing eaten) if '{' does not start one, as in Oniguruma,
    // where such a '{' is a literal.
    bool counted(int& min, int& max) {
        std::size_t j = i_ + 1;
        auto number = [&](int& out) {
            const std::size_t start = j;
            long v = 0;
            while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9' && v < 100000) v = v * 10 + (p_[j++] - '0');
            out = static_cast<int>(v);
            return j > start;
        };
        int lo = 0, hi = 0;
        if (!number(lo)) return false;
        if (j < p_.size() && p_[j] == '}') {
            hi = lo;
        } else if (j < p_.size() && p_[j] == ',') {
            ++j;
            if (!number(hi)) hi = -1;
            if (j >= p_.size() || p_[j] != '}') return false;
        } else {
            return false;
        }
        if (hi != -1 && hi < lo) refuse("a {m,n} with n < m");
        if (lo > 1000 || hi > 1000) refuse("a repeat count above 1000");
        i_ = j + 1;
        min = lo;
        max = hi;
        return true;
    }

    bool can_be_empty(const Node& n) const {
        switch (n.kind) {
            case Node::set: return false;
            case Node::look: return true;
            case Node::repeat: return n.min == 0 || can_be_empty(n.children[0]);
            case Node::concat:
                return std::all_of(n.children.begin(), n.children.end(), [&](const Node& c) { return can_be_empty(c); });
            case Node::alternation:
                return std::any_of(n.children.begin(), n.children.end(), [&](const Node& c) { return can_be_empty(c); });
        }
        return true;
    }

    Node set_node(CharSet s) {
        s.finish();
        sets_.push_back(std::move(s));
        Node n{Node::set};
        n.set_index = static_cast<std::int32_t>(sets_.size() - 1);
        return n;
    }

    // The code point c as a member of a set, with its case partners under (?i).
    void add_literal(CharSet& s, char32_t c, std::size_t at) {
        s.ranges.push_back({c, c});
        if (!fold_) return;
        if (c >= 0x80) refuse("a non-ASCII letter under (?i)", at);
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            s.ranges.push_back({c ^ 0x20, c ^ 0x20});
            if ((c | 0x20) == 's') s.ranges.push_back({0x17F, 0x17F});   // LATIN SMALL LETTER LONG S
            if ((c | 0x20) == 'k') s.ranges.push_back({0x212A, 0x212A});  // KELVIN SIGN
        }
    }

    Node atom() {
        const std::size_t at = i_;
        const char c = peek();
        if (c == '[') return set_node(bracket());
        if (c == '.') {
            ++i_;
            CharSet s;
            s.negated = true;
            s.ranges.push_back({U'\n', U'\n'});
            return set_node(std::move(s));
        }
        if (c == '^' || c == '$') refuse("anchors");
        if (c == '*' || c == '+' || c == '?') refuse("a quantifier with nothing to repeat");
        CharSet s;
        if (c == '\\') {
            ++i_;
            escape(s, false, at);
        } else {
            add_literal(s, next_code_point(), at);
        }
        return set_node(std::move(s));
    }

    // After a backslash: a class (\s \S \p{L} ...) or a single code point, into s. Returns
    // the code point, or invalid_code_point for a class.
    char32_t escape(CharSet& s, bool in_bracket, std::size_t at) {
        if (!more()) refuse("a trailing backslash");
        const char e = p_[i_++];
        auto hex = [&](std::size_t digits_max, bool braced) {
            char32_t v = 0;
            std::size_t n = 0;
            while (more() && n < digits_max && std::isxdigit(static_cast<unsigned char>(peek()))) {
                const char h = p_[i_++];
                v = v * 16 + static_cast<char32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                ++n;
            }
            if (n == 0 || (braced && !eat('}'))) refuse("a malformed hexadecimal escape", at);
            if (v > 0x10FFFF) refuse("a code point above U+10FFFF", at);
            return v;
        };
        char32_t cp = invalid_code_point;
        switch (e) {
            case 's': s.space = true; return cp;
            case 'S': s.not_space = true; return cp;
            case 'p':
            case 'P': {
                if (!eat('{')) refuse("\\p without {...}", at);
                const std::size_t end = p_.find('}', i_);
                if (end == std::string_view::npos) refuse("an unterminated \\p{...}", at);
                const std::string_view name = p_.substr(i_, end - i_);
                i_ = end + 1;
                const bool neg = e == 'P';
                if (name == "L" || name == "Letter") (neg ? s.not_letter : s.letter) = true;
                else if (name == "N" || name == "Number") (neg ? s.not_number : s.number) = true;
                else refuse("the Unicode class \\p{" + std::string(name) + "} (only \\p{L} and \\p{N})", at);
                return cp;
            }
            case 'r': cp = U'\r'; break;
            case 'n': cp = U'\n'; break;
            case 't': cp = U'\t'; break;
            case 'f': cp = U'\f'; break;
            case 'v': cp = U'\v'; break;
            case '0': cp = 0; break;
            case 'x': cp = eat('{') ? hex(8, true) : hex(2, false); break;
            case 'u': cp = hex(4, false); break;
            default:
                if (std::isalnum(static_cast<unsigned char>(e)))
                    refuse(std::string("the escape \\") + e + (e == 'd' || e == 'w' || e == 'D' || e == 'W'
                                                               ? " (its Unicode meaning is not in tokclean's tables)"
                                                               : ""),
                           at);
                if (static_cast<unsigned char>(e) >= 0x80) refuse("a backslash before a non-ASCII character", at);
                cp = static_cast<unsigned char>(e);
        }
        (void)in_bracket;
        add_literal(s, cp, at);
        return cp;
    }

    CharSet bracket() {
        const std::size_t open = i_;
        ++i_;  // '['
        CharSet s;
        if (eat('^')) s.negated = true;
        bool first = true;
        while (true) {
            if (!more()) refuse("an unterminated '['", open);
            if (peek() == ']' && !first) {
                ++i_;
                break;
            }
            first = false;
            const std::size_t at = i_;
            if (peek() == '[') refuse("nested classes and POSIX brackets");
            if (p_.compare(i_, 2, "&&") == 0) refuse("class intersection '&&'");
            char32_t lo;
            if (eat('\\')) {
                lo = escape(s, true, at);
                if (lo == invalid_code_point) continue;  // a class: no range from it
            } else {
                lo = next_code_point();
                add_literal(s, lo, at);
            }
            if (more() && peek() == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
                ++i_;
                const std::size_t hi_at = i_;
                char32_t hi;
                if (eat('\\')) {
                    CharSet scratch;
                    hi = escape(scratch, true, hi_at);
                    if (hi == invalid_code_point) refuse("a range ending in a class", hi_at);
                } else {
                    hi = next_code_point();
                }
                if (hi < lo) refuse("a range out of order", at);
                if (fold_ && (lo < 0x80 || hi < 0x80) && hi != lo) refuse("a letter range under (?i)", at);
                s.ranges.push_back({lo, hi});
            }
        }
        return s;
    }

    std::string_view p_;
    const std::string& where_;
    std::vector<CharSet>& sets_;
    std::size_t i_ = 0;
    bool fold_ = false;
    int depth_ = 0;

public:
    static constexpr int max_depth = 100;
};

}  // namespace detail::regex

class Regex {
public:
    static constexpr std::size_t max_program = std::size_t{1} << 20;   // instructions
    static constexpr std::size_t max_steps = std::size_t{1} << 26;     // per match attempt

    // `where` prefixes every error: e.g. "tokenizer.json: field 'pre_tokenizer.pattern.Regex'".
    explicit Regex(std::string_view pattern, const std::string& where = "regex") : source_(pattern), where_(where) {
        detail::regex::Parser parser(pattern, where, sets_);
        const detail::regex::Node root = parser.parse();
        start_ = compile_program(root);
    }

    const std::string& source() const { return source_; }

    // The end (byte offset) of the leftmost-first match that starts at `at`, or npos.
    std::size_t match_at(std::string_view text, std::size_t at) const { return run(text, at, start_); }

    // Calls on_match(begin, end) for each successive non-overlapping match, leftmost first,
    // as Oniguruma's search does; empty matches are skipped (the search moves one code
    // point on), as tokenizers' Split drops empty pieces.
    template <class OnMatch>
    void for_each_match(std::string_view text, OnMatch&& on_match) const {
        std::size_t i = 0;
        while (i < text.size()) {
            const std::size_t end = run(text, i, start_);
            if (end != npos && end > i) {
                on_match(i, end);
                i = end;
            } else {
                std::size_t len = 0;
                (void)tokclean::detail::decode_utf8(text, i, len);
                i += len;
            }
        }
    }

    static constexpr std::size_t npos = std::string_view::npos;

private:
    using Inst = detail::regex::Inst;
    using Node = detail::regex::Node;

    std::int32_t emit(Inst in) {
        if (prog_.size() >= max_program)
            fail(where_, ": the pattern compiles to more than ", max_program, " instructions (nested counted repeats)");
        prog_.push_back(in);
        return static_cast<std::int32_t>(prog_.size() - 1);
    }
    std::int32_t here() const { return static_cast<std::int32_t>(prog_.size()); }

    // Compiles a sub-program ending in `match`; returns its first instruction.
    std::int32_t compile_program(const Node& n) {
        // Look-ahead bodies are compiled after the program that uses them, so collect them.
        std::vector<std::pair<std::int32_t, const Node*>> looks;
        const std::int32_t first = here();
        compile(n, looks);
        emit({Inst::match});
        for (std::size_t k = 0; k < looks.size(); ++k) {  // looks may grow while compiling bodies
            const auto [at, body] = looks[k];
            const std::int32_t sub = here();
            compile(*body, looks);
            emit({Inst::match});
            prog_[at].x = sub;
        }
        return first;
    }

    void compile(const Node& n, std::vector<std::pair<std::int32_t, const Node*>>& looks) {
        switch (n.kind) {
            case Node::set: emit({Inst::set, n.set_index}); break;
            case Node::concat:
                for (const auto& c : n.children) compile(c, looks);
                break;
            case Node::alternation: {
                std::vector<std::int32_t> jumps;
                for (std::size_t k = 0; k < n.children.size(); ++k) {
                    if (k + 1 < n.children.size()) {
                        const std::int32_t sp = emit({Inst::split});
                        prog_[sp].x = here();
                        compile(n.children[k], looks);
                        jumps.push_back(emit({Inst::jump}));
                        prog_[sp].y = here();
                    } else {
                        compile(n.children[k], looks);
                    }
                }
                for (auto j : jumps) prog_[j].x = here();
                break;
            }
            case Node::repeat: {
                const Node& body = n.children[0];
                for (int k = 0; k < n.min; ++k) compile(body, looks);
                if (n.max == -1) {  // L: split(body, out); body; jump L
                    const std::int32_t sp = emit({Inst::split});
                    compile(body, looks);
                    emit({Inst::jump, sp});
                    set_split(sp, sp + 1, here(), n.greedy);
                } else {  // (max - min) nested optionals
                    std::vector<std::int32_t> splits;
                    for (int k = n.min; k < n.max; ++k) {
                        splits.push_back(emit({Inst::split}));
                        compile(body, looks);
                    }
                    for (auto sp : splits) set_split(sp, sp + 1, here(), n.greedy);
                }
                break;
            }
            case Node::look: {
                const std::int32_t at = emit({Inst::look, 0, n.negative ? 1 : 0});
                looks.emplace_back(at, &n.children[0]);
                break;
            }
        }
    }

    void set_split(std::int32_t sp, std::int32_t take, std::int32_t skip, bool greedy) {
        prog_[sp].x = greedy ? take : skip;
        prog_[sp].y = greedy ? skip : take;
    }

    // Backtracking from (pc, at): the end of the first match in priority order, or npos.
    std::size_t run(std::string_view text, std::size_t at, std::int32_t pc) const {
        struct Thread {
            std::int32_t pc;
            std::size_t pos;
        };
        thread_local std::vector<Thread> stack;
        const std::size_t base = stack.size();  // lookaheads run nested on the same stack
        stack.push_back({pc, at});
        std::size_t result = npos;
        std::size_t steps = 0;
        while (stack.size() > base) {
            Thread t = stack.back();
            stack.pop_back();
            while (true) {
                if (++steps > max_steps) {
                    stack.resize(base);
                    fail(where_, ": matching at byte ", at, " took more than ", max_steps,
                         " steps (the pattern backtracks exponentially on this text)");
                }
                const Inst& in = prog_[t.pc];
                if (in.op == Inst::set) {
                    if (t.pos >= text.size()) break;
                    std::size_t len = 1;
                    const auto b = static_cast<unsigned char>(text[t.pos]);
                    const char32_t c = b < 0x80 ? b : tokclean::detail::decode_utf8(text, t.pos, len);
                    if (!sets_[in.x].contains(c)) break;
                    t.pos += len;
                    ++t.pc;
                } else if (in.op == Inst::split) {
                    stack.push_back({in.y, t.pos});
                    t.pc = in.x;
                } else if (in.op == Inst::jump) {
                    t.pc = in.x;
                } else if (in.op == Inst::look) {
                    const bool found = run(text, t.pos, in.x) != npos;
                    if (found == (in.y != 0)) break;
                    ++t.pc;
                } else {  // match
                    result = t.pos;
                    break;
                }
            }
            if (result != npos) break;
        }
        stack.resize(base);
        return result;
    }

    std::string source_;
    std::string where_;
    std::vector<detail::regex::CharSet> sets_;
    std::vector<Inst> prog_;
    std::int32_t start_ = 0;
};

}  // namespace tokclean::hf
