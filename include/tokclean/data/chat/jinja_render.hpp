#pragma once
// Runs a parsed template: scopes (a for body is a new scope per iteration, if is not; a namespace
// is shared), loop variables, and the filters, tests, methods and globals of the subset, each
// following what jinja2 (sandboxed, default Undefined) and Python do with the same values.
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <ctime>
#include <initializer_list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokclean/data/chat/jinja_ast.hpp"
#include "tokclean/data/chat/jinja_value.hpp"
#include "tokclean/io/utf8.hpp"  // detail::one_line

namespace tokclean::jinja {

struct RenderOptions {
    // The time strftime_now() formats (local time, as transformers' datetime.now()); unset: now.
    std::optional<std::tm> now;
};

namespace detail {

inline std::u32string strip_chars(std::u32string s, const Value* chars, bool left, bool right) {
    auto drop = [&](char32_t c) {
        if (!chars || chars->is(Value::Kind::None)) return is_py_space(c);
        if (!chars->is(Value::Kind::String)) value_fail("strip arg must be None or str");
        return decode(chars->s).find(c) != std::u32string::npos;
    };
    std::size_t b = 0, e = s.size();
    if (left) while (b < e && drop(s[b])) ++b;
    if (right) while (e > b && drop(s[e - 1])) --e;
    return s.substr(b, e - b);
}

inline std::string ascii_case(const std::string& s, const char* what, int mode /*0 lower 1 upper 2 title 3 capitalize*/) {
    for (const char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) value_fail("unsupported: ", what, " of non-ASCII text");
    std::string out = s;
    bool prev_cased = false;
    for (std::size_t k = 0; k < out.size(); ++k) {
        const char c = out[k];
        const bool alpha = std::isalpha(static_cast<unsigned char>(c));
        bool up = mode == 1 || (mode == 2 && !prev_cased) || (mode == 3 && k == 0);
        out[k] = static_cast<char>(up ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
        prev_cased = alpha;
    }
    return out;
}

inline std::string py_replace(const std::string& s, const std::string& old, const std::string& with, std::int64_t count) {
    std::string out;
    if (old.empty()) {  // Python inserts `with` at every character boundary
        const std::u32string cs = decode(s);
        std::int64_t n = 0;
        for (std::size_t k = 0; k <= cs.size(); ++k) {
            if (count < 0 || n < count) out += with, ++n;
            if (k < cs.size()) append_utf8(out, cs[k]);
        }
        return out;
    }
    std::size_t from = 0;
    std::int64_t n = 0;
    while (count < 0 || n < count) {
        const std::size_t at = s.find(old, from);
        if (at == std::string::npos) break;
        out.append(s, from, at - from);
        out += with;
        from = at + old.size();
        ++n;
    }
    out.append(s, from, std::string::npos);
    return out;
}

inline List py_split(const std::string& s, const Value* sep, std::int64_t maxsplit) {
    List out;
    if (!sep || sep->is(Value::Kind::None)) {  // runs of whitespace, no empty parts
        const std::u32string cs = decode(s);
        std::size_t k = 0;
        while (true) {
            while (k < cs.size() && is_py_space(cs[k])) ++k;
            if (k == cs.size()) break;
            if (maxsplit >= 0 && static_cast<std::int64_t>(out.size()) == maxsplit) {
                std::size_t e = cs.size();
                while (e > k && is_py_space(cs[e - 1])) --e;
                out.push_back(Value::string(encode(cs.substr(k, e - k))));
                break;
            }
            std::size_t e = k;
            while (e < cs.size() && !is_py_space(cs[e])) ++e;
            out.push_back(Value::string(encode(cs.substr(k, e - k))));
            k = e;
        }
        return out;
    }
    if (!sep->is(Value::Kind::String)) value_fail("must be str or None, not ", type_name(*sep));
    if (sep->s.empty()) value_fail("empty separator");
    std::size_t from = 0;
    while (maxsplit < 0 || static_cast<std::int64_t>(out.size()) < maxsplit) {
        const std::size_t at = s.find(sep->s, from);
        if (at == std::string::npos) break;
        out.push_back(Value::string(s.substr(from, at - from)));
        from = at + sep->s.size();
    }
    out.push_back(Value::string(s.substr(from)));
    return out;
}

// Python's slice.indices(n) walked: the selected positions.
inline std::vector<std::int64_t> slice_positions(std::int64_t n, const Value& start, const Value& stop, const Value& step) {
    auto opt = [](const Value& v) -> std::optional<std::int64_t> {
        if (v.is(Value::Kind::None) || v.is(Value::Kind::Undefined)) return std::nullopt;
        if (v.is(Value::Kind::Int) || v.is(Value::Kind::Bool)) return v.as_int();
        value_fail("slice indices must be integers or None");
    };
    const std::int64_t st = opt(step).value_or(1);
    if (st == 0) value_fail("slice step cannot be zero");
    auto clamp = [&](std::optional<std::int64_t> x, std::int64_t dflt) {
        if (!x) return dflt;
        std::int64_t v = *x;
        if (v < 0) v += n;
        if (st > 0) return std::clamp<std::int64_t>(v, 0, n);
        return std::clamp<std::int64_t>(v, -1, n - 1);
    };
    const std::int64_t b = clamp(opt(start), st > 0 ? 0 : n - 1), e = clamp(opt(stop), st > 0 ? n : -1);
    std::vector<std::int64_t> out;
    for (std::int64_t k = b; st > 0 ? k < e : k > e; k += st) out.push_back(k);
    return out;
}

inline bool is_str_method(std::string_view n) {
    static const std::vector<std::string_view> names = {
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
        "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
        "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
        "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill"};
    return std::find(names.begin(), names.end(), n) != names.end();
}
inline bool is_dict_method(std::string_view n) {
    static const std::vector<std::string_view> names = {"clear", "copy", "fromkeys", "get", "items", "keys", "pop",
                                                        "popitem", "setdefault", "update", "values"};
    return std::find(names.begin(), names.end(), n) != names.end();
}
inline bool is_list_method(std::string_view n) {
    static const std::vector<std::string_view> names = {"append", "clear", "copy", "count", "extend", "index",
                                                        "insert", "pop", "remove", "reverse", "sort"};
    return std::find(names.begin(), names.end(), n) != names.end();
}

}  // namespace detail

class Renderer {
public:
    Renderer(const std::string& name, const Dict& variables, const RenderOptions& options)
        : name_(name), vars_(variables), opt_(options) {}

