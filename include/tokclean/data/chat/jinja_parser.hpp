#pragma once
// Tokens to syntax tree, with jinja2's grammar and precedence (parser.py): condexpr < or < and
// < not < compare < + - < ~ < * / // % < ** < unary, filters and tests binding to the unary
// operand (`a + b | trim` trims b; `not x is defined` is not (x is defined)). Filters, tests
// and statements outside the supported subset fail here, at their line and column.
#include <algorithm>
#include <charconv>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokclean/data/chat/jinja_ast.hpp"
#include "tokclean/data/chat/jinja_lexer.hpp"

namespace tokclean::jinja {

// A float literal (digits[.digits][e[+-]digits]) as Python's float() reads it: correctly rounded,
// and beyond the double range inf (1e400) or 0.0 (1e-400) rather than an error.
inline double parse_float_literal(std::string_view text) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size()) return value;
    if (ec != std::errc::result_out_of_range) throw std::invalid_argument("float literal " + std::string(text));
    // Out of range: the decimal exponent of the leading nonzero digit says which way.
    const std::size_t epos = text.find_first_of("eE");
    const std::string_view mantissa = text.substr(0, epos);
    long long exponent = 0;
    if (epos != std::string_view::npos) {
        std::size_t k = epos + 1;
        const bool negative = text[k] == '-';
        if (text[k] == '+' || text[k] == '-') ++k;
        for (; k < text.size(); ++k) exponent = std::min<long long>(exponent * 10 + (text[k] - '0'), 1'000'000'000);
        if (negative) exponent = -exponent;
    }
    const std::size_t point = std::min(mantissa.find('.'), mantissa.size());
    const std::size_t lead = mantissa.find_first_of("123456789");
    const long long magnitude = exponent + (lead < point ? static_cast<long long>(point - lead) - 1
                                                         : -static_cast<long long>(lead - point));
    return magnitude >= 0 ? std::numeric_limits<double>::infinity() : 0.0;
}

inline const std::set<std::string, std::less<>>& supported_filters() {
    static const std::set<std::string, std::less<>> s = {
        "trim", "length", "count", "tojson", "string", "int", "upper", "lower", "join", "default", "d", "first",
        "last", "list", "replace", "capitalize", "items", "select", "reject"};
    return s;
}

inline const std::set<std::string, std::less<>>& supported_tests() {
    static const std::set<std::string, std::less<>> s = {
        "defined", "undefined", "none", "string", "number", "mapping", "iterable", "sequence", "boolean",
        "true", "false", "equalto", "eq", "==", "ne", "!="};
    return s;
}

class Parser {
public:
    Parser(std::vector<Token> tokens, const std::string& name) : t_(std::move(tokens)), name_(name) {}

    Body parse_template() {
        std::string stop;
        Body body = parse_body({}, stop, {});
        return body;
    }

private:
    std::vector<Token> t_;
    const std::string& name_;
    std::size_t i_ = 0;
    int depth_ = 0;

    // Nesting of blocks and expressions is bounded (jinja2 stops at Python's recursion limit),
    // so that neither parsing nor rendering can exhaust the stack.
    static constexpr int max_depth = 200;
    struct Nested {
        Parser& p;
        explicit Nested(Parser& parser) : p(parser) {
            if (++p.depth_ > max_depth) fail_at(p.name_, p.cur().pos, "nested deeper than ", max_depth, " levels");
        }
        ~Nested() { --p.depth_; }
        Nested(const Nested&) = delete;
        Nested& operator=(const Nested&) = delete;
    };

