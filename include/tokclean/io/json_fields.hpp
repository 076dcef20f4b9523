#pragma once
// Typed access to the fields of a JSON object, with one-line errors that name the file, the
// line (when known) and the field: "data.jsonl:7: field 'labels': expected an array, got a
// string". Also parsing of JSON text and files with the parser's position in the error.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"

namespace tokclean {

// Where a JSON value came from, for error messages: "file" or "file:line".
struct JsonWhere {
    std::string file;
    std::size_t line = 0;  // 1-based; 0 = not a line-oriented file

    std::string str() const { return line ? file + ":" + std::to_string(line) : file; }
};

namespace detail {

// Replaces control characters so that a message stays on one line.
inline std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    return s;
}

// The parser's reason without nlohmann's "[json.exception.parse_error.101] parse error at
// line 1, column 5: " prefix (we report the place ourselves).
inline std::string json_parse_reason(const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos && what.starts_with("[json.exception"))
        what.erase(0, p + 2);
    if (what.starts_with("parse error")) {
        if (auto p = what.find(": "); p != std::string::npos) what.erase(0, p + 2);
    }
    return one_line(what);
}

}  // namespace detail

// "a string", "an array", ... for "expected X, got <type>" messages.
inline std::string json_type_name(const nlohmann::json& j) {
    using V = nlohmann::json::value_t;
    switch (j.type()) {
        case V::null: return "null";
        case V::object: return "an object";
        case V::array: return "an array";
        case V::string: return "a string";
        case V::boolean: return "a boolean";
        case V::number_integer:
        case V::number_unsigned: return "an integer";
        case V::number_float: return "a number";
        case V::binary: return "binary data";
        default: return "an invalid value";
    }
}

// The value's type and, for scalars, the value itself (shortened): `a string ("abc")`, `1.5`.
inline std::string json_describe(const nlohmann::json& j) {
    if (j.is_number() || j.is_boolean() || j.is_null()) return j.dump();
    if (j.is_string()) {
        std::string s = j.dump();
        if (s.size() > 40) s = s.substr(0, 37) + "...";
        return "a string (" + detail::one_line(s) + ")";
    }
    return json_type_name(j);
}

// Parses JSON text; on a syntax error: "<where>: not valid JSON at byte N: <reason>" (or "at
// column N" when `where` is a line of a JSONL file, since a line is parsed on its own).
inline nlohmann::json parse_json(std::string_view text, const JsonWhere& where) {
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error& e) {
        fail(where.str(), ": not valid JSON at ", where.line ? "column " : "byte ", e.byte, ": ",
             detail::json_parse_reason(e));
    }
}

// Reads and parses a whole JSON file (config.json and the like).
inline nlohmann::json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open the file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) fail(path.string(), ": read error");
    return parse_json(text.str(), JsonWhere{path.string(), 0});
}

inline void require_object(const nlohmann::json& j, const JsonWhere& where) {
    if (!j.is_object()) fail(where.str(), ": expected a JSON object, got ", json_type_name(j));
}

// Rejects fields outside `allowed`: "field 'foo' is not allowed here (expected: a, b)".
inline void reject_unknown_fields(const nlohmann::json& obj,
                                  std::initializer_list<std::string_view> allowed,
                                  const JsonWhere& where) {
    for (const auto& item : obj.items()) {
        bool known = false;
        for (auto a : allowed) known = known || item.key() == a;
        if (known) continue;
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(where.str(), ": unknown field '", detail::one_line(item.key()), "' (expected: ", list,
             ")");
    }
}

// The field's value; error if absent.
inline const nlohmann::json& require_field(const nlohmann::json& obj, std::string_view name,
                                           const JsonWhere& where) {
    auto it = obj.find(name);
    if (it == obj.end()) fail(where.str(), ": missing required field '", name, "'");
    return *it;
}