    std::string run(const Body& body) {
        Scope root{{}, nullptr};
        exec(body, root);
        return std::move(out_);
    }

private:
    struct Scope {
        std::unordered_map<std::string, Value> vars;
        Scope* parent;
    };
    enum class Flow { Normal, Break, Continue };
    struct Args {  // evaluated call arguments
        List pos;
        std::vector<std::pair<std::string, Value>> kw;
    };

    const std::string& name_;
    const Dict& vars_;
    const RenderOptions& opt_;
    std::string out_;

    // --- statements ----------------------------------------------------------------------

    Flow exec(const Body& body, Scope& scope) {
        for (const Stmt& s : body) {
            switch (s.kind) {
                case Stmt::Kind::Data: out_ += s.text; break;
                case Stmt::Kind::Output: {
                    const Value v = eval(*s.expr, scope);
                    try {
                        out_ += py_str(v);
                    } catch (const ValueError& e) {
                        fail_at(name_, s.expr->pos, e.what());
                    }
                    break;
                }
                case Stmt::Kind::If: {
                    const Body* chosen = &s.else_body;
                    for (const auto& [cond, b] : s.branches)
                        if (truthy(eval(*cond, scope))) {
                            chosen = &b;
                            break;
                        }
                    if (const Flow f = exec(*chosen, scope); f != Flow::Normal) return f;
                    break;
                }
                case Stmt::Kind::For: run_for(s, scope); break;
                case Stmt::Kind::Set: assign(s.targets, eval(*s.expr, scope), scope, s.pos); break;
                case Stmt::Kind::SetAttr: {
                    Value ns = lookup(s.targets[0], scope);
                    if (!ns.is(Value::Kind::Namespace))
                        fail_at(name_, s.pos, "cannot assign attribute on non-namespace object '", s.targets[0], "'");
                    Value v = eval(*s.expr, scope);
                    bool found = false;
                    for (auto& [k, old] : *ns.dict)
                        if (k == s.targets[1]) old = v, found = true;
                    if (!found) ns.dict->emplace_back(s.targets[1], std::move(v));
                    break;
                }
                case Stmt::Kind::Break: return Flow::Break;
                case Stmt::Kind::Continue: return Flow::Continue;
            }
        }
        return Flow::Normal;
    }

    void assign(const std::vector<std::string>& targets, const Value& v, Scope& scope, Pos pos) {
        if (targets.size() == 1) {
            scope.vars[targets[0]] = v;
            return;
        }
        List items;
        try {
            items = iterate(v);
        } catch (const ValueError& e) {
            fail_at(name_, pos, e.what());
        }
        if (items.size() != targets.size())
            fail_at(name_, pos, "cannot unpack ", items.size(), " values into ", targets.size(), " names");
        for (std::size_t k = 0; k < targets.size(); ++k) scope.vars[targets[k]] = items[k];
    }

    void run_for(const Stmt& s, Scope& scope) {
        const Value seq = eval(*s.expr, scope);
        List items;
        try {
            items = iterate(seq);
        } catch (const ValueError& e) {
            fail_at(name_, s.expr->pos, e.what());
        }
        const auto n = static_cast<std::int64_t>(items.size());
        for (std::int64_t k = 0; k < n; ++k) {
            Scope inner{{}, &scope};
            Dict loop = {{"index", Value::integer(k + 1)},
                         {"index0", Value::integer(k)},
                         {"revindex", Value::integer(n - k)},
                         {"revindex0", Value::integer(n - k - 1)},
                         {"first", Value::boolean(k == 0)},
                         {"last", Value::boolean(k == n - 1)},
                         {"length", Value::integer(n)},
                         {"depth", Value::integer(1)},
                         {"depth0", Value::integer(0)}};
            loop.emplace_back("previtem", k > 0 ? items[static_cast<std::size_t>(k - 1)] : Value::undefined("there is no previous item"));
            loop.emplace_back("nextitem", k + 1 < n ? items[static_cast<std::size_t>(k + 1)] : Value::undefined("there is no next item"));
            inner.vars["loop"] = Value::make_dict(std::move(loop));
            assign(s.targets, items[static_cast<std::size_t>(k)], inner, s.pos);
            if (exec(s.body, inner) == Flow::Break) break;
        }
        if (n == 0) exec(s.else_body, scope);
    }

