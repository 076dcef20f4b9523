// Tests of io/ (atomic writes, JSON fields, safetensors) and nn/model_dir.hpp.
#define BOOST_TEST_MODULE test_io
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "tokclean/core/rng.hpp"
#include "tokclean/io/atomic_file.hpp"
#include "tokclean/io/json_fields.hpp"
#include "tokclean/io/safetensors.hpp"
#include "tokclean/nn/model_dir.hpp"

#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tokclean;
using test_support::expect_error;
using test_support::TempDir;

namespace {

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}
void write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
}

// A safetensors file from a header text and a data section.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
    std::string out(8, '\0');
    const std::uint64_t n = header.size();
    for (int k = 0; k < 8; ++k) out[k] = static_cast<char>((n >> (8 * k)) & 0xff);
    return out + header + data;
}
std::string le16(std::initializer_list<std::uint16_t> values) {
    std::string out;
    for (auto v : values) {
        out.push_back(static_cast<char>(v & 0xff));
        out.push_back(static_cast<char>(v >> 8));
    }
    return out;
}
std::string le_f32(std::initializer_list<float> values) {
    std::string out;
    for (float v : values) {
        std::uint32_t b;
        std::memcpy(&b, &v, 4);
        for (int k = 0; k < 4; ++k) out.push_back(static_cast<char>((b >> (8 * k)) & 0xff));
    }
    return out;
}

GptConfig tiny_config() { return GptConfig::pretokenized(2, 2, 8, 11, 5); }
GptParams<Cpu> random_params(const GptConfig& c, std::uint64_t seed) {
    GptParams<Cpu> p(c);
    Rng rng(seed);
    for (auto& x : p.flat().span()) x = static_cast<float>(rng.normal());
    return p;
}
bool same_values(const GptParams<Cpu>& a, const GptParams<Cpu>& b) {
    return a.numel() == b.numel() &&
           std::equal(a.flat().span().begin(), a.flat().span().end(), b.flat().span().begin());
}

// Writes `tensors` of `config`'s parameters under the given names (one per GptParamKey,
// renamed by `rename`, skipped when it returns ""), plus `extra` entries.
void write_params_as(const fs::path& file, const GptConfig& c, const GptParams<Cpu>& p,
                     const std::function<std::string(const std::string&)>& rename,
                     std::vector<SafetensorsEntry> extra = {}) {
    std::vector<SafetensorsEntry> entries;
    for (const auto& k : gpt_param_keys(c)) {
        const std::string name = rename(k.name);
        if (name.empty()) continue;
        const float* data = p[k.param].data() + (k.layer < 0 ? 0 : k.layer * k.shape.numel());
        entries.push_back({name, data, k.shape});
    }
    for (auto& e : extra) entries.push_back(e);
    save_safetensors(file, entries, {{"format", "pt"}});
}

}  // namespace

// ---- atomic files ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(atomic_file_replaces_on_commit) {
    TempDir dir;
    const auto target = dir / "out.jsonl";
    write_text(target, "old\n");
    {
        AtomicFile f(target);
        f.stream() << "new ";
        f.write("content\n");
        BOOST_TEST(read_text(target) == "old\n");  // untouched until commit
        BOOST_TEST(fs::exists(f.temp_path()));
        BOOST_TEST(f.temp_path().parent_path() == target.parent_path());
        f.commit();
        BOOST_TEST(!fs::exists(f.temp_path()));
    }
    BOOST_TEST(read_text(target) == "new content\n");
    BOOST_TEST(dir.entries() == std::vector<std::string>{"out.jsonl"});
}

BOOST_AUTO_TEST_CASE(atomic_file_leaves_nothing_on_failure) {
    TempDir dir;
    const auto target = dir / "out.jsonl";
    try {
        AtomicFile f(target);
        f.write("partial");
        throw Error("bad input");
    } catch (const Error&) {
    }
    BOOST_TEST(!fs::exists(target));
    BOOST_TEST(dir.entries().empty());

    // An existing target survives a failed rewrite.
    write_text(target, "old");
    {
        AtomicFile f(target);
        f.write("partial");
    }
    BOOST_TEST(read_text(target) == "old");
    BOOST_TEST(dir.entries() == std::vector<std::string>{"out.jsonl"});
}

BOOST_AUTO_TEST_CASE(atomic_file_creates_parent_directories) {
    TempDir dir;
    const auto target = dir.path / "a" / "b" / "out.txt";
    AtomicFile f(target);
    f.write("x");
    f.commit();
    BOOST_TEST(read_text(target) == "x");
}

