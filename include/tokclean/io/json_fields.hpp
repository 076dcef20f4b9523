#pragma once
// Typed access to the fields of a JSON object, with one-line errors that name the file, the
// line (when known) and the field: "data.jsonl:7: field 'labels': expected an array, got a
// string". Also parsing of JSON text and files with the parser's position in the error, and
// refusing duplicate keys (which nlohmann::json would silently resolve to the last one).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/io/utf8.hpp"  // detail::printable, one_line, hex_byte, first_invalid_utf8

namespace tokclean {

// Where a JSON value came from, for error messages: "file" or "file:line".
struct JsonWhere {
    std::string file;
    std::size_t line = 0;  // 1-based; 0 = not a line-oriented file

    std::string str() const { return line ? file + ":" + std::to_string(line) : file; }
};

// How a syntax error in a whole file names its place: "file: ... at byte N", or "file:LINE:
// ... at column N" for files people read in an editor (tokenizer.json). A JSONL line (a
// JsonWhere with a line) always says "file:LINE: ... at column N".
enum class JsonPlace { byte, line_and_column };

namespace detail {

// The parser's reason without nlohmann's "[json.exception.parse_error.101] parse error at
// line 1, column 5: " prefix (we report the place ourselves), printable on one line.
inline std::string json_parse_reason(const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos && what.starts_with("[json.exception"))
        what.erase(0, p + 2);
    if (what.starts_with("parse error")) {
        if (auto p = what.find(": "); p != std::string::npos) what.erase(0, p + 2);
    }
    return printable(what);
}

// Why a JSON text was refused.
struct JsonFault {
    enum class Kind {
        syntax,         // at `byte`: the parser's bytes read, the offending one included
        invalid,        // no position: a number beyond a double ("1e400")
        duplicate_key,  // `key` named twice in one object, at `path`
    } kind = Kind::syntax;
    std::size_t byte = 0;
    std::string reason;  // syntax, invalid: the parser's reason, printable
    std::string path;    // duplicate_key: the object's place, e.g. "'messages'[0]"; "" = the top
    std::string key;     // duplicate_key: printable
};

// A SAX handler that builds the value as nlohmann's own parser does, except that a key an
// object already has stops the parse (nlohmann keeps the last one: {"input_ids": [1],
// "input_ids": [2]} would read as [2]). The check is the map insertion itself (try_emplace),
// so it costs nothing beyond building the value.
class StrictJsonBuilder {
public:
    using json = nlohmann::json;
    explicit StrictJsonBuilder(json& root) : root_(root) {}

    bool null() { return put(nullptr); }
    bool boolean(bool v) { return put(v); }
    bool number_integer(json::number_integer_t v) { return put(v); }
    bool number_unsigned(json::number_unsigned_t v) { return put(v); }
    bool number_float(json::number_float_t v, const json::string_t&) { return put(v); }
    bool string(json::string_t& v) { return put(std::move(v)); }
    bool binary(json::binary_t& v) { return put(json::binary(std::move(v))); }
    bool start_object(std::size_t) { return open(json::value_t::object); }
    bool start_array(std::size_t) { return open(json::value_t::array); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }

    bool key(json::string_t& k) {
        // try_emplace leaves `k` alone when the key exists, so the message can name it.
        auto [it, fresh] = open_.back().value->get_ref<json::object_t&>().try_emplace(std::move(k));
        if (!fresh) {
            fault_ = JsonFault{JsonFault::Kind::duplicate_key, 0, {}, path(), printable(k)};
            return false;
        }
        open_.back().key = &it->first;
        slot_ = &it->second;
        return true;
    }

    bool parse_error(std::size_t byte, const std::string&, const json::exception& e) {
        const bool syntax = e.id / 100 == 1;  // 1xx: parse_error; 406 (out_of_range): a huge number
        fault_ = JsonFault{syntax ? JsonFault::Kind::syntax : JsonFault::Kind::invalid, byte,
                           json_parse_reason(e), {}, {}};
        return false;
    }

    std::optional<JsonFault>& fault() { return fault_; }

private:
    struct Open {
        json* value;
        const std::string* key = nullptr;  // an object's latest key (its map node's, stable)
    };

    // Stores a value where the parse stands: the root, the next array element, or the value
    // of the key just read. Returns true (go on), for the handlers above.
    template <class V>
    bool put(V&& v) {
        place(std::forward<V>(v));
        return true;
    }
    template <class V>
    json& place(V&& v) {
        if (open_.empty()) return root_ = json(std::forward<V>(v));
        json& parent = *open_.back().value;
        if (parent.is_array()) return parent.get_ref<json::array_t&>().emplace_back(std::forward<V>(v));
        return *slot_ = json(std::forward<V>(v));
    }
    bool open(json::value_t type) {
        open_.push_back(Open{&place(json(type))});
        return true;
    }
    bool close() {
        open_.pop_back();
        return true;
    }