    // --- values --------------------------------------------------------------------------

    Value lookup(const std::string& name, const Scope& scope) const {
        for (const Scope* sc = &scope; sc; sc = sc->parent)
            if (auto it = sc->vars.find(name); it != sc->vars.end()) return it->second;
        for (const auto& [k, v] : vars_)
            if (k == name) return v;
        if (name == "raise_exception" || name == "strftime_now" || name == "namespace" || name == "range" ||
            name == "dict" || name == "lipsum" || name == "cycler" || name == "joiner")
            return Value::function(name);
        return Value::undefined("'" + name + "' is undefined");
    }

    [[noreturn]] static void undefined_error(const Value& v) { value_fail(v.s.empty() ? "undefined value" : v.s); }

    static List iterate(const Value& v) {
        switch (v.kind) {
            case Value::Kind::Undefined: return {};
            case Value::Kind::List:
            case Value::Kind::Tuple: return *v.list;
            case Value::Kind::Dict: {
                List keys;
                for (const auto& kv : *v.dict) keys.push_back(Value::string(kv.first));
                return keys;
            }
            case Value::Kind::String: {
                List chars;
                for (const char32_t c : detail::decode(v.s)) chars.push_back(Value::string(detail::encode(std::u32string(1, c))));
                return chars;
            }
            default: value_fail("'", type_name(v), "' object is not iterable");
        }
    }

    static std::int64_t length(const Value& v) {
        switch (v.kind) {
            case Value::Kind::Undefined: return 0;
            case Value::Kind::String: return static_cast<std::int64_t>(detail::decode(v.s).size());
            case Value::Kind::List:
            case Value::Kind::Tuple: return static_cast<std::int64_t>(v.list->size());
            case Value::Kind::Dict: return static_cast<std::int64_t>(v.dict->size());
            default: value_fail("object of type '", type_name(v), "' has no len()");
        }
    }

    static const char* object_name(const Value& v) {
        switch (v.kind) {
            case Value::Kind::Dict: return "'dict object'";
            case Value::Kind::List: return "'list object'";
            case Value::Kind::Tuple: return "'tuple object'";
            case Value::Kind::String: return "'str object'";
            default: return "object";
        }
    }

    static Value get_attr(const Value& obj, const std::string& attr) {
        switch (obj.kind) {
            case Value::Kind::Undefined: undefined_error(obj);
            case Value::Kind::Dict:
                if (detail::is_dict_method(attr)) return Value::method(obj, attr);
                if (const Value* v = obj.find(attr)) return *v;
                break;
            case Value::Kind::Namespace:
                if (const Value* v = obj.find(attr)) return *v;
                break;
            case Value::Kind::String:
                if (detail::is_str_method(attr)) return Value::method(obj, attr);
                break;
            case Value::Kind::List:
                if (detail::is_list_method(attr)) return Value::method(obj, attr);
                break;
            default: break;
        }
        return Value::undefined(std::string(object_name(obj)) + " has no attribute '" + attr + "'");
    }

    static Value get_item(const Value& obj, const Value& key) {
        if (obj.is(Value::Kind::Undefined)) undefined_error(obj);
        if (key.is(Value::Kind::Int) || key.is(Value::Kind::Bool)) {
            std::int64_t k = key.as_int();
            if (obj.is_seq() || obj.is(Value::Kind::String)) {
                if (obj.is(Value::Kind::String)) {
                    const std::u32string cs = detail::decode(obj.s);
                    const auto n = static_cast<std::int64_t>(cs.size());
                    if (k < 0) k += n;
                    if (k >= 0 && k < n) return Value::string(detail::encode(cs.substr(static_cast<std::size_t>(k), 1)));
                } else {
                    const auto n = static_cast<std::int64_t>(obj.list->size());
                    if (k < 0) k += n;
                    if (k >= 0 && k < n) return (*obj.list)[static_cast<std::size_t>(k)];
                }
            }
            return Value::undefined(std::string(object_name(obj)) + " has no element " + std::to_string(key.as_int()));
        }
        if (key.is(Value::Kind::String)) {
            if (obj.is(Value::Kind::Dict))
                if (const Value* v = obj.find(key.s)) return *v;
            return get_attr(obj, key.s);
        }
        return Value::undefined(std::string(object_name(obj)) + " has no element " + py_repr(key));
    }

    static Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
        if (obj.is(Value::Kind::Undefined)) undefined_error(obj);
        if (obj.is(Value::Kind::String)) {
            const std::u32string cs = detail::decode(obj.s);
            std::u32string out;
            for (auto k : detail::slice_positions(static_cast<std::int64_t>(cs.size()), start, stop, step))
                out += cs[static_cast<std::size_t>(k)];
            return Value::string(detail::encode(out));
        }
        if (obj.is_seq()) {
            List out;
            for (auto k : detail::slice_positions(static_cast<std::int64_t>(obj.list->size()), start, stop, step))
                out.push_back((*obj.list)[static_cast<std::size_t>(k)]);
            return Value::make_list(std::move(out), obj.is(Value::Kind::Tuple));
        }
        return Value::undefined(std::string(object_name(obj)) + " cannot be sliced");
    }