BOOST_AUTO_TEST_CASE(atomic_directory_semantics) {
    TempDir dir;
    const auto target = dir / "model";
    {
        AtomicDirectory d(target);
        write_text(d.path() / "a.txt", "1");
        BOOST_TEST(!fs::exists(target));
        d.commit();
    }
    BOOST_TEST(read_text(target / "a.txt") == "1");

    // Replacing loses nothing: a directory holding a file the new one would not is refused,
    // up front (expect_files) and at commit, and stays as it was.
    expect_error([&] { AtomicDirectory(target).expect_files({"b.txt"}); },
                 {"model: exists and holds 'a.txt', which the new directory would not keep"});
    {
        AtomicDirectory d(target);
        write_text(d.path() / "b.txt", "2");
        expect_error([&] { d.commit(); }, {"model: exists and holds 'a.txt'"});
    }
    BOOST_TEST(read_text(target / "a.txt") == "1");
    BOOST_TEST(dir.entries() == std::vector<std::string>{"model"});
    // ... and replaced as a whole when it holds nothing but files written anew: no siblings remain.
    {
        AtomicDirectory d(target);
        write_text(d.path() / "a.txt", "1b");
        write_text(d.path() / "b.txt", "2");
        d.commit();
    }
    BOOST_TEST(read_text(target / "a.txt") == "1b");
    BOOST_TEST(read_text(target / "b.txt") == "2");
    BOOST_TEST(dir.entries() == std::vector<std::string>{"model"});
    // keep_other_files (--force): the new files land beside the old ones.
    {
        AtomicDirectory d(target, ExistingDirectory::keep_other_files);
        write_text(d.path() / "c.txt", "3");
        d.commit();
    }
    BOOST_TEST(read_text(target / "a.txt") == "1b");
    BOOST_TEST(read_text(target / "c.txt") == "3");
    BOOST_TEST(dir.entries() == std::vector<std::string>{"model"});
    fs::remove(target / "c.txt");
    fs::remove(target / "a.txt");

    // Not committed: the old directory stays, the temporary is removed.
    {
        AtomicDirectory d(target);
        write_text(d.path() / "c.txt", "3");
    }
    BOOST_TEST(fs::exists(target / "b.txt"));
    BOOST_TEST(!fs::exists(target / "c.txt"));
    BOOST_TEST(dir.entries() == std::vector<std::string>{"model"});

    // Two writers of one directory: the second is refused while the first holds it.
    {
        AtomicDirectory first(target);
        expect_error([&] { AtomicDirectory second(target); }, {"model is in use by another tokclean run (pid "});
    }
    BOOST_TEST(dir.entries() == std::vector<std::string>{"model"});

    // A trailing slash names the same directory.
    {
        AtomicDirectory d(target.string() + "/");
        BOOST_TEST(d.target() == target);
    }

    write_text(dir / "file", "x");
    expect_error([&] { AtomicDirectory d(dir / "file"); }, {"file", "not a directory"});
}

// ---- JSON fields -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(json_fields_errors_name_the_place) {
    const JsonWhere w{"cfg.json", 0};
    const JsonWhere wl{"data.jsonl", 7};
    const auto j = nlohmann::json::parse(R"({"a": 3, "s": "x", "f": 1.5, "n": null, "b": true})");
    BOOST_TEST(require_int(j, "a", w) == 3);
    BOOST_TEST(optional_int(j, "missing", 9, w) == 9);
    BOOST_TEST(optional_int(j, "n", 9, w) == 9);  // null = absent
    BOOST_TEST(optional_string(j, "s", "d", w) == "x");
    BOOST_TEST(optional_number(j, "f", 0.0, w) == 1.5);
    BOOST_TEST(require_bool(j, "b", w));
    expect_error([&] { require_int(j, "zz", wl); }, {"data.jsonl:7: missing required field 'zz'"});
    expect_error([&] { require_int(j, "s", w); }, {"cfg.json: field 's': expected an integer, got a string"});
    expect_error([&] { require_int(j, "f", w); }, {"cfg.json: field 'f': expected an integer, got 1.5"});
    expect_error([&] { require_string(j, "a", w); }, {"field 'a': expected a string, got 3"});
    expect_error([&] { reject_unknown_fields(j, {"a", "s"}, wl); },
                 {"data.jsonl:7: unknown field '", "expected: a, s"});
    expect_error([&] { require_object(nlohmann::json::array(), wl); },
                 {"data.jsonl:7: expected a JSON object, got an array"});
    expect_error([&] { parse_json("{\"a\": 1,, }", wl); }, {"data.jsonl:7: not valid JSON at column 9"});
    const auto big = nlohmann::json::parse(R"({"x": 3000000000})");
    expect_error([&] { require_int(big, "x", w); }, {"field 'x': 3000000000 is outside"});
}

