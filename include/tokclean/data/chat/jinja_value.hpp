#pragma once
// The values a template computes with, and how Python shows them: str() (what {{ }} prints),
// repr() (inside lists and dicts), json.dumps (tojson), truthiness and equality. Dicts keep
// insertion order, as Python's do and as tojson must print them.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/chat/jinja_lexer.hpp"

namespace tokclean::jinja {

// A failure of an operation on values (Python's TypeError / ValueError); the renderer rethrows it
// as tokclean::Error naming the expression's line and column.
struct ValueError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

template <class... Parts>
[[noreturn]] void value_fail(Parts&&... parts) {
    throw ValueError(tokclean::detail::concat(std::forward<Parts>(parts)...));
}

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;

struct Value {
    enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Function, Method };
    Kind kind = Kind::Undefined;
    bool b = false;
    std::int64_t i = 0;
    double f = 0;
    std::string s;                 // String; Undefined: what was missing; Function / Method: the name
    std::shared_ptr<List> list;    // List, Tuple
    std::shared_ptr<Dict> dict;    // Dict, Namespace (a namespace is shared and mutable)
    std::shared_ptr<Value> self;   // Method: the receiver

    static Value undefined(std::string hint) { Value v; v.s = std::move(hint); return v; }
    static Value none() { Value v; v.kind = Kind::None; return v; }
    static Value boolean(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
    static Value integer(std::int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
    static Value floating(double x) { Value v; v.kind = Kind::Float; v.f = x; return v; }
    static Value string(std::string x) { Value v; v.kind = Kind::String; v.s = std::move(x); return v; }
    static Value make_list(List x, bool tuple = false) {
        Value v; v.kind = tuple ? Kind::Tuple : Kind::List; v.list = std::make_shared<List>(std::move(x)); return v;
    }
    static Value make_dict(Dict x) { Value v; v.kind = Kind::Dict; v.dict = std::make_shared<Dict>(std::move(x)); return v; }
    static Value function(std::string name) { Value v; v.kind = Kind::Function; v.s = std::move(name); return v; }
    static Value method(const Value& self, std::string name) {
        Value v; v.kind = Kind::Method; v.s = std::move(name); v.self = std::make_shared<Value>(self); return v;
    }

    bool is(Kind k) const { return kind == k; }
    bool is_seq() const { return kind == Kind::List || kind == Kind::Tuple; }
    bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
    double as_double() const { return kind == Kind::Float ? f : static_cast<double>(kind == Kind::Bool ? b : i); }
    std::int64_t as_int() const { return kind == Kind::Bool ? b : i; }

    const Value* find(std::string_view key) const {
        for (const auto& [k, v] : *dict)
            if (k == key) return &v;
        return nullptr;
    }
};

// Python's type names, for error messages.
inline const char* type_name(const Value& v) {
    switch (v.kind) {
        case Value::Kind::Undefined: return "Undefined";
        case Value::Kind::None: return "NoneType";
        case Value::Kind::Bool: return "bool";
        case Value::Kind::Int: return "int";
        case Value::Kind::Float: return "float";
        case Value::Kind::String: return "str";
        case Value::Kind::List: return "list";
        case Value::Kind::Tuple: return "tuple";
        case Value::Kind::Dict: return "dict";
        case Value::Kind::Namespace: return "Namespace";
        case Value::Kind::Function: return "function";
        case Value::Kind::Method: return "method";
    }
    return "?";
}

inline Value from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return Value::none();
        case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return Value::integer(j.get<std::int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const auto u = j.get<std::uint64_t>();
            if (u > static_cast<std::uint64_t>(INT64_MAX)) value_fail("unsupported: integer ", u, " beyond int64");
            return Value::integer(static_cast<std::int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float: return Value::floating(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            List l;
            for (const auto& e : j) l.push_back(from_json(e));
            return Value::make_list(std::move(l));
        }
        case nlohmann::ordered_json::value_t::object: {
            Dict d;
            for (const auto& [k, e] : j.items()) d.emplace_back(k, from_json(e));
            return Value::make_dict(std::move(d));
        }
        default: value_fail("unsupported JSON value (binary or discarded)");
    }
}

inline bool truthy(const Value& v) {
    switch (v.kind) {
        case Value::Kind::Undefined:
        case Value::Kind::None: return false;
        case Value::Kind::Bool: return v.b;
        case Value::Kind::Int: return v.i != 0;
        case Value::Kind::Float: return v.f != 0;
        case Value::Kind::String: return !v.s.empty();
        case Value::Kind::List:
        case Value::Kind::Tuple: return !v.list->empty();
        case Value::Kind::Dict: return !v.dict->empty();
        default: return true;
    }
}

// Python's ==: numbers (bool included) by value, containers element by element, dicts ignoring
// order; Undefined equals only Undefined.
inline bool equal(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind != Value::Kind::Float && b.kind != Value::Kind::Float) return a.as_int() == b.as_int();
        return a.as_double() == b.as_double();
    }
    if (a.is_seq() && b.is_seq()) {
        if (a.kind != b.kind || a.list->size() != b.list->size()) return false;
        for (std::size_t k = 0; k < a.list->size(); ++k)
            if (!equal((*a.list)[k], (*b.list)[k])) return false;
        return true;
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case Value::Kind::Undefined:
        case Value::Kind::None: return true;
        case Value::Kind::String: return a.s == b.s;
        case Value::Kind::Dict: {
            if (a.dict->size() != b.dict->size()) return false;
            for (const auto& [k, v] : *a.dict) {
                const Value* o = b.find(k);
                if (!o || !equal(v, *o)) return false;
            }
            return true;
        }
        case Value::Kind::Namespace: return a.dict == b.dict;
        default: return a.s == b.s && a.self == b.self;
    }
}

