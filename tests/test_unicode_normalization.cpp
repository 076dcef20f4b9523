// Unicode normalization (data/unicode_normalization.hpp) against Python 3.11's unicodedata
// (Unicode 14.0.0): tests/data/unicode_normalization/vectors.jsonl, made by
// tests/python/make_normalization_tables.py, holds NFC, NFD, NFKC and NFKD of every code point
// that some form changes and of seeded random strings (combining marks in random order, Hangul
// jamo and syllables, compatibility characters, CJK compatibility ideographs, singletons,
// composition exclusions, long runs of marks); every one is checked byte for byte. Also:
// idempotence and nfc(nfd(x)) == nfc(x) on the random strings, ASCII returned as is, and invalid
// UTF-8 passing through as starters (and random bytes: every form idempotent).
#define BOOST_TEST_MODULE test_unicode_normalization
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/rng.hpp"
#include "tokclean/data/unicode_normalization.hpp"

namespace fs = std::filesystem;
using namespace tokclean;

namespace {

struct Vector {
    std::string source;
    std::array<std::string, 4> forms;  // nfc, nfd, nfkc, nfkd
    bool random = false;
};

constexpr std::array<const char*, 4> form_names = {"nfc", "nfd", "nfkc", "nfkd"};

std::string run_form(std::size_t k, std::string_view s) {
    switch (k) {
    case 0: return nfc(s);
    case 1: return nfd(s);
    case 2: return nfkc(s);
    default: return nfkd(s);
    }
}

const std::vector<Vector>& vectors() {
    static const std::vector<Vector> all = [] {
        const fs::path path = fs::path(TOKCLEAN_TEST_DATA) / "unicode_normalization" / "vectors.jsonl";
        std::ifstream in(path, std::ios::binary);
        BOOST_REQUIRE_MESSAGE(in, "missing " << path);
        std::vector<Vector> out;
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty()) continue;
            const auto j = nlohmann::json::parse(line);
            Vector v;
            v.source = j.at("source").get<std::string>();
            for (std::size_t k = 0; k < 4; ++k) v.forms[k] = j.value(form_names[k], v.source);  // absent: unchanged
            v.random = j.value("random", false);
            out.push_back(std::move(v));
        }
        return out;
    }();
    return all;
}

// "U+0041 U+0301 \xFF": code points for messages.
std::string code_points(std::string_view s) {
    std::string out;
    for (std::size_t i = 0, len = 0; i < s.size(); i += len) {
        const char32_t c = detail::decode_utf8(s, i, len);
        if (!out.empty()) out += ' ';
        if (c == detail::invalid_code_point) {
            out += "\\x";
            detail::append_hex2(out, static_cast<unsigned char>(s[i]), true);
            continue;
        }
        char buf[16];
        std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
        out += buf;
    }
    return out;
}

std::string u8(const char8_t* s) { return std::string(reinterpret_cast<const char*>(s)); }

}  // namespace

BOOST_AUTO_TEST_CASE(tables_are_unicode_14) {
    BOOST_TEST(detail::normalization::version == "14.0.0");
}