    static bool contains(const Value& container, const Value& item) {
        switch (container.kind) {
            case Value::Kind::Undefined: return false;
            case Value::Kind::String:
                if (item.is(Value::Kind::Undefined)) undefined_error(item);
                if (!item.is(Value::Kind::String))
                    value_fail("'in <string>' requires string as left operand, not ", type_name(item));
                return container.s.find(item.s) != std::string::npos;
            case Value::Kind::List:
            case Value::Kind::Tuple:
                for (const auto& e : *container.list)
                    if (equal(e, item)) return true;
                return false;
            case Value::Kind::Dict: return item.is(Value::Kind::String) && container.find(item.s);
            default: value_fail("argument of type '", type_name(container), "' is not iterable");
        }
    }

    // <, <=, >, >= of Python: numbers, strings, sequences.
    static int order(const Value& a, const Value& b, const std::string& op) {
        if (a.is(Value::Kind::Undefined)) undefined_error(a);
        if (b.is(Value::Kind::Undefined)) undefined_error(b);
        if (a.is_number() && b.is_number()) {
            if (!a.is(Value::Kind::Float) && !b.is(Value::Kind::Float)) return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
            return a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double() ? 1 : 0;
        }
        if (a.is(Value::Kind::String) && b.is(Value::Kind::String)) return a.s < b.s ? -1 : a.s > b.s;
        if (a.is_seq() && b.is_seq() && a.kind == b.kind) {
            for (std::size_t k = 0; k < a.list->size() && k < b.list->size(); ++k)
                if (!equal((*a.list)[k], (*b.list)[k])) return order((*a.list)[k], (*b.list)[k], op);
            return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size();
        }
        value_fail("'", op, "' not supported between instances of '", type_name(a), "' and '", type_name(b), "'");
    }

    // The most characters or items a '*' repetition may make: a template is not a program,
    // and a runaway one should stop with an error, not exhaust memory.
    static constexpr std::uint64_t max_repeat = std::uint64_t{1} << 26;

    static Value arith(const std::string& op, const Value& a, const Value& b) {
        if (op == "~") return Value::string(py_str(a) + py_str(b));
        if (a.is(Value::Kind::Undefined)) undefined_error(a);
        if (b.is(Value::Kind::Undefined)) undefined_error(b);
        if (a.is_number() && b.is_number()) {
            const bool ints = !a.is(Value::Kind::Float) && !b.is(Value::Kind::Float);
            const std::int64_t x = a.as_int(), y = b.as_int();
            const double p = a.as_double(), q = b.as_double();
            // Python's integers are unbounded; ours are 64-bit, and overflow is an error.
            const auto checked = [](bool overflow, const std::int64_t& r) {
                if (overflow) value_fail("integer overflow (tokclean's integers are 64-bit)");
                return Value::integer(r);
            };
            std::int64_t r = 0;
            if (op == "+" && ints) {
                const bool overflow = __builtin_add_overflow(x, y, &r);
                return checked(overflow, r);
            }
            if (op == "-" && ints) {
                const bool overflow = __builtin_sub_overflow(x, y, &r);
                return checked(overflow, r);
            }
            if (op == "*" && ints) {
                const bool overflow = __builtin_mul_overflow(x, y, &r);
                return checked(overflow, r);
            }
            if (op == "+") return Value::floating(p + q);
            if (op == "-") return Value::floating(p - q);
            if (op == "*") return Value::floating(p * q);
            if (op == "/") {
                if (q == 0) value_fail("division by zero");
                return Value::floating(p / q);
            }
            if (op == "//" || op == "%") {
                if (q == 0) value_fail(op == "%" ? "modulo by zero" : "integer division or modulo by zero");
                if (ints) {
                    if (x == std::numeric_limits<std::int64_t>::min() && y == -1)
                        value_fail("integer overflow (tokclean's integers are 64-bit)");
                    std::int64_t d = x / y, m = x % y;
                    if (m != 0 && ((m < 0) != (y < 0))) --d, m += y;
                    return Value::integer(op == "//" ? d : m);
                }
                const double m = std::fmod(p, q);
                const double mm = (m != 0 && ((m < 0) != (q < 0))) ? m + q : m;
                if (op == "%") return Value::floating(mm);
                const double div = (p - mm) / q;  // Python's float floor division
                if (div == 0) return Value::floating(std::copysign(0.0, p / q));
                double fd = std::floor(div);
                if (div - fd > 0.5) fd += 1.0;
                return Value::floating(fd);
            }
            if (op == "**") {
                if (ints && y >= 0) {  // by squaring, each product checked
                    std::int64_t result = 1, base = x, e = y;
                    bool overflow = false;
                    while (e > 0 && !overflow) {
                        if (e & 1) overflow = __builtin_mul_overflow(result, base, &result);
                        e >>= 1;
                        if (e > 0 && !overflow) overflow = __builtin_mul_overflow(base, base, &base);
                    }
                    return checked(overflow, result);
                }
                return Value::floating(std::pow(p, q));
            }
        }
        if (op == "+" && a.is(Value::Kind::String) && b.is(Value::Kind::String)) return Value::string(a.s + b.s);
        if (op == "+" && a.is_seq() && a.kind == b.kind) {
            List l = *a.list;
            l.insert(l.end(), b.list->begin(), b.list->end());
            return Value::make_list(std::move(l), a.is(Value::Kind::Tuple));
        }
        if (op == "*" && (a.is(Value::Kind::String) || a.is_seq() || b.is(Value::Kind::String) || b.is_seq())) {
            const Value& seq = a.is(Value::Kind::String) || a.is_seq() ? a : b;
            const Value& n = &seq == &a ? b : a;
            if (n.is(Value::Kind::Int) || n.is(Value::Kind::Bool)) {
                const std::size_t unit = seq.is(Value::Kind::String) ? seq.s.size() : seq.list->size();
                if (n.as_int() > 0 && unit > 0 && static_cast<std::uint64_t>(n.as_int()) > max_repeat / unit)
                    value_fail("a repetition of more than ", max_repeat, " characters or items");
                // An empty unit repeated any number of times is empty (no loop of 10^11 empty appends).
                const std::int64_t times = unit == 0 ? 0 : n.as_int();
                if (seq.is(Value::Kind::String)) {
                    std::string s;
                    for (std::int64_t k = 0; k < times; ++k) s += seq.s;
                    return Value::string(std::move(s));
                }
                List l;
                for (std::int64_t k = 0; k < times; ++k) l.insert(l.end(), seq.list->begin(), seq.list->end());
                return Value::make_list(std::move(l), seq.is(Value::Kind::Tuple));
            }
        }
        if (op == "%" && a.is(Value::Kind::String)) value_fail("unsupported: '%' string formatting");
        value_fail("unsupported operand type(s) for ", op, ": '", type_name(a), "' and '", type_name(b), "'");
    }