// repr(float) / json.dumps(float): the shortest digits that round-trip, fixed notation for
// exponents -4 .. 15 (always with a fraction), scientific with a two-digit exponent otherwise.
inline std::string py_float(double x, bool json = false) {
    if (std::isnan(x)) return json ? "NaN" : "nan";
    if (std::isinf(x)) return json ? (x > 0 ? "Infinity" : "-Infinity") : (x > 0 ? "inf" : "-inf");
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
    std::string sci(buf, r.ptr);
    const std::size_t epos = sci.find('e');
    const int exp = std::stoi(sci.substr(epos + 1));
    std::string mant = sci.substr(0, epos);
    std::string sign;
    if (mant[0] == '-') sign = "-", mant.erase(0, 1);
    std::string digits = mant.substr(0, 1) + (mant.size() > 2 ? mant.substr(2) : "");
    if (exp >= -4 && exp < 16) {
        std::string out;
        if (exp < 0) {
            out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
        } else {
            const auto point = static_cast<std::size_t>(exp + 1);
            if (digits.size() <= point) out = digits + std::string(point - digits.size(), '0') + ".0";
            else out = digits.substr(0, point) + "." + digits.substr(point);
        }
        return sign + out;
    }
    std::string out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return sign + out + e;
}

// Python's str.isprintable(), for repr(): what repr() shows as an escape. Covers the control,
// separator and format characters that occur in text; unassigned code points count as printable.
inline bool py_printable(char32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return false;
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f))
        return false;
    if (c == 0x3000 || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe000 && c <= 0xf8ff) || c >= 0xf0000)
        return false;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x180e || c == 0x8e2) return false;
    if ((c >= 0xe0000 && c <= 0xe007f) || (c >= 0x1d173 && c <= 0x1d17a)) return false;
    return true;
}