// nlohmann::json keeps the last of duplicate keys; parse_json refuses them at any depth,
// naming the object by the project's field notation.
BOOST_AUTO_TEST_CASE(json_duplicate_keys_are_refused) {
    const JsonWhere w{"cfg.json", 0};
    const JsonWhere wl{"data.jsonl", 3};
    const std::string once = " (a JSON object may name a field once)";
    expect_error([&] { parse_json(R"({"input_ids": [1, 2, 3], "input_ids": [4, 5, 6], "labels": [1, 2, 3]})", wl); },
                 {"data.jsonl:3: duplicate key 'input_ids'" + once});
    expect_error([&] { parse_json(R"({"messages": [{"role": "user"}, {"role": "assistant", "role": "user"}]})", wl); },
                 {"data.jsonl:3: field 'messages'[1]: duplicate key 'role'" + once});
    expect_error([&] { parse_json(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "a": 2}}})", w); },
                 {"cfg.json: field 'model.vocab': duplicate key 'a'" + once});
    expect_error([&] { parse_json(R"({"x": [[1], [2, {"k": {"a": 1, "a": 1}}]]})", w); },
                 {"cfg.json: field 'x'[1][1].k: duplicate key 'a'"});
    expect_error([&] { parse_json(R"([{}, {"a": 1, "a": 2}])", w); }, {"cfg.json: field [1]: duplicate key 'a'"});
    // Keys are printed escaped; a key's path too. A later syntax error does not hide it.
    expect_error([&] { parse_json("{\"a\\u001b\": 1, \"a\\u001b\": 2}", wl); },
                 {"data.jsonl:3: duplicate key 'a\\x1b'"});
    expect_error([&] { parse_json("{\"p\\n\": {\"q\": 1, \"q\": 2,,", wl); },
                 {"data.jsonl:3: field 'p\\x0a': duplicate key 'q'"});
    // The same key in different objects, and duplicate values, are fine.
    const auto j = parse_json(R"({"a": {"a": 1, "b": [{"a": 2}, {"a": 3}]}, "b": "a", "c": [1, 1]})", w);
    BOOST_TEST(j["a"]["b"][1]["a"] == 3);
    BOOST_TEST(j.dump() == R"({"a":{"a":1,"b":[{"a":2},{"a":3}]},"b":"a","c":[1,1]})");
    BOOST_TEST(parse_json("7", w) == 7);
    BOOST_TEST(parse_json(" [null, true, -1, 18446744073709551615, 0.5, \"s\", {}, []] ", w).dump() ==
               "[null,true,-1,18446744073709551615,0.5,\"s\",{},[]]");
    // Whole files may name the line and column of a syntax error instead of the byte.
    expect_error([&] { parse_json("{\n  \"a\": 1,\n  \"b\": 2,,\n}", w, JsonPlace::line_and_column); },
                 {"cfg.json:3: not valid JSON at column 10: "});
    expect_error([&] { parse_json("{\n  \"a\": 1,\n  \"b\": 2,,\n}", w); }, {"cfg.json: not valid JSON at byte 22: "});
    expect_error([&] { parse_json("{\n\"a\xff\": 1}", w, JsonPlace::line_and_column); },
                 {"cfg.json:2: not valid UTF-8 at column 3 (byte 0xff; JSON text must be UTF-8"});
    expect_error([&] { parse_json("{\"a\": 1, \"a\": 2}", w, JsonPlace::line_and_column); },
                 {"cfg.json: duplicate key 'a'"});
}

// ---- safetensors: round trip and decoding ------------------------------------------------

BOOST_AUTO_TEST_CASE(safetensors_f32_round_trip) {
    TempDir dir;
    const auto file = dir / "t.safetensors";
    std::vector<float> a = {1.f, -2.5f, 3.25f, 0.f, 1e-30f, -7.f};  // (2, 3)
    std::vector<float> b = {42.f};                                   // ()
    std::vector<float> c(2 * 1 * 2 * 3);                             // (2, 1, 2, 3)
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = 0.5f * static_cast<float>(i);
    const std::vector<SafetensorsEntry> entries = {
        {"zeta", a.data(), Shape{2, 3}}, {"alpha", b.data(), Shape{}}, {"mid", c.data(), Shape{2, 1, 2, 3}}};
    save_safetensors(file, entries, {{"format", "pt"}, {"k", "v"}});
    BOOST_TEST(dir.entries() == std::vector<std::string>{"t.safetensors"});

    const std::string bytes = read_text(file);
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    BOOST_TEST(n % 8 == 0);
    BOOST_TEST(bytes.size() == 8 + n + 4 * (6 + 1 + 12));

    const SafetensorsFile st(file);
    BOOST_TEST(st.names() == (std::vector<std::string>{"zeta", "alpha", "mid"}));  // file order
    BOOST_TEST(st.metadata().at("format") == "pt");
    BOOST_TEST(st.metadata().at("k") == "v");
    BOOST_TEST((st.dtype("zeta") == Dtype::F32));
    BOOST_TEST(st.shape("mid") == (std::vector<std::int64_t>{2, 1, 2, 3}));
    BOOST_TEST(st.shape("alpha").empty());
    const auto ta = st.to_float("zeta");
    BOOST_TEST((ta.shape() == (Shape{2, 3})));
    BOOST_TEST(std::vector<float>(ta.span().begin(), ta.span().end()) == a);
    BOOST_TEST(st.to_float("alpha")(0) == 42.f);
    const auto tc = st.to_float("mid");
    BOOST_TEST(std::vector<float>(tc.span().begin(), tc.span().end()) == c);
    expect_error([&] { (void)st.tensor("nope"); }, {"t.safetensors: no tensor 'nope'"});

    expect_error([&] { save_safetensors(dir / "d.safetensors", std::vector<SafetensorsEntry>{
                                                                   {"x", b.data(), Shape{1}},
                                                                   {"x", b.data(), Shape{1}}}); },
                 {"d.safetensors", "tensor 'x' given twice"});
    BOOST_TEST(!fs::exists(dir / "d.safetensors"));
}