    // --- expressions -----------------------------------------------------------------------

    Value eval(const Expr& e, Scope& scope) {
        try {
            return eval_node(e, scope);
        } catch (const ValueError& err) {
            fail_at(name_, e.pos, err.what());
        }
    }

    Args eval_args(const Expr& e, Scope& scope) {
        Args a;
        for (std::size_t k = 1; k < e.args.size(); ++k) a.pos.push_back(eval(*e.args[k], scope));
        for (const auto& [key, x] : e.kwargs) a.kw.emplace_back(key, eval(*x, scope));
        return a;
    }

    // The argument `name` at `index`: positional or keyword; null when absent.
    static const Value* arg(const Args& a, std::size_t index, std::string_view name) {
        if (index < a.pos.size()) return &a.pos[index];
        for (const auto& [k, v] : a.kw)
            if (k == name) return &v;
        return nullptr;
    }
    static void check_args(const Args& a, std::size_t max_pos, std::initializer_list<std::string_view> names, const std::string& what) {
        if (a.pos.size() > max_pos) value_fail(what, "() takes at most ", max_pos, " positional arguments");
        for (const auto& [k, v] : a.kw)
            if (std::find(names.begin(), names.end(), k) == names.end()) value_fail(what, "() got an unexpected keyword argument '", k, "'");
    }
    static const std::string& str_arg(const Value* v, const std::string& what) {
        if (!v || !v->is(Value::Kind::String)) value_fail(what, " expects a string argument");
        return v->s;
    }