BOOST_AUTO_TEST_CASE(every_vector_matches_python) {
    const auto& all = vectors();
    std::size_t n_cp = 0, n_random = 0, mismatches = 0;
    for (const auto& v : all) {
        (v.random ? n_random : n_cp) += 1;
        for (std::size_t k = 0; k < 4; ++k) {
            const std::string got = run_form(k, v.source);
            if (got == v.forms[k]) continue;
            if (++mismatches <= 20)
                BOOST_ERROR(form_names[k] << "(" << code_points(v.source) << ") = " << code_points(got)
                                          << ", expected " << code_points(v.forms[k]));
        }
    }
    BOOST_TEST_MESSAGE(n_cp << " code points, " << n_random << " random strings, " << mismatches << " mismatches");
    BOOST_TEST(n_cp == 16967u);  // every code point that some form changes in Unicode 14.0.0
    BOOST_TEST(n_random >= 3000u);
    BOOST_TEST(mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(idempotent_and_composition_of_forms) {
    for (const auto& v : vectors()) {
        if (!v.random) continue;
        const std::string c = nfc(v.source), d = nfd(v.source), kc = nfkc(v.source), kd = nfkd(v.source);
        BOOST_CHECK_MESSAGE(nfc(c) == c, "nfc not idempotent on " << code_points(v.source));
        BOOST_CHECK_MESSAGE(nfc(d) == c, "nfc(nfd(x)) != nfc(x) on " << code_points(v.source));
        BOOST_CHECK_MESSAGE(nfd(c) == d, "nfd(nfc(x)) != nfd(x) on " << code_points(v.source));
        BOOST_CHECK_MESSAGE(nfd(d) == d, "nfd not idempotent on " << code_points(v.source));
        BOOST_CHECK_MESSAGE(nfkc(kc) == kc, "nfkc not idempotent on " << code_points(v.source));
        BOOST_CHECK_MESSAGE(nfkc(kd) == kc, "nfkc(nfkd(x)) != nfkc(x) on " << code_points(v.source));
        BOOST_CHECK_MESSAGE(nfkd(kd) == kd, "nfkd not idempotent on " << code_points(v.source));
        BOOST_CHECK_MESSAGE(nfkc(c) == kc, "nfkc(nfc(x)) != nfkc(x) on " << code_points(v.source));
    }
}

BOOST_AUTO_TEST_CASE(vectors_joined_with_ascii) {
    // The cut between stretches: each random vector between ASCII, and pairs of vectors joined
    // by a space (a place to cut in every form), give the forms of the parts joined.
    const auto& all = vectors();
    std::vector<const Vector*> rnd;
    for (const auto& v : all)
        if (v.random) rnd.push_back(&v);
    for (std::size_t i = 0; i + 1 < rnd.size(); ++i) {
        const Vector &a = *rnd[i], &b = *rnd[i + 1];
        for (std::size_t k = 0; k < 4; ++k) {
            BOOST_CHECK(run_form(k, "ab " + a.source + " " + b.source + "\n") ==
                        "ab " + a.forms[k] + " " + b.forms[k] + "\n");
        }
    }
}

BOOST_AUTO_TEST_CASE(ascii_is_returned_as_is) {
    std::string all;
    for (int c = 0; c < 128; ++c) all.push_back(static_cast<char>(c));
    Rng rng(7);
    std::vector<std::string> cases = {"", "a", all, all + all + all};
    for (int n = 0; n < 200; ++n) {
        std::string s;
        const auto len = rng.below(100);
        for (std::uint64_t k = 0; k < len; ++k) s.push_back(static_cast<char>(rng.below(128)));
        cases.push_back(s);
    }
    for (const auto& s : cases)
        for (std::size_t k = 0; k < 4; ++k) BOOST_CHECK(run_form(k, s) == s);
}

BOOST_AUTO_TEST_CASE(known_examples) {
    BOOST_TEST(nfc(u8(u8"e\u0301")) == u8(u8"\u00E9"));
    BOOST_TEST(nfd(u8(u8"\u00E9")) == u8(u8"e\u0301"));
    BOOST_TEST(nfkc(u8(u8"\uFB01")) == "fi");                        // ﬁ
    BOOST_TEST(nfkc(u8(u8"\u338F")) == "kg");                        // ㎏
    BOOST_TEST(nfkc(u8(u8"\uFF21\u00B2")) == "A2");                  // fullwidth A, superscript two
    BOOST_TEST(nfc(u8(u8"\u2126")) == u8(u8"\u03A9"));               // ohm sign: a singleton
    BOOST_TEST(nfc(u8(u8"\u1100\u1161\u11A8")) == u8(u8"\uAC01"));   // L V T -> 각
    BOOST_TEST(nfd(u8(u8"\uAC01")) == u8(u8"\u1100\u1161\u11A8"));
    BOOST_TEST(nfc(u8(u8"\uAC00\u11A8")) == u8(u8"\uAC01"));         // LV + T
    BOOST_TEST(nfc(u8(u8"\u0958")) == u8(u8"\u0915\u093C"));         // composition exclusion
    BOOST_TEST(nfc(u8(u8"a\u0323\u0301\u0307")) == u8(u8"\u1EA1\u0301\u0307"));
    BOOST_TEST(nfc(u8(u8"q\u0307\u0323")) == u8(u8"q\u0323\u0307"));  // reordered, nothing composes
    BOOST_TEST(nfkc(u8(u8"\uFF76\uFF9E")) == u8(u8"\u30AC"));        // halfwidth ｶﾞ -> ガ
    BOOST_TEST(nfc(u8(u8"\u0301abc")) == u8(u8"\u0301abc"));         // a mark at the start
}

BOOST_AUTO_TEST_CASE(invalid_utf8_passes_through_as_a_starter) {
    const std::string grave = u8(u8"\u0300"), acute = u8(u8"\u0301"), dot_below = u8(u8"\u0323");
    for (std::size_t k = 0; k < 4; ++k) {
        for (const std::string s : {"\xFF", "a\xC3", "\xC3(", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\x80\x80"})
            BOOST_CHECK(run_form(k, s) == s);
    }
    // Not composed across the byte; the marks after it are still ordered and composed among themselves.
    BOOST_TEST(nfc("e\xFF" + acute) == "e\xFF" + acute);
    BOOST_TEST(nfc("e" + acute + "\xFF") == u8(u8"\u00E9") + "\xFF");
    BOOST_TEST(nfc("\xFF" + acute + dot_below) == "\xFF" + dot_below + acute);
    BOOST_TEST(nfd(u8(u8"\u00E9") + "\xC3" + u8(u8"\u00E0")) == "e" + acute + "\xC3" + "a" + grave);
    const std::string fi = u8(u8"\uFB01");
    BOOST_TEST(nfkc("\xFE" + fi + "\xFE") == "\xFE" "fi\xFE");
    BOOST_TEST(nfc("a" + acute + "\xFF" + dot_below + acute) == u8(u8"\u00E1") + "\xFF" + dot_below + acute);
}

BOOST_AUTO_TEST_CASE(random_bytes_are_idempotent) {
    // Random bytes mixed with pieces of the vectors: every form is idempotent, and the bytes
    // that are not UTF-8 come out as they went in (the same count of each invalid byte).
    const auto& all = vectors();
    Rng rng(11);
    for (int n = 0; n < 3000; ++n) {
        std::string s;
        const auto parts = 1 + rng.below(6);
        for (std::uint64_t p = 0; p < parts; ++p) {
            if (rng.below(2)) {
                const auto len = rng.below(6);
                for (std::uint64_t k = 0; k < len; ++k) s.push_back(static_cast<char>(rng.below(256)));
            } else {
                s += all[rng.below(all.size())].source;
            }
        }
        const auto invalid = [](std::string_view x) {
            std::string bytes;
            for (std::size_t i = 0, len = 0; i < x.size(); i += len)
                if (detail::decode_utf8(x, i, len) == detail::invalid_code_point) bytes.push_back(x[i]);
            return bytes;
        };
        for (std::size_t k = 0; k < 4; ++k) {
            const std::string once = run_form(k, s);
            BOOST_CHECK_MESSAGE(run_form(k, once) == once, form_names[k] << " not idempotent on " << code_points(s));
            BOOST_CHECK(invalid(once) == invalid(s));
        }
    }
}