// A file is mapped and each tensor's pages let go once read: reading the tensors again (a
// large one spanning many pages, in any order) gives the same values; a moved file object
// keeps its mapping.
BOOST_AUTO_TEST_CASE(safetensors_mapped_tensors_read_again_after_being_let_go) {
    TempDir dir;
    const auto file = dir / "big.safetensors";
    std::vector<float> big(300000), small = {1.f, 2.f, 3.f};
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 9973) * 0.25f;
    save_safetensors(file, std::vector<SafetensorsEntry>{{"big", big.data(), Shape{600, 500}}, {"small", small.data(), Shape{3}}});
    SafetensorsFile first(file);
    const SafetensorsFile st = std::move(first);
    for (int round = 0; round < 3; ++round) {
        std::vector<float> got(big.size()), got_small(3);
        st.read_float("big", got);
        st.read_float("small", got_small);
        BOOST_TEST(got == big);
        BOOST_TEST(got_small == small);
    }
    const auto bytes = st.bytes("small");
    BOOST_TEST(bytes.size() == 12u);
}

BOOST_AUTO_TEST_CASE(safetensors_f16_bf16_decode) {
    TempDir dir;
    // F16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, inf, 0.333251953125
    const std::string f16 = le16({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0x3555});
    // BF16: 1, -2, 3.140625, 1e38-ish (0x7E96 = 0x7E960000 as float), -inf
    const std::string bf16 = le16({0x3F80, 0xC000, 0x4049, 0x7E96, 0xFF80});
    const std::string header =
        R"({"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]},)"
        R"("b":{"dtype":"BF16","shape":[5],"data_offsets":[16,26]},)"
        R"("n":{"dtype":"F16","shape":[1],"data_offsets":[26,28]}})";
    write_text(dir / "h.safetensors", safetensors_bytes(header, f16 + bf16 + le16({0x7E00})));
    const SafetensorsFile st(dir / "h.safetensors");
    const auto h = st.to_float("h");
    BOOST_TEST((h.shape() == (Shape{2, 4})));
    const std::vector<float> want_h = {1.f, -2.f, 0.5f, 65504.f, std::ldexp(1.f, -24), -0.f,
                                       std::numeric_limits<float>::infinity(), 0.333251953125f};
    for (int i = 0; i < 8; ++i) BOOST_TEST(h.span()[i] == want_h[i]);
    BOOST_TEST(std::signbit(h.span()[5]));
    const auto b = st.to_float("b");
    std::uint32_t big_bits = 0x7E960000u;
    float big;
    std::memcpy(&big, &big_bits, 4);
    const std::vector<float> want_b = {1.f, -2.f, 3.140625f, big, -std::numeric_limits<float>::infinity()};
    for (int i = 0; i < 5; ++i) BOOST_TEST(b.span()[i] == want_b[i]);
    BOOST_TEST(std::isnan(st.to_float("n")(0)));

    // Every F16 bit pattern against the arithmetic definition.
    for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
        const std::uint32_t e = (bits >> 10) & 31, m = bits & 1023;
        if (e == 31) continue;
        const double mag = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1.0 + m / 1024.0, int(e) - 15);
        const double want = (bits & 0x8000) ? -mag : mag;
        if (f16_to_float(static_cast<std::uint16_t>(bits)) != static_cast<float>(want)) {
            BOOST_ERROR("f16 bits " << bits);
            break;
        }
    }
}