    Value eval_node(const Expr& e, Scope& scope) {
        using K = Expr::Kind;
        switch (e.kind) {
            case K::Literal: return from_json(e.literal);
            case K::Name: return lookup(e.name, scope);
            case K::GetAttr: return get_attr(eval(*e.args[0], scope), e.name);
            case K::GetItem: {
                const Value obj = eval(*e.args[0], scope);
                const Expr& key = *e.args[1];
                if (key.kind == K::Slice) {
                    auto part = [&](int k) { return key.args[k] ? eval(*key.args[k], scope) : Value::none(); };
                    return slice(obj, part(0), part(1), part(2));
                }
                return get_item(obj, eval(key, scope));
            }
            case K::Slice: value_fail("slice outside a subscript");
            case K::Call: return call(eval(*e.args[0], scope), eval_args(e, scope), e);
            case K::Filter: return filter(e, scope);
            case K::Test: {
                const bool r = test(e.name, eval(*e.args[0], scope), eval_args(e, scope));
                return Value::boolean(r != e.negated);
            }
            case K::Not: return Value::boolean(!truthy(eval(*e.args[0], scope)));
            case K::Neg:
            case K::Pos: {
                const Value v = eval(*e.args[0], scope);
                if (v.is(Value::Kind::Undefined)) undefined_error(v);
                if (!v.is_number()) value_fail("bad operand type for unary ", e.kind == K::Neg ? "-" : "+", ": '", type_name(v), "'");
                if (e.kind == K::Pos) return v.is(Value::Kind::Bool) ? Value::integer(v.as_int()) : v;
                if (v.is(Value::Kind::Float)) return Value::floating(-v.f);
                if (v.as_int() == std::numeric_limits<std::int64_t>::min())
                    value_fail("integer overflow (tokclean's integers are 64-bit)");
                return Value::integer(-v.as_int());
            }
            case K::Binary: return arith(e.name, eval(*e.args[0], scope), eval(*e.args[1], scope));
            case K::Compare: {
                Value left = eval(*e.args[0], scope);
                for (std::size_t k = 0; k < e.ops.size(); ++k) {
                    Value right = eval(*e.args[k + 1], scope);
                    const std::string& op = e.ops[k];
                    bool r;
                    if (op == "==") r = equal(left, right);
                    else if (op == "!=") r = !equal(left, right);
                    else if (op == "in") r = contains(right, left);
                    else if (op == "not in") r = !contains(right, left);
                    else {
                        const int c = order(left, right, op);
                        r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
                    }
                    if (!r) return Value::boolean(false);
                    left = std::move(right);
                }
                return Value::boolean(true);
            }
            case K::And: {
                Value a = eval(*e.args[0], scope);
                return truthy(a) ? eval(*e.args[1], scope) : a;
            }
            case K::Or: {
                Value a = eval(*e.args[0], scope);
                return truthy(a) ? a : eval(*e.args[1], scope);
            }
            case K::Cond:
                if (truthy(eval(*e.args[1], scope))) return eval(*e.args[0], scope);
                return e.args[2] ? eval(*e.args[2], scope) : Value::undefined("the inline if-expression evaluated to false and no else section was defined");
            case K::List:
            case K::Tuple: {
                List l;
                for (const auto& x : e.args) l.push_back(eval(*x, scope));
                return Value::make_list(std::move(l), e.kind == K::Tuple);
            }
            case K::Dict: {
                Dict d;
                for (std::size_t k = 0; k < e.args.size(); ++k) {
                    const Value key = eval(*e.keys[k], scope);
                    if (!key.is(Value::Kind::String)) fail_at(name_, e.keys[k]->pos, "unsupported: dict keys other than strings");
                    Value v = eval(*e.args[k], scope);
                    bool found = false;
                    for (auto& [dk, dv] : d)
                        if (dk == key.s) dv = v, found = true;
                    if (!found) d.emplace_back(key.s, std::move(v));
                }
                return Value::make_dict(std::move(d));
            }
        }
        value_fail("unknown expression");
    }

    // --- calls: globals and methods ------------------------------------------------------

    Value call(const Value& f, const Args& a, const Expr& e) {
        if (f.is(Value::Kind::Undefined)) undefined_error(f);
        if (f.is(Value::Kind::Function)) {
            if (f.s == "raise_exception") {
                check_args(a, 1, {"message"}, f.s);
                const Value* msg = arg(a, 0, "message");
                fail_at(name_, e.pos, msg ? tokclean::detail::one_line(py_str(*msg)) : "raise_exception() called without a message");  // one line, whatever the template says
            }
            if (f.s == "strftime_now") {
                check_args(a, 1, {"format"}, f.s);
                return Value::string(strftime_now(str_arg(arg(a, 0, "format"), "strftime_now")));
            }
            if (f.s == "namespace") {
                Value ns;
                ns.kind = Value::Kind::Namespace;
                ns.dict = std::make_shared<Dict>();
                for (const auto& p : a.pos) {
                    if (!p.is(Value::Kind::Dict)) value_fail("namespace() takes keyword arguments or a dict");
                    *ns.dict = *p.dict;
                }
                for (const auto& [k, v] : a.kw) ns.dict->emplace_back(k, v);
                return ns;
            }
            value_fail("unsupported function '", f.s, "'");
        }
        if (!f.is(Value::Kind::Method)) value_fail("'", type_name(f), "' object is not callable");
        const Value& self = *f.self;
        const std::string& m = f.s;
        if (self.is(Value::Kind::String)) {
            const std::string& s = self.s;
            if (m == "startswith" || m == "endswith") {
                check_args(a, 1, {}, m);
                const Value* p = arg(a, 0, "");
                if (!p) value_fail(m, "() takes at least 1 argument");
                List options = p->is(Value::Kind::Tuple) ? *p->list : List{*p};
                for (const auto& o : options) {
                    if (!o.is(Value::Kind::String)) value_fail(m, " first arg must be str or a tuple of str, not ", type_name(o));
                    const bool hit = o.s.size() <= s.size() &&
                                     (m == "startswith" ? s.compare(0, o.s.size(), o.s) == 0
                                                        : s.compare(s.size() - o.s.size(), o.s.size(), o.s) == 0);
                    if (hit) return Value::boolean(true);
                }
                return Value::boolean(false);
            }
            if (m == "strip" || m == "lstrip" || m == "rstrip") {
                check_args(a, 1, {}, m);
                return Value::string(detail::encode(detail::strip_chars(detail::decode(s), arg(a, 0, ""), m != "rstrip", m != "lstrip")));
            }
            if (m == "split") {
                check_args(a, 2, {"sep", "maxsplit"}, m);
                const Value* n = arg(a, 1, "maxsplit");
                return Value::make_list(detail::py_split(s, arg(a, 0, "sep"), n ? n->as_int() : -1));
            }
            if (m == "upper" || m == "lower" || m == "title" || m == "capitalize") {
                check_args(a, 0, {}, m);
                return Value::string(detail::ascii_case(s, m.c_str(), m == "lower" ? 0 : m == "upper" ? 1 : m == "title" ? 2 : 3));
            }
            if (m == "replace") {
                check_args(a, 3, {}, m);
                const Value* n = arg(a, 2, "");
                return Value::string(detail::py_replace(s, str_arg(arg(a, 0, ""), m), str_arg(arg(a, 1, ""), m), n ? n->as_int() : -1));
            }
        } else if (self.is(Value::Kind::Dict)) {
            if (m == "items" || m == "keys" || m == "values") {
                check_args(a, 0, {}, m);
                List out;
                for (const auto& [k, v] : *self.dict) {
                    if (m == "items") out.push_back(Value::make_list({Value::string(k), v}, true));
                    else out.push_back(m == "keys" ? Value::string(k) : v);
                }
                return Value::make_list(std::move(out));
            }
            if (m == "get") {
                check_args(a, 2, {}, m);
                const Value* key = arg(a, 0, "");
                if (!key) value_fail("get expected at least 1 argument");
                if (key->is(Value::Kind::String))
                    if (const Value* v = self.find(key->s)) return *v;
                const Value* d = arg(a, 1, "");
                return d ? *d : Value::none();
            }
        }
        value_fail("unsupported method '", m, "' of ", type_name(self));
    }