    const Token& cur() const { return t_[i_]; }
    const Token& peek(std::size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
    Token next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
    bool is_op(std::string_view op) const { return cur().type == Tok::Op && cur().text == op; }
    bool is_name(std::string_view n) const { return cur().type == Tok::Name && cur().text == n; }

    [[noreturn]] void unexpected(const char* expected) const {
        const Token& t = cur();
        std::string what = t.type == Tok::Eof ? "end of template"
                           : t.type == Tok::BlockEnd || t.type == Tok::VarEnd ? "end of tag"
                           : t.type == Tok::String ? "string literal"
                                                   : "'" + t.text + "'";
        fail_at(name_, t.pos, "expected ", expected, ", got ", what);
    }
    void expect_op(std::string_view op) {
        if (!is_op(op)) unexpected(("'" + std::string(op) + "'").c_str());
        next();
    }
    std::string expect_name() {
        if (cur().type != Tok::Name) unexpected("a name");
        return next().text;
    }
    void expect_block_end() {
        if (cur().type != Tok::BlockEnd) unexpected("end of statement '%}'");
        next();
    }

    // Statements until a block tag whose name is in `stops` (consumed; its name in `stop`).
    // At the top level (no stops) it runs to the end of the template.
    Body parse_body(const std::vector<std::string>& stops, std::string& stop, Pos opened, const char* opener = "") {
        const Nested nested(*this);
        Body body;
        while (true) {
            const Token& t = cur();
            if (t.type == Tok::Eof) {
                if (!stops.empty()) fail_at(name_, opened, "unclosed block '", opener, "': no '{% ", stops.back(), " %}'");
                return body;
            }
            if (t.type == Tok::Data) {
                Stmt s(Stmt::Kind::Data, t.pos);
                s.text = t.text;
                body.push_back(std::move(s));
                next();
            } else if (t.type == Tok::VarBegin) {
                next();
                Stmt s(Stmt::Kind::Output, t.pos);
                s.expr = parse_expression();
                if (cur().type != Tok::VarEnd) unexpected("end of expression '}}'");
                next();
                body.push_back(std::move(s));
            } else {  // BlockBegin
                const Pos tag = next().pos;
                const Token kw = cur();
                if (kw.type != Tok::Name) unexpected("a statement name");
                for (const auto& s : stops)
                    if (kw.text == s) {
                        next();
                        stop = s;
                        return body;
                    }
                const bool closer = kw.text == "elif" || kw.text == "else" || kw.text.rfind("end", 0) == 0;
                if (closer && !stops.empty())
                    fail_at(name_, kw.pos, "unexpected '", kw.text, "': the innermost open block is '", opener,
                            "' (opened at ", opened.line, ":", opened.col, ", closed by '{% ", stops.back(), " %}')");
                body.push_back(parse_statement(kw, tag));
            }
        }
    }

    // `tag` is where the statement's '{%' is: unclosed blocks are reported there.
    Stmt parse_statement(const Token& kw, Pos tag) {
        const std::string& k = kw.text;
        if (k == "if") return parse_if(kw, tag);
        if (k == "for") return parse_for(kw, tag);
        if (k == "set") return parse_set(kw);
        if (k == "break" || k == "continue") {
            next();
            expect_block_end();
            return Stmt(k == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, kw.pos);
        }
        if (k == "elif" || k == "else" || k.rfind("end", 0) == 0)
            fail_at(name_, kw.pos, "unexpected '", k, "': no open block it closes");
        fail_at(name_, kw.pos, "unsupported statement '", k, "'");
    }

    Stmt parse_if(const Token& kw, Pos tag) {
        next();
        Stmt s(Stmt::Kind::If, kw.pos);
        ExprPtr cond = parse_expression();
        expect_block_end();
        while (true) {
            std::string stop;
            Body body = parse_body({"elif", "else", "endif"}, stop, tag, "if");
            s.branches.emplace_back(std::move(cond), std::move(body));
            if (stop == "elif") {
                cond = parse_expression();
                expect_block_end();
                continue;
            }
            expect_block_end();
            if (stop == "else") {
                s.else_body = parse_body({"endif"}, stop, tag, "if");
                expect_block_end();
            }
            return s;
        }
    }

    std::vector<std::string> parse_targets() {
        std::vector<std::string> names;
        const bool paren = is_op("(");
        if (paren) next();
        names.push_back(expect_name());
        while (is_op(",")) {
            next();
            if (cur().type != Tok::Name) break;  // a trailing comma
            names.push_back(expect_name());
        }
        if (paren) expect_op(")");
        return names;
    }

    Stmt parse_for(const Token& kw, Pos tag) {
        next();
        Stmt s(Stmt::Kind::For, kw.pos);
        s.targets = parse_targets();
        if (!is_name("in")) unexpected("'in'");
        next();
        s.expr = parse_or();
        if (is_name("if")) fail_at(name_, cur().pos, "unsupported: loop filter 'for ... if'");
        if (is_name("recursive")) fail_at(name_, cur().pos, "unsupported: recursive loops");
        expect_block_end();
        std::string stop;
        s.body = parse_body({"else", "endfor"}, stop, tag, "for");
        expect_block_end();
        if (stop == "else") {
            s.else_body = parse_body({"endfor"}, stop, tag, "for");
            expect_block_end();
        }
        return s;
    }

    Stmt parse_set(const Token& kw) {
        next();
        if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == ".") {
            Stmt s(Stmt::Kind::SetAttr, kw.pos);
            s.targets.push_back(next().text);
            next();
            s.targets.push_back(expect_name());
            expect_op("=");
            s.expr = parse_expression();
            expect_block_end();
            return s;
        }
        Stmt s(Stmt::Kind::Set, kw.pos);
        s.targets = parse_targets();
        if (cur().type == Tok::BlockEnd) fail_at(name_, kw.pos, "unsupported: block assignment '{% set x %}...{% endset %}'");
        expect_op("=");
        s.expr = parse_expression();
        expect_block_end();
        return s;
    }