// ---- safetensors: validation -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(safetensors_validation_errors) {
    TempDir dir;
    const auto file = dir / "bad.safetensors";
    auto check = [&](const std::string& bytes, const std::vector<std::string>& parts) {
        write_text(file, bytes);
        std::vector<std::string> all = {file.string() + ": "};
        all.insert(all.end(), parts.begin(), parts.end());
        expect_error([&] { SafetensorsFile st(file); }, all);
    };
    const std::string four = le_f32({1.f});
    const std::string eight = le_f32({1.f, 2.f});

    for (const auto& [bytes, parts] : std::vector<std::pair<std::string, std::vector<std::string>>>{
         {"abc", {"file is 3 bytes, shorter than the 8-byte header length"}},
         {std::string("\xe8\x03\0\0\0\0\0\0", 8) + "{}", {"header length 1000 exceeds the 2 bytes"}},
         {safetensors_bytes("{\"a\": ", ""), {"header is not valid JSON"}},
         {safetensors_bytes("[1, 2]", ""), {"header is not a JSON object"}},
         {safetensors_bytes(R"({"a":{"dtype":"F13","shape":[1],"data_offsets":[0,4]}})", four), {"tensor 'a': unknown dtype 'F13'"}},
         {safetensors_bytes(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", four), {"tensor 'a': missing required field 'dtype'"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", four), {"tensor 'a': unknown field 'x'"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", four), {"tensor 'a': field 'shape': expected a list of non-negative integers"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", four), {"tensor 'a': field 'shape'[0]: expected a non-negative integer, got -1"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", four), {"tensor 'a': field 'shape'[0]: expected an integer"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", four), {"tensor 'a': field 'data_offsets': expected [begin, end], got 1 values"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", eight), {"tensor 'a': data_offsets [8, 4] have begin > end"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four), {"tensor 'a': data_offsets [0, 4] span 4 bytes but shape [2] of F32 needs 8"}},
         {safetensors_bytes(
              R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", ""), {"tensor 'a'", "needs more than 2^64"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", four), {"tensor 'a': data_offsets [0, 8] exceed the data section of 4 bytes"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                            eight + four), {"tensors 'a' [0, 8] and 'b' [4, 12] overlap"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                            eight + four), {"bytes [4, 8) of the data section belong to no tensor"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight), {"bytes [4, 8) of the data section belong to no tensor"}},
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                            eight), {"tensor 'a' appears more than once"}},
         // A key twice inside an entry or in the metadata: the spec's JSON has no room for it either.
         {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"dtype":"F16","data_offsets":[0,4]}})", four), {"header: field 'a': duplicate key 'dtype' (a JSON object may name a field once)"}},
         {safetensors_bytes(R"({"__metadata__":{"format":"pt","format":"np"},)"
                            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                            four), {"header: field '__metadata__': duplicate key 'format'"}},
         {safetensors_bytes(R"({"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                            four), {"'__metadata__' field 'format': expected a string, got 1"}},
         {safetensors_bytes(R"({"__metadata__":["pt"],"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                            four), {"'__metadata__' must be an object of strings"}}})
        check(bytes, parts);

    // A recognised dtype we cannot convert: the file opens, to_float says why.
    write_text(file, safetensors_bytes(R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", eight));
    const SafetensorsFile st(file);
    BOOST_TEST((st.dtype("i") == Dtype::I64));
    expect_error([&] { (void)st.to_float("i"); },
                 {"bad.safetensors: tensor 'i': unsupported dtype I64 (tokclean reads F32, F16 and BF16)"});

    // Zero-element tensors and spaces after the header are valid.
    write_text(file, safetensors_bytes(R"({"e":{"dtype":"F16","shape":[0,3],"data_offsets":[0,0]},)"
                                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   )",
                                       four));
    const SafetensorsFile ok(file);
    BOOST_TEST(ok.to_float("e").numel() == 0);
    BOOST_TEST(ok.to_float("a")(0) == 1.f);
}

// ---- config.json -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(config_round_trip) {
    TempDir dir;
    GptConfig c;
    c.n_layer = 3;
    c.n_head = 2;
    c.n_embd = 16;
    c.vocab_size = 300;
    c.n_positions = 64;
    c.layer_norm_epsilon = 1e-5f;
    c.tokenizer = "byte";
    c.eos_token_id = 256;
    save_gpt_config(dir.path, c);
    const auto j = nlohmann::json::parse(read_text(dir / "config.json"));
    BOOST_TEST(j["model_type"] == "gpt2");
    BOOST_TEST(j["architectures"][0] == "GPT2LMHeadModel");
    BOOST_TEST(j["n_ctx"] == 64);
    BOOST_TEST(j["layer_norm_epsilon"].get<double>() == 1e-5);  // the short decimal, not float noise
    BOOST_TEST(j["activation_function"] == "gelu_new");
    BOOST_TEST(j["bos_token_id"] == 256);
    BOOST_TEST(j["tie_word_embeddings"] == true);
    BOOST_TEST(j["n_inner"].is_null());
    BOOST_TEST(j["tokclean_tokenizer"] == "byte");

    const GptConfig r = load_gpt_config(dir.path);
    BOOST_TEST(r.n_layer == 3);
    BOOST_TEST(r.n_head == 2);
    BOOST_TEST(r.n_embd == 16);
    BOOST_TEST(r.vocab_size == 300);
    BOOST_TEST(r.n_positions == 64);
    BOOST_TEST(r.layer_norm_epsilon == 1e-5f);
    BOOST_TEST(r.tokenizer == "byte");
    BOOST_TEST(r.eos_token_id == 256);

    c.tokenizer = "";
    c.eos_token_id = 299;
    save_gpt_config(dir.path, c);
    BOOST_TEST(load_gpt_config(dir.path).tokenizer == "");
    BOOST_TEST(nlohmann::json::parse(read_text(dir / "config.json"))["tokclean_tokenizer"] == "none");
}