    std::string strftime_now(const std::string& fmt) const {
        std::tm tm{};
        if (opt_.now) {
            tm = *opt_.now;
            std::tm norm = tm;
            const std::time_t t = timegm(&norm);  // fills the weekday and day of the year
            gmtime_r(&t, &tm);
        } else {
            const std::time_t t = std::time(nullptr);
            localtime_r(&t, &tm);
        }
        if (fmt.empty()) return "";
        for (std::size_t cap = 256; cap <= (1u << 20); cap *= 4) {
            std::string buf(cap, '\0');
            const std::size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
            if (n > 0) return buf.substr(0, n);
        }
        return "";
    }

    // --- filters -------------------------------------------------------------------------

    Value filter(const Expr& e, Scope& scope) {
        const Value v = eval(*e.args[0], scope);
        const Args a = eval_args(e, scope);
        const std::string& f = e.name;
        if (f == "trim") {
            check_args(a, 1, {"chars"}, f);
            return Value::string(detail::encode(detail::strip_chars(detail::decode(py_str(v)), arg(a, 0, "chars"), true, true)));
        }
        if (f == "length" || f == "count") {
            check_args(a, 0, {}, f);
            return Value::integer(length(v));
        }
        if (f == "string") {
            check_args(a, 0, {}, f);
            return Value::string(py_str(v));
        }
        if (f == "tojson") return Value::string(tojson(v, a));
        if (f == "upper" || f == "lower" || f == "capitalize") {
            check_args(a, 0, {}, f);
            return Value::string(detail::ascii_case(py_str(v), f.c_str(), f == "lower" ? 0 : f == "upper" ? 1 : 3));
        }
        if (f == "int") {
            check_args(a, 2, {"default", "base"}, f);
            const Value* d = arg(a, 0, "default");
            const Value* base = arg(a, 1, "base");
            if (base && base->as_int() != 10) value_fail("unsupported: int filter with base other than 10");
            return to_int(v, d ? *d : Value::integer(0));
        }
        if (f == "join") {
            check_args(a, 1, {"d"}, f);
            const Value* sep = arg(a, 0, "d");
            std::string out;
            bool first = true;
            for (const auto& x : iterate(v)) {
                if (!first) out += sep ? py_str(*sep) : "";
                out += py_str(x);
                first = false;
            }
            return Value::string(std::move(out));
        }
        if (f == "default" || f == "d") {
            check_args(a, 2, {"default_value", "boolean"}, f);
            const Value* d = arg(a, 0, "default_value");
            const Value* boolean = arg(a, 1, "boolean");
            const bool use = v.is(Value::Kind::Undefined) || (boolean && truthy(*boolean) && !truthy(v));
            return use ? (d ? *d : Value::string("")) : v;
        }
        if (f == "first" || f == "last") {
            check_args(a, 0, {}, f);
            const List items = iterate(v);
            if (items.empty()) return Value::undefined("No " + f + " item, sequence was empty.");
            return f == "first" ? items.front() : items.back();
        }
        if (f == "list") {
            check_args(a, 0, {}, f);
            return Value::make_list(iterate(v));
        }
        if (f == "replace") {
            check_args(a, 3, {"old", "new", "count"}, f);
            const Value* old = arg(a, 0, "old");
            const Value* with = arg(a, 1, "new");
            const Value* n = arg(a, 2, "count");
            if (!old || !with) value_fail("replace() needs old and new");
            return Value::string(detail::py_replace(py_str(v), py_str(*old), py_str(*with), n && !n->is(Value::Kind::None) ? n->as_int() : -1));
        }
        if (f == "items") {
            check_args(a, 0, {}, f);
            if (v.is(Value::Kind::Undefined)) return Value::make_list({});
            if (!v.is(Value::Kind::Dict)) value_fail("Can only get item pairs from a mapping.");
            List out;
            for (const auto& [k, x] : *v.dict) out.push_back(Value::make_list({Value::string(k), x}, true));
            return Value::make_list(std::move(out));
        }
        if (f == "select" || f == "reject") {
            if (!a.kw.empty()) value_fail("unsupported: keyword arguments to ", f);
            List out;
            for (const auto& x : iterate(v)) {
                bool r;
                if (a.pos.empty()) {
                    r = truthy(x);
                } else {
                    if (!a.pos[0].is(Value::Kind::String)) value_fail(f, "() expects a test name");
                    const std::string& t = a.pos[0].s;
                    if (!supported_tests().contains(t)) value_fail("unsupported test '", t, "'");
                    Args targs;
                    targs.pos.assign(a.pos.begin() + 1, a.pos.end());
                    r = test(t, x, targs);
                }
                if (r == (f == "select")) out.push_back(x);
            }
            return Value::make_list(std::move(out));
        }
        value_fail("unsupported filter '", f, "'");
    }