    // The place of the innermost open object: "'model.vocab'", "'messages'[0]" (the project's
    // field notation: the leading keys quoted together, then [i] and .key).
    std::string path() const {
        std::string out;
        bool in_quotes = false, indexed = false;
        for (std::size_t i = 0; i + 1 < open_.size(); ++i) {
            const json& v = *open_[i].value;
            if (v.is_array()) {
                out += std::string(in_quotes ? "'" : "") + '[' + std::to_string(v.size() - 1) + ']';
                in_quotes = false;
                indexed = true;
                continue;
            }
            out += out.empty() ? "'" : ".";
            out += printable(*open_[i].key);
            in_quotes = !indexed;
        }
        return in_quotes ? out + "'" : out;
    }

    json& root_;
    std::vector<Open> open_;
    json* slot_ = nullptr;
    std::optional<JsonFault> fault_;
};

// Parses `text` into `out`; the fault if it is not valid JSON or names a key twice in an
// object.
inline std::optional<JsonFault> parse_json_strict(std::string_view text, nlohmann::json& out) {
    StrictJsonBuilder builder(out);
    try {
        if (nlohmann::json::sax_parse(text.begin(), text.end(), &builder)) return std::nullopt;
    } catch (const nlohmann::json::exception& e) {  // not expected: the handler takes the errors
        return JsonFault{JsonFault::Kind::invalid, 0, json_parse_reason(e), {}, {}};
    }
    return std::move(builder.fault());
}

// "field 'messages'[0]: duplicate key 'role' (a JSON object may name a field once)".
inline std::string duplicate_key_text(const JsonFault& f) {
    return (f.path.empty() ? "" : "field " + f.path + ": ") + "duplicate key '" + f.key +
           "' (a JSON object may name a field once)";
}

// The line (1-based) and column (1-based) of text[at].
inline std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t at) {
    const std::string_view before = text.substr(0, at);
    const std::size_t line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
    const std::size_t start = before.rfind('\n');  // npos on the first line
    return {line, start == std::string_view::npos ? at + 1 : at - start};
}

// Throws the one-line error for `f`: "<where>: not valid JSON at byte 7: <reason>" (or "at
// column"; see JsonPlace), "<where>: not valid UTF-8 at ..." when the bytes the parser read
// are not UTF-8 (saying so beats the parser's "ill-formed UTF-8 byte"), "<where>: not valid
// JSON: <reason>", "<where>: <duplicate_key_text>". `what` goes between the place and the
// words "not valid" ("header is "); a duplicate key's message does not use it.
[[noreturn]] inline void fail_json(const JsonFault& f, std::string_view text, const JsonWhere& where,
                                   JsonPlace place, std::string_view what = "") {
    if (f.kind == JsonFault::Kind::duplicate_key) fail(where.str(), ": ", duplicate_key_text(f));
    if (f.kind == JsonFault::Kind::invalid) fail(where.str(), ": ", what, "not valid JSON: ", f.reason);
    // The offending byte: the first one that is not UTF-8, else where the parser stopped.
    const std::size_t stop = std::min(f.byte, text.size());
    const std::size_t bad = first_invalid_utf8(text.substr(0, stop));
    const bool utf8 = bad != std::string_view::npos;
    const std::size_t at = utf8 ? bad : (f.byte ? f.byte - 1 : 0);
    JsonWhere place_where = where;
    std::string unit = where.line ? "column " : "byte ";
    std::size_t pos = at + 1;
    if (!where.line && place == JsonPlace::line_and_column) {
        std::tie(place_where.line, pos) = line_and_column(text, std::min(at, text.size()));
        unit = "column ";
    }
    const std::string file = place_where.str();
    if (utf8)
        fail(file, ": ", what, "not valid UTF-8 at ", unit, pos, " (byte ",
             hex_byte(static_cast<unsigned char>(text[at])),
             "; JSON text must be UTF-8: re-encode the file, e.g. with iconv -t UTF-8)");
    fail(file, ": ", what, "not valid JSON at ", unit, pos, ": ", f.reason);
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

// Parses JSON text; a syntax error, text that is not UTF-8, or a key named twice in one object
// (at any depth) is a one-line error naming `where` (see detail::fail_json).
inline nlohmann::json parse_json(std::string_view text, const JsonWhere& where,
                                 JsonPlace place = JsonPlace::byte) {
    nlohmann::json out;
    if (const auto fault = detail::parse_json_strict(text, out)) detail::fail_json(*fault, text, where, place);
    return out;
}

// A whole file's bytes.
inline std::string read_file_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path.string(), ": cannot open the file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) fail(path.string(), ": read error");
    return text.str();
}

// Reads and parses a whole JSON file (config.json and the like).
inline nlohmann::json read_json_file(const std::filesystem::path& path, JsonPlace place = JsonPlace::byte) {
    return parse_json(read_file_bytes(path), JsonWhere{path.string(), 0}, place);
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