BOOST_AUTO_TEST_CASE(config_errors_and_defaults) {
    TempDir dir;
    const auto cfg = dir / "config.json";
    const std::string base = R"("n_layer": 2, "n_head": 2, "n_embd": 8, "vocab_size": 300, "n_positions": 16)";
    auto load_with = [&](const std::string& extra) {
        write_text(cfg, "{" + base + extra + "}");
        return load_gpt_config(dir.path);
    };
    // No tokclean_tokenizer: "none" without tokenizer files, "gpt2-bpe" with them.
    GptConfig c = load_with("");
    BOOST_TEST(c.tokenizer == "");
    BOOST_TEST(c.eos_token_id == 299);
    BOOST_TEST(c.layer_norm_epsilon == 1e-5f);
    write_text(dir / "vocab.json", "{}");
    BOOST_TEST(load_with("").tokenizer == "gpt2-bpe");
    fs::remove(dir / "vocab.json");
    BOOST_TEST(load_with(R"(, "tokclean_tokenizer": "byte")").eos_token_id == 256);
    BOOST_TEST(load_with(R"(, "eos_token_id": 5, "layer_norm_epsilon": 1e-6)").eos_token_id == 5);

    const std::string where = cfg.string();
    expect_error([&] { load_with(R"(, "model_type": "llama")"); },
                 {where, "field 'model_type': expected \"gpt2\""});
    expect_error([&] { load_with(R"(, "tokclean_tokenizer": "sp")"); },
                 {where, "field 'tokclean_tokenizer'"});
    expect_error([&] { load_with(R"(, "n_inner": 100)"); }, {where, "field 'n_inner'"});
    expect_error([&] { load_with(R"(, "activation_function": "relu")"); },
                 {where, "field 'activation_function'"});
    expect_error([&] { load_with(R"(, "eos_token_id": 300)"); }, {where, "field 'eos_token_id'"});
    expect_error([&] { load_with(R"(, "n_ctx": 16, "n_layer": "2")"); }, {});
    write_text(cfg, R"({"n_head": 2, "n_embd": 8, "vocab_size": 300, "n_positions": 16})");
    expect_error([&] { load_gpt_config(dir.path); }, {where, "missing required field 'n_layer'"});
    write_text(cfg, R"({"n_layer": 2, "n_head": 3, "n_embd": 8, "vocab_size": 300, "n_positions": 16})");
    expect_error([&] { load_gpt_config(dir.path); }, {where, "not divisible"});
    write_text(cfg, R"({"n_layer": 2, "n_head": 2, "n_embd": 8, "vocab_size": 200, "n_positions": 16,
                        "tokclean_tokenizer": "byte"})");
    expect_error([&] { load_gpt_config(dir.path); }, {where, "byte tokenizer needs >= 257"});
    write_text(cfg, "{" + base + R"(, "n_layer": 4})");
    expect_error([&] { load_gpt_config(dir.path); },
                 {where + ": duplicate key 'n_layer' (a JSON object may name a field once)"});
    expect_error([&] { parse_gpt_config("{" + base + R"(, "task_specific_params": {"a": {"b": 1, "b": 2}}})",
                                        "x/config.json", false); },
                 {"x/config.json: field 'task_specific_params.a': duplicate key 'b'"});
    write_text(cfg, "{\n  \"n_layer\": 2,\n  oops\n}");
    expect_error([&] { load_gpt_config(dir.path); }, {where, "not valid JSON"});
    fs::remove(cfg);
    expect_error([&] { load_gpt_config(dir.path); }, {where, "cannot open"});
}