inline std::string py_repr_string(const std::string& s) {
    const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
    const char q = dq ? '"' : '\'';
    std::string out(1, q);
    for (std::size_t i = 0; i < s.size();) {
        const char32_t c = detail::next_char(s, i);
        if (c == static_cast<char32_t>(q) || c == '\\') out += '\\', out += static_cast<char>(c);
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (!py_printable(c)) {
            char buf[16];
            if (c < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            else if (c < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
            out += buf;
        } else {
            detail::append_utf8(out, c);
        }
    }
    return out + q;
}

inline std::string py_str(const Value& v);

inline std::string py_repr(const Value& v) {
    return v.kind == Value::Kind::String ? py_repr_string(v.s) : py_str(v);
}

// str(v): what {{ v }} prints.
inline std::string py_str(const Value& v) {
    switch (v.kind) {
        case Value::Kind::Undefined: return "";
        case Value::Kind::None: return "None";
        case Value::Kind::Bool: return v.b ? "True" : "False";
        case Value::Kind::Int: return std::to_string(v.i);
        case Value::Kind::Float: return py_float(v.f);
        case Value::Kind::String: return v.s;
        case Value::Kind::List:
        case Value::Kind::Tuple: {
            const bool tuple = v.kind == Value::Kind::Tuple;
            std::string out = tuple ? "(" : "[";
            for (std::size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + py_repr((*v.list)[k]);
            if (tuple && v.list->size() == 1) out += ",";
            return out + (tuple ? ")" : "]");
        }
        case Value::Kind::Dict: {
            std::string out = "{";
            bool first = true;
            for (const auto& [k, e] : *v.dict) {
                out += (first ? "" : ", ") + py_repr_string(k) + ": " + py_repr(e);
                first = false;
            }
            return out + "}";
        }
        default: value_fail("unsupported: printing a ", type_name(v));
    }
}

struct JsonFormat {
    bool ensure_ascii = false;
    bool indent = false;        // indent_text applies (json.dumps' indent is not None)
    std::string indent_text;
    std::string item_sep = ", ";
    std::string key_sep = ": ";
    bool sort_keys = false;
};

inline void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const char32_t c = detail::next_char(s, i);
        char buf[16];
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20 || (ensure_ascii && c >= 0x7f)) {
                    if (c >= 0x10000) {
                        const char32_t u = c - 0x10000;
                        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xd800 + (u >> 10)),
                                      static_cast<unsigned>(0xdc00 + (u & 0x3ff)));
                    } else {
                        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    }
                    out += buf;
                } else {
                    detail::append_utf8(out, c);
                }
        }
    }
    out += '"';
}

// json.dumps(v, ensure_ascii, indent, separators, sort_keys).
inline void json_dumps(std::string& out, const Value& v, const JsonFormat& fmt, int depth = 0) {
    auto newline = [&](int d) {
        if (!fmt.indent) return;
        out += '\n';
        for (int k = 0; k < d; ++k) out += fmt.indent_text;
    };
    switch (v.kind) {
        case Value::Kind::None: out += "null"; return;
        case Value::Kind::Bool: out += v.b ? "true" : "false"; return;
        case Value::Kind::Int: out += std::to_string(v.i); return;
        case Value::Kind::Float: out += py_float(v.f, true); return;
        case Value::Kind::String: json_string(out, v.s, fmt.ensure_ascii); return;
        case Value::Kind::List:
        case Value::Kind::Tuple: {
            if (v.list->empty()) { out += "[]"; return; }
            out += '[';
            for (std::size_t k = 0; k < v.list->size(); ++k) {
                if (k) out += fmt.item_sep;
                newline(depth + 1);
                json_dumps(out, (*v.list)[k], fmt, depth + 1);
            }
            newline(depth);
            out += ']';
            return;
        }
        case Value::Kind::Dict: {
            if (v.dict->empty()) { out += "{}"; return; }
            std::vector<const std::pair<std::string, Value>*> items;
            for (const auto& kv : *v.dict) items.push_back(&kv);
            if (fmt.sort_keys)
                std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
            out += '{';
            for (std::size_t k = 0; k < items.size(); ++k) {
                if (k) out += fmt.item_sep;
                newline(depth + 1);
                json_string(out, items[k]->first, fmt.ensure_ascii);
                out += fmt.key_sep;
                json_dumps(out, items[k]->second, fmt, depth + 1);
            }
            newline(depth);
            out += '}';
            return;
        }
        default: value_fail("Object of type ", type_name(v), " is not JSON serializable");
    }
}

}  // namespace tokclean::jinja