    // --- expressions ---------------------------------------------------------------------

    ExprPtr make(Expr::Kind k, Pos p) { return std::make_unique<Expr>(k, p); }

    ExprPtr parse_expression() {
        const Nested nested(*this);
        ExprPtr e = parse_or();
        while (is_name("if")) {
            const Pos p = next().pos;
            auto c = make(Expr::Kind::Cond, p);
            c->args.push_back(std::move(e));
            c->args.push_back(parse_or());
            if (is_name("else")) {
                next();
                c->args.push_back(parse_expression());
            } else {
                c->args.push_back(nullptr);
            }
            e = std::move(c);
        }
        return e;
    }

    ExprPtr binary(Expr::Kind k, Pos p, ExprPtr a, ExprPtr b, std::string op = {}) {
        auto e = make(k, p);
        e->name = std::move(op);
        e->args.push_back(std::move(a));
        e->args.push_back(std::move(b));
        return e;
    }

    ExprPtr parse_or() {
        ExprPtr e = parse_and();
        while (is_name("or")) {
            const Pos p = next().pos;
            e = binary(Expr::Kind::Or, p, std::move(e), parse_and());
        }
        return e;
    }
    ExprPtr parse_and() {
        ExprPtr e = parse_not();
        while (is_name("and")) {
            const Pos p = next().pos;
            e = binary(Expr::Kind::And, p, std::move(e), parse_not());
        }
        return e;
    }
    ExprPtr parse_not() {
        if (is_name("not")) {
            const Pos p = next().pos;
            auto e = make(Expr::Kind::Not, p);
            e->args.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }
    ExprPtr parse_compare() {
        const Pos p = cur().pos;
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        while (true) {
            std::string op;
            if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                          cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
                op = next().text;
            } else if (is_name("in")) {
                next();
                op = "in";
            } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
                next();
                next();
                op = "not in";
            } else {
                break;
            }
            if (!cmp) {
                cmp = make(Expr::Kind::Compare, p);
                cmp->args.push_back(std::move(first));
            }
            cmp->ops.push_back(op);
            cmp->args.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(first);
    }
    ExprPtr parse_math1() {
        ExprPtr e = parse_concat();
        while (is_op("+") || is_op("-")) {
            const Token t = next();
            e = binary(Expr::Kind::Binary, t.pos, std::move(e), parse_concat(), t.text);
        }
        return e;
    }
    ExprPtr parse_concat() {
        ExprPtr e = parse_math2();
        while (is_op("~")) {
            const Token t = next();
            e = binary(Expr::Kind::Binary, t.pos, std::move(e), parse_math2(), "~");
        }
        return e;
    }
    ExprPtr parse_math2() {
        ExprPtr e = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const Token t = next();
            e = binary(Expr::Kind::Binary, t.pos, std::move(e), parse_pow(), t.text);
        }
        return e;
    }
    ExprPtr parse_pow() {
        ExprPtr e = parse_unary();
        while (is_op("**")) {
            const Token t = next();
            e = binary(Expr::Kind::Binary, t.pos, std::move(e), parse_unary(), "**");
        }
        return e;
    }
    ExprPtr parse_unary(bool with_filter = true) {
        const Nested nested(*this);
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            const Token t = next();
            e = make(t.text == "-" ? Expr::Kind::Neg : Expr::Kind::Pos, t.pos);
            e->args.push_back(parse_unary(false));
        } else {
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        if (with_filter) e = parse_filter_expr(std::move(e));
        return e;
    }

    ExprPtr parse_primary() {
        const Token t = cur();
        switch (t.type) {
            case Tok::Name: {
                next();
                auto e = make(Expr::Kind::Literal, t.pos);
                if (t.text == "true" || t.text == "True") e->literal = true;
                else if (t.text == "false" || t.text == "False") e->literal = false;
                else if (t.text == "none" || t.text == "None") e->literal = nullptr;
                else {
                    e->kind = Expr::Kind::Name;
                    e->name = t.text;
                }
                return e;
            }
            case Tok::String: {
                std::string v;
                while (cur().type == Tok::String) v += next().text;  // adjacent literals concatenate
                auto e = make(Expr::Kind::Literal, t.pos);
                e->literal = v;
                return e;
            }
            case Tok::Integer: {
                next();
                auto e = make(Expr::Kind::Literal, t.pos);
                try {
                    e->literal = static_cast<std::int64_t>(std::stoll(t.text));
                } catch (const std::exception&) {
                    fail_at(name_, t.pos, "unsupported: integer literal out of range");
                }
                return e;
            }
            case Tok::Float: {
                next();
                auto e = make(Expr::Kind::Literal, t.pos);
                e->literal = parse_float_literal(t.text);
                return e;
            }
            case Tok::Op:
                if (t.text == "(") {
                    next();
                    auto tup = make(Expr::Kind::Tuple, t.pos);
                    bool comma = false;
                    while (!is_op(")")) {
                        if (!tup->args.empty()) {
                            expect_op(",");
                            comma = true;
                            if (is_op(")")) break;
                        }
                        tup->args.push_back(parse_expression());
                    }
                    next();
                    if (tup->args.size() == 1 && !comma) return std::move(tup->args[0]);
                    return tup;
                }
                if (t.text == "[") {
                    next();
                    auto list = make(Expr::Kind::List, t.pos);
                    while (!is_op("]")) {
                        if (!list->args.empty()) {
                            expect_op(",");
                            if (is_op("]")) break;
                        }
                        list->args.push_back(parse_expression());
                    }
                    next();
                    return list;
                }
                if (t.text == "{") {
                    next();
                    auto dict = make(Expr::Kind::Dict, t.pos);
                    while (!is_op("}")) {
                        if (!dict->args.empty()) {
                            expect_op(",");
                            if (is_op("}")) break;
                        }
                        dict->keys.push_back(parse_expression());
                        expect_op(":");
                        dict->args.push_back(parse_expression());
                    }
                    next();
                    return dict;
                }
                break;
            default:
                break;
        }
        unexpected("an expression");
    }

    ExprPtr parse_postfix(ExprPtr e) {
        while (true) {
            if (is_op(".")) {
                const Pos p = next().pos;
                if (cur().type == Tok::Name) {
                    auto g = make(Expr::Kind::GetAttr, p);
                    g->name = next().text;
                    g->args.push_back(std::move(e));
                    e = std::move(g);
                } else if (cur().type == Tok::Integer) {
                    auto idx = make(Expr::Kind::Literal, cur().pos);
                    const Token t = next();
                    try {
                        idx->literal = static_cast<std::int64_t>(std::stoll(t.text));
                    } catch (const std::exception&) {
                        fail_at(name_, t.pos, "unsupported: integer literal out of range");
                    }
                    e = binary(Expr::Kind::GetItem, p, std::move(e), std::move(idx));
                } else {
                    unexpected("a name or number after '.'");
                }
            } else if (is_op("[")) {
                const Pos p = next().pos;
                ExprPtr sub = parse_subscript(p);
                expect_op("]");
                e = binary(Expr::Kind::GetItem, p, std::move(e), std::move(sub));
            } else if (is_op("(")) {
                e = parse_call(std::move(e), Expr::Kind::Call, cur().pos);
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_subscript(Pos p) {
        ExprPtr parts[3];
        int n = 0;
        bool slice = false;
        while (true) {
            if (!is_op(":") && !is_op("]")) parts[n] = parse_expression();
            if (is_op(":") && n < 2) {
                next();
                slice = true;
                ++n;
                continue;
            }
            break;
        }
        if (is_op(",")) fail_at(name_, cur().pos, "unsupported: tuple subscripts");
        if (!slice) {
            if (!parts[0]) unexpected("a subscript");
            return std::move(parts[0]);
        }
        auto s = make(Expr::Kind::Slice, p);
        for (auto& part : parts) s->args.push_back(std::move(part));
        return s;
    }

    // `(` args `)` after e (a call), or after a filter / test name (e is the operand).
    ExprPtr parse_call(ExprPtr e, Expr::Kind kind, Pos p, std::string name = {}) {
        auto c = make(kind, p);
        c->name = std::move(name);
        c->args.push_back(std::move(e));
        if (!is_op("(")) return c;
        next();
        bool first = true;
        while (!is_op(")")) {
            if (!first) {
                expect_op(",");
                if (is_op(")")) break;
            }
            first = false;
            if (is_op("*") || is_op("**")) fail_at(name_, cur().pos, "unsupported: *args / **kwargs in calls");
            if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
                std::string key = next().text;
                next();
                c->kwargs.emplace_back(std::move(key), parse_expression());
            } else {
                if (!c->kwargs.empty()) fail_at(name_, cur().pos, "positional argument after keyword argument");
                c->args.push_back(parse_expression());
            }
        }
        next();
        return c;
    }

    ExprPtr parse_filter_expr(ExprPtr e) {
        while (true) {
            if (is_op("|")) {
                next();
                const Token n = cur();
                std::string name = expect_name();
                while (is_op(".")) {
                    next();
                    name += '.';
                    name += expect_name();  // (not "." + name: GCC 12 warns falsely of an overlapping copy)
                }
                if (!supported_filters().contains(name)) fail_at(name_, n.pos, "unsupported filter '", name, "'");
                e = parse_call(std::move(e), Expr::Kind::Filter, n.pos, name);
            } else if (is_name("is")) {
                next();
                bool negated = false;
                if (is_name("not")) {
                    next();
                    negated = true;
                }
                const Token n = cur();
                std::string name;
                if (n.type == Tok::Name) name = next().text;
                else if (n.type == Tok::Op && (n.text == "==" || n.text == "!=")) name = next().text;
                else unexpected("a test name");
                if (!supported_tests().contains(name)) fail_at(name_, n.pos, "unsupported test '", name, "'");
                if (is_op("(")) {
                    e = parse_call(std::move(e), Expr::Kind::Test, n.pos, name);
                } else {
                    auto t = make(Expr::Kind::Test, n.pos);
                    t->name = name;
                    t->args.push_back(std::move(e));
                    const Token& a = cur();
                    const bool arg = (a.type == Tok::Name && a.text != "else" && a.text != "or" && a.text != "and") ||
                                     a.type == Tok::String || a.type == Tok::Integer || a.type == Tok::Float ||
                                     (a.type == Tok::Op && (a.text == "(" || a.text == "[" || a.text == "{"));
                    if (arg) {
                        if (is_name("is")) fail_at(name_, a.pos, "cannot chain tests with 'is'");
                        t->args.push_back(parse_postfix(parse_primary()));
                    }
                    e = std::move(t);
                }
                e->negated = negated;
            } else if (is_op("(")) {
                e = parse_call(std::move(e), Expr::Kind::Call, cur().pos);
            } else {
                return e;
            }
        }
    }
};

}  // namespace tokclean::jinja