// ---- model.safetensors -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(model_dir_round_trip) {
    TempDir dir;
    const GptConfig c = tiny_config();
    const auto params = random_params(c, 1);
    save_model_dir(dir / "m", c, params);
    BOOST_TEST(dir.entries() == std::vector<std::string>{"m"});
    const SafetensorsFile st(dir / "m" / "model.safetensors");
    BOOST_TEST(st.metadata().at("format") == "pt");
    BOOST_TEST(st.names().front() == "wte.weight");
    BOOST_TEST(st.names()[2] == "h.0.ln_1.weight");
    BOOST_TEST(st.names().back() == "ln_f.bias");
    BOOST_TEST(st.names().size() == 2 + 12 * 2 + 2);
    BOOST_TEST(st.shape("h.1.attn.c_attn.weight") == (std::vector<std::int64_t>{8, 24}));

    const auto loaded = load_model_dir(dir / "m");
    BOOST_TEST(loaded.config.n_layer == 2);
    BOOST_TEST(same_values(loaded.params, params));
    // Layer 1's slice in the stacked tensor comes from h.1.*.
    const auto h1 = st.to_float("h.1.mlp.c_fc.bias");
    BOOST_TEST(std::equal(h1.span().begin(), h1.span().end(), loaded.params.layer(1).fc_b));

    // Saving again replaces the directory; extra files are copied in.
    write_text(dir / "vocab.json", "{}");
    const auto params2 = random_params(c, 2);
    const std::vector<fs::path> extra = {dir / "vocab.json"};
    save_model_dir(dir / "m", c, params2, extra);
    BOOST_TEST(same_values(load_model_dir(dir / "m").params, params2));
    BOOST_TEST(fs::exists(dir / "m" / "vocab.json"));
    BOOST_TEST(dir.entries() == (std::vector<std::string>{"m", "vocab.json"}));

    expect_error([&] { load_model_dir(dir / "nope"); }, {"nope", "not a model directory"});
}

BOOST_AUTO_TEST_CASE(load_params_with_prefix_buffers_and_tied_head) {
    TempDir dir;
    const GptConfig c = tiny_config();
    const auto params = random_params(c, 3);
    std::vector<float> mask(25, 1.f);
    const std::vector<SafetensorsEntry> extra = {
        {"transformer.h.0.attn.bias", mask.data(), Shape{1, 1, 5, 5}},
        {"transformer.h.1.attn.masked_bias", mask.data(), Shape{}},
        {"lm_head.weight", params[GptParam::wte].data(), params[GptParam::wte].shape()}};
    write_params_as(dir / "model.safetensors", c, params,
                    [](const std::string& n) { return "transformer." + n; }, extra);
    BOOST_TEST(same_values(load_gpt_params(dir.path, c), params));
}

BOOST_AUTO_TEST_CASE(load_params_errors) {
    TempDir dir;
    const GptConfig c = tiny_config();
    auto params = random_params(c, 4);
    const auto file = dir / "model.safetensors";
    const std::string where = file.string();
    auto same = [](const std::string& n) { return n; };

    std::vector<float> junk(24, 0.f);
    write_params_as(file, c, params, same, {{"h.0.attn.rotary", junk.data(), Shape{24}}});
    expect_error([&] { load_gpt_params(dir.path, c); }, {where, "unknown tensor 'h.0.attn.rotary'"});

    write_params_as(file, c, params, same, {{"h.2.ln_1.weight", junk.data(), Shape{8}}});
    expect_error([&] { load_gpt_params(dir.path, c); },
                 {where, "tensor 'h.2.ln_1.weight': layer 2 but config.json has n_layer = 2"});

    write_params_as(file, c, params, [](const std::string& n) { return n == "h.1.ln_2.bias" ? "" : n; });
    expect_error([&] { load_gpt_params(dir.path, c); },
                 {where, "missing tensor 'h.1.ln_2.bias' (expected shape [8])"});

    GptConfig wider = c;
    wider.vocab_size = 12;
    const auto wide = random_params(wider, 5);
    write_params_as(file, wider, wide, same);
    expect_error([&] { load_gpt_params(dir.path, c); },
                 {where, "tensor 'wte.weight': shape [12, 8] but config.json implies [11, 8]"});

    params.layer(1).qkv_w[7] = std::numeric_limits<float>::quiet_NaN();
    write_params_as(file, c, params, [](const std::string& n) { return "transformer." + n; });
    expect_error([&] { load_gpt_params(dir.path, c); },
                 {where, "tensor 'transformer.h.1.attn.c_attn.weight': element 7 is nan"});
    params.layer(1).qkv_w[7] = 0.f;

    const auto other = random_params(c, 6);
    write_params_as(file, c, params, same,
                    {{"lm_head.weight", other[GptParam::wte].data(), other[GptParam::wte].shape()}});
    expect_error([&] { load_gpt_params(dir.path, c); },
                 {where, "tensor 'lm_head.weight' differs from wte.weight"});

    write_params_as(file, c, params, same,
                    {{"transformer.wte.weight", params[GptParam::wte].data(), params[GptParam::wte].shape()}});
    expect_error([&] { load_gpt_params(dir.path, c); },
                 {where, "'wte.weight' and 'transformer.wte.weight' are the same parameter"});
}