// The field's value, or nullptr if absent or null (null counts as absent: Hugging Face
// configs write "n_inner": null for "the default").
inline const nlohmann::json* find_field(const nlohmann::json& obj, std::string_view name) {
    auto it = obj.find(name);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

// An integer value in [lo, hi]; `field` is the name used in the message ("'n_layer'" or
// "'input_ids'[3]"). Floats are rejected even when integral (4.0): ids and sizes are
// written as integers by every tool we read from, so 4.0 is more likely a mistake.
inline std::int64_t json_to_int(const nlohmann::json& v, std::string_view field,
                                const JsonWhere& where,
                                std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                                std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
    std::int64_t x = 0;
    if (v.is_number_integer() && !v.is_number_unsigned()) {
        x = v.get<std::int64_t>();
    } else if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            fail(where.str(), ": field ", field, ": ", u, " is too large");
        x = static_cast<std::int64_t>(u);
    } else {
        fail(where.str(), ": field ", field, ": expected an integer, got ", json_describe(v));
    }
    if (lo == 0 && x < 0 && hi == std::numeric_limits<std::int64_t>::max())
        fail(where.str(), ": field ", field, ": expected a non-negative integer, got ", x);
    if (x < lo || x > hi)
        fail(where.str(), ": field ", field, ": ", x, " is outside [", lo, ", ", hi, "]");
    return x;
}

inline std::string quoted(std::string_view name) { return "'" + std::string(name) + "'"; }

inline int require_int(const nlohmann::json& obj, std::string_view name, const JsonWhere& where) {
    return static_cast<int>(json_to_int(require_field(obj, name, where), quoted(name), where,
                                        std::numeric_limits<int>::min(),
                                        std::numeric_limits<int>::max()));
}
inline std::int64_t require_int64(const nlohmann::json& obj, std::string_view name,
                                  const JsonWhere& where) {
    return json_to_int(require_field(obj, name, where), quoted(name), where);
}
inline double require_number(const nlohmann::json& obj, std::string_view name,
                             const JsonWhere& where) {
    const auto& v = require_field(obj, name, where);
    if (!v.is_number())
        fail(where.str(), ": field '", name, "': expected a number, got ", json_describe(v));
    return v.get<double>();
}
inline std::string require_string(const nlohmann::json& obj, std::string_view name,
                                  const JsonWhere& where) {
    const auto& v = require_field(obj, name, where);
    if (!v.is_string())
        fail(where.str(), ": field '", name, "': expected a string, got ", json_describe(v));
    return v.get<std::string>();
}
inline bool require_bool(const nlohmann::json& obj, std::string_view name,
                         const JsonWhere& where) {
    const auto& v = require_field(obj, name, where);
    if (!v.is_boolean())
        fail(where.str(), ": field '", name, "': expected true or false, got ", json_describe(v));
    return v.get<bool>();
}

// Optional fields: the default when absent or null, an error when present with a wrong type.
inline int optional_int(const nlohmann::json& obj, std::string_view name, int fallback,
                        const JsonWhere& where) {
    return find_field(obj, name) ? require_int(obj, name, where) : fallback;
}
inline std::int64_t optional_int64(const nlohmann::json& obj, std::string_view name,
                                   std::int64_t fallback, const JsonWhere& where) {
    return find_field(obj, name) ? require_int64(obj, name, where) : fallback;
}
inline double optional_number(const nlohmann::json& obj, std::string_view name, double fallback,
                              const JsonWhere& where) {
    return find_field(obj, name) ? require_number(obj, name, where) : fallback;
}
inline std::string optional_string(const nlohmann::json& obj, std::string_view name,
                                   std::string fallback, const JsonWhere& where) {
    return find_field(obj, name) ? require_string(obj, name, where) : std::move(fallback);
}
inline bool optional_bool(const nlohmann::json& obj, std::string_view name, bool fallback,
                          const JsonWhere& where) {
    return find_field(obj, name) ? require_bool(obj, name, where) : fallback;
}

}  // namespace tokclean