    // int(x) of a float as jinja2's int filter: inf and nan give the default (its OverflowError
    // and ValueError are caught); beyond int64 Python's integers grow, ours stop with an error.
    static Value float_to_int(double x, const Value& dflt) {
        if (!std::isfinite(x)) return dflt;
        const double t = std::trunc(x);
        if (t < -0x1p63 || t >= 0x1p63) value_fail("integer overflow (tokclean's integers are 64-bit)");
        return Value::integer(static_cast<std::int64_t>(t));
    }

    static bool parses_as_int64(const std::string& s) {
        std::int64_t x = 0;
        const char* b = s.data() + (s[0] == '+');
        return std::from_chars(b, s.data() + s.size(), x).ec == std::errc();
    }

    static Value to_int(const Value& v, const Value& dflt) {
        if (v.is(Value::Kind::Int)) return v;
        if (v.is(Value::Kind::Bool)) return Value::integer(v.as_int());
        if (v.is(Value::Kind::Float)) return float_to_int(v.f, dflt);
        if (v.is(Value::Kind::String)) {
            const std::string s = detail::encode(detail::strip_chars(detail::decode(v.s), nullptr, true, true));
            std::size_t k = 0;
            if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
            bool digits = k < s.size();
            for (std::size_t j = k; j < s.size(); ++j) digits = digits && std::isdigit(static_cast<unsigned char>(s[j]));
            std::size_t used = 0;
            double d = 0;
            if (digits && s.size() - k > 18 && !parses_as_int64(s)) value_fail("integer overflow (tokclean's integers are 64-bit)");
            try {
                if (digits) return Value::integer(std::stoll(s));
                d = std::stod(s, &used);
            } catch (const std::exception&) {
                return dflt;
            }
            if (used == s.size()) return float_to_int(d, dflt);
        }
        return dflt;
    }

    static std::string tojson(const Value& v, const Args& a) {
        check_args(a, 4, {"ensure_ascii", "indent", "separators", "sort_keys"}, "tojson");
        JsonFormat fmt;
        if (const Value* x = arg(a, 0, "ensure_ascii")) fmt.ensure_ascii = truthy(*x);
        if (const Value* x = arg(a, 1, "indent"); x && !x->is(Value::Kind::None)) {
            fmt.indent = true;
            if (x->is(Value::Kind::String)) fmt.indent_text = x->s;
            else if (x->is(Value::Kind::Int)) fmt.indent_text = std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, x->i)), ' ');
            else value_fail("tojson indent must be an integer or a string");
            fmt.item_sep = ",";
        }
        if (const Value* x = arg(a, 2, "separators"); x && !x->is(Value::Kind::None)) {
            if (!x->is_seq() || x->list->size() != 2 || !(*x->list)[0].is(Value::Kind::String) || !(*x->list)[1].is(Value::Kind::String))
                value_fail("tojson separators must be a pair of strings");
            fmt.item_sep = (*x->list)[0].s;
            fmt.key_sep = (*x->list)[1].s;
        }
        if (const Value* x = arg(a, 3, "sort_keys")) fmt.sort_keys = truthy(*x);
        std::string out;
        json_dumps(out, v, fmt);
        return out;
    }

    // --- tests ---------------------------------------------------------------------------

    static bool test(const std::string& t, const Value& v, const Args& a) {
        using K = Value::Kind;
        if (t == "defined") return !v.is(K::Undefined);
        if (t == "undefined") return v.is(K::Undefined);
        if (t == "none") return v.is(K::None);
        if (t == "string") return v.is(K::String);
        if (t == "number") return v.is_number();
        if (t == "boolean") return v.is(K::Bool);
        if (t == "true") return v.is(K::Bool) && v.b;
        if (t == "false") return v.is(K::Bool) && !v.b;
        if (t == "mapping") return v.is(K::Dict);
        if (t == "iterable" || t == "sequence") return v.is(K::Undefined) || v.is(K::String) || v.is_seq() || v.is(K::Dict);
        if (t == "equalto" || t == "eq" || t == "==" || t == "ne" || t == "!=") {
            const Value* other = arg(a, 0, "other");
            if (!other) value_fail("test '", t, "' needs an argument");
            return equal(v, *other) == (t != "ne" && t != "!=");
        }
        value_fail("unsupported test '", t, "'");
    }
};

}  // namespace tokclean::jinja