// ---- the PyTorch-written fixture ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(fixture_models_written_by_pytorch) {
    const fs::path root = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_tiny";
    if (!fs::exists(root / "model" / "config.json")) {
        BOOST_TEST_MESSAGE("fixture " << root << " not present; skipped");
        return;
    }
    const auto f32 = load_model_dir(root / "model");
    BOOST_TEST(f32.config.n_layer == 2);
    BOOST_TEST(f32.config.n_embd == 32);
    BOOST_TEST(f32.config.vocab_size == 97);
    BOOST_TEST(f32.config.eos_token_id == 96);
    BOOST_TEST(f32.config.tokenizer == "");
    const SafetensorsFile st(root / "model" / "model.safetensors");
    const auto wpe = st.to_float("wpe.weight");
    BOOST_TEST(std::equal(wpe.span().begin(), wpe.span().end(), f32.params[GptParam::wpe].data()));

    // The F16 and BF16 (prefixed) copies hold the same weights, rounded.
    auto close = [&](const GptParams<Cpu>& p, float rel) {
        const auto a = f32.params.flat().span(), b = p.flat().span();
        for (std::size_t i = 0; i < a.size(); ++i)
            if (std::abs(a[i] - b[i]) > rel * std::abs(a[i]) + 1e-7f) return false;
        return true;
    };
    if (fs::exists(root / "model_f16" / "model.safetensors"))
        BOOST_TEST(close(load_model_dir(root / "model_f16").params, 1.0f / 1024));
    if (fs::exists(root / "model_bf16_prefixed" / "model.safetensors"))
        BOOST_TEST(close(load_model_dir(root / "model_bf16_prefixed").params, 1.0f / 128));

    // What we write reads back identically.
    TempDir dir;
    save_model_dir(dir / "copy", f32.config, f32.params);
    const auto copy = load_model_dir(dir / "copy");
    BOOST_TEST(same_values(copy.params, f32.params));
    // Same key order, header and padding as the Python safetensors writer: byte-identical.
    BOOST_CHECK_MESSAGE(read_text(dir / "copy" / "model.safetensors") ==
                            read_text(root / "model" / "model.safetensors"),
                        "model.safetensors written by tokclean differs from the PyTorch fixture");
    const auto ours = nlohmann::json::parse(read_text(dir / "copy" / "config.json"));
    const auto theirs = nlohmann::json::parse(read_text(root / "model" / "config.json"));
    for (const auto& [key, value] : theirs.items())
        BOOST_CHECK_MESSAGE(ours.contains(key) && ours[key] == value, "config.json field " << key);
}

// ---- hostile input found by fuzzing (tests/fuzz) ------------------------------------------

BOOST_AUTO_TEST_CASE(fuzz_findings_stay_fixed) {
    TempDir dir;
    const auto file = dir / "bad.safetensors";
    const std::string four = le_f32({1.f});
    // A name with a line break (and an escape sequence) is escaped: the message stays one line.
    write_text(file, safetensors_bytes("{\"a\\nb\\u001b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", four));
    expect_error([&] { SafetensorsFile st(file); }, {"tensor 'a\\x0ab\\x1b': data_offsets [0, 8] exceed"});
    // A number beyond a double in the header is an error of this file, not the JSON library's.
    write_text(file, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", four));
    expect_error([&] { SafetensorsFile st(file); }, {file.string() + ": header is not valid JSON: number overflow"});
    // Invalid UTF-8 in the header is named as such.
    write_text(file, safetensors_bytes("{\"\xff\":{}}", ""));
    expect_error([&] { SafetensorsFile st(file); }, {file.string() + ": header is not valid UTF-8 at byte 3 (byte 0xff"});

    // config.json: an epsilon beyond float (UB to convert), sizes whose products overflow.
    const auto cfg = dir / "config.json";
    const std::string base = R"("n_layer": 2, "n_head": 2, "n_embd": 8, "vocab_size": 300, "n_positions": 16)";
    write_text(cfg, "{" + base + R"(, "layer_norm_epsilon": 1e300})");
    expect_error([&] { load_gpt_config(dir.path); }, {"field 'layer_norm_epsilon': expected a number in (0, 1]"});
    write_text(cfg, R"({"n_layer": 2147483647, "n_head": 1, "n_embd": 2147483647, "vocab_size": 2147483647, "n_positions": 16})");
    expect_error([&] { load_gpt_config(dir.path); }, {"more than the 2^40 tokclean can hold"});
    write_text(cfg, "{" + base + R"(, "n_ctx": 1e999})");
    expect_error([&] { load_gpt_config(dir.path); }, {cfg.string() + ": not valid JSON: number overflow"});
    BOOST_TEST(parse_gpt_config("{" + base + "}", "x/config.json", true).tokenizer == "gpt2-bpe");

    // A config.json that claims a far larger model than model.safetensors holds fails on the
    // shape check, before the parameters are allocated.
    GptConfig small = tiny_config();
    save_model_dir(dir / "m", small, random_params(small, 9));
    auto j = nlohmann::json::parse(read_text(dir / "m" / "config.json"));
    j["n_layer"] = 1000;
    j["n_embd"] = 2048;
    j["n_head"] = 16;
    write_text(dir / "m" / "config.json", j.dump());
    expect_error([&] { load_model_dir(dir / "m"); }, {"model.safetensors: tensor 'wte.weight': shape [11, 8] but config.json implies [11, 2048]"});
}
