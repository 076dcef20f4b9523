// Tests of the tokenizers: GPT-2 byte-level BPE against the reference encoder's vectors
// (tests/data/gpt2_bpe/, made by tests/python/make_bpe_vectors.mjs), its pre-tokenizer and
// merge order, its loaders and their errors, and the byte tokenizer's round trips.
#define BOOST_TEST_MODULE test_tokenizer
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tokclean/core/rng.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/gpt2_bpe.hpp"

#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tokclean;
using test_support::expect_error;
using test_support::TempDir;
using Ids = std::vector<std::int32_t>;
using Strings = std::vector<std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

namespace {

const fs::path gpt2_dir = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_bpe";

struct Vector {
    std::string text;
    Ids ids;
};

std::vector<Vector> load_vectors() {
    std::ifstream in(gpt2_dir / "vectors.jsonl", std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "missing " << (gpt2_dir / "vectors.jsonl"));
    std::vector<Vector> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        out.push_back({j.at("text").get<std::string>(), j.at("ids").get<Ids>()});
    }
    return out;
}

// The reference tokenizer, loaded once for the whole test program.
const Gpt2Bpe& gpt2() {
    static const Gpt2Bpe tok =
        Gpt2Bpe::from_files(gpt2_dir / "vocab.json", gpt2_dir / "merges.txt");
    return tok;
}

// Encodes every vector with `tok`, checking ids and the round trip; returns the mismatches.
int check_vectors(const Gpt2Bpe& tok, const std::vector<Vector>& vectors) {
    int bad = 0;
    for (std::size_t i = 0; i < vectors.size(); ++i) {
        const auto& v = vectors[i];
        const Ids got = tok.encode(v.text);
        if (got != v.ids) {
            ++bad;
            if (bad <= 5) {
                std::ostringstream s;
                s << "vector " << i << " " << nlohmann::json(v.text).dump() << ": got [";
                for (auto id : got) s << id << ' ';
                s << "] expected [";
                for (auto id : v.ids) s << id << ' ';
                BOOST_ERROR(s.str() << "]");
            }
        }
        if (tok.decode(v.ids) != v.text) {
            ++bad;
            BOOST_ERROR("vector " << i << " does not decode back to its text");
        }
    }
    return bad;
}

std::vector<std::string> pieces(std::string_view text) {
    std::vector<std::string> out;
    detail::gpt2::split_pieces(text, [&](std::string_view p) { out.emplace_back(p); });
    return out;
}

// The byte-level string of raw bytes (bytes_to_unicode), as vocab.json and merges.txt write it.
std::string byte_level(std::string_view bytes) {
    std::string out;
    for (unsigned char b : bytes)
        detail::append_utf8(out, detail::gpt2::byte_chars.of_byte[b]);
    return out;
}

// A small GPT-2-style tokenizer: the 256 byte tokens (ids 0..255, in byte order), then the
// tokens made by `merges` (given as raw-byte pairs, in rank order), then <|endoftext|>.
struct SmallFiles {
    TempDir dir;
    nlohmann::json vocab = nlohmann::json::object();
    std::string merges = "#version: 0.2\n";
    explicit SmallFiles(const Pairs& pairs) {
        for (int b = 0; b < 256; ++b) vocab[byte_level(std::string(1, static_cast<char>(b)))] = b;
        for (const auto& [a, b] : pairs) {
            const std::string joined = byte_level(a + b);
            if (!vocab.contains(joined)) vocab[joined] = static_cast<int>(vocab.size());
            merges += byte_level(a) + " " + byte_level(b) + "\n";
        }
        vocab["<|endoftext|>"] = static_cast<int>(vocab.size());
    }
    Gpt2Bpe load() const {
        dir.write("vocab.json", vocab.dump());
        dir.write("merges.txt", merges);
        return Gpt2Bpe::from_files(dir.path / "vocab.json", dir.path / "merges.txt");
    }
    std::int32_t id(const std::string& raw) const {
        return vocab.at(byte_level(raw)).get<std::int32_t>();
    }
};

// encoder.py's bpe() written the plain way (strings, O(n^2)), to check the heap version.
struct NaiveBpe {
    std::map<std::pair<std::string, std::string>, int> ranks;
    explicit NaiveBpe(const fs::path& merges_txt) {
        std::ifstream in(merges_txt, std::ios::binary);
        std::string line;
        std::getline(in, line);  // #version
        int rank = 0;
        while (std::getline(in, line)) {
            if (line.empty()) continue;
            const auto sp = line.find(' ');
            ranks[{line.substr(0, sp), line.substr(sp + 1)}] = rank++;
        }
    }
    Ids encode(const Gpt2Bpe& vocab, std::string_view text) const {
        Ids out;
        detail::gpt2::split_pieces(text, [&](std::string_view piece) {
            std::vector<std::string> word;
            for (unsigned char b : piece)
                word.push_back(byte_level(std::string(1, static_cast<char>(b))));
            while (word.size() > 1) {
                int best = std::numeric_limits<int>::max();
                std::pair<std::string, std::string> bigram;
                for (std::size_t i = 0; i + 1 < word.size(); ++i) {
                    auto it = ranks.find({word[i], word[i + 1]});
                    if (it != ranks.end() && it->second < best)
                        best = it->second, bigram = it->first;
                }
                if (best == std::numeric_limits<int>::max()) break;
                std::vector<std::string> merged;
                for (std::size_t i = 0; i < word.size();) {
                    if (i + 1 < word.size() && word[i] == bigram.first &&
                        word[i + 1] == bigram.second) {
                        merged.push_back(word[i] + word[i + 1]);
                        i += 2;
                    } else {
                        merged.push_back(word[i++]);
                    }
                }
                word = std::move(merged);
            }
            for (const auto& t : word) out.push_back(*vocab.token_id(t));
        });
        return out;
    }
};

}  // namespace

// ---- the reference vectors ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(gpt2_vectors_from_vocab_and_merges) {
    const auto vectors = load_vectors();
    BOOST_TEST(vectors.size() >= 200u);
    const Gpt2Bpe& tok = gpt2();
    BOOST_TEST(tok.vocab_size() == 50257);
    BOOST_TEST(tok.num_merges() == 50000u);
    BOOST_TEST(tok.eos_id() == 50256);
    BOOST_TEST(tok.name() == "gpt2-bpe");
    BOOST_TEST(tok.unreachable_tokens() == 0u);  // every token but the bytes and EOS is a merge's
    BOOST_TEST(tok.unreachable_example() == "");
    BOOST_TEST(check_vectors(tok, vectors) == 0);
    // Again with the cache filled by the first pass.
    BOOST_TEST(check_vectors(tok, vectors) == 0);
    BOOST_TEST_MESSAGE(vectors.size() << " reference vectors encode and decode exactly");
}

BOOST_AUTO_TEST_CASE(gpt2_vectors_from_tokenizer_json) {
    const auto vectors = load_vectors();
    const Gpt2Bpe tok = Gpt2Bpe::from_tokenizer_json(gpt2_dir / "tokenizer.json");
    BOOST_TEST(tok.vocab_size() == 50257);
    BOOST_TEST(tok.num_merges() == 50000u);
    BOOST_TEST(tok.unreachable_tokens() == 0u);
    BOOST_TEST(tok.eos_id() == 50256);
    BOOST_TEST(check_vectors(tok, vectors) == 0);
    // from_model_dir prefers tokenizer.json; both layouts give the same tokenizer.
    BOOST_TEST(Gpt2Bpe::from_model_dir(gpt2_dir).encode(vectors[20].text) == vectors[20].ids);

    // The newer layout: merges as ["a", "b"] pairs.
    auto doc = nlohmann::json::parse(std::ifstream(gpt2_dir / "tokenizer.json"));
    for (auto& m : doc["model"]["merges"]) {
        const std::string s = m.get<std::string>();
        const auto sp = s.find(' ');
        m = nlohmann::json::array({s.substr(0, sp), s.substr(sp + 1)});
    }
    TempDir dir;
    dir.write("tokenizer.json", doc.dump());
    const Gpt2Bpe pairs = Gpt2Bpe::from_model_dir(dir.path);
    BOOST_TEST(check_vectors(pairs, vectors) == 0);
}

BOOST_AUTO_TEST_CASE(gpt2_special_text_and_decode) {
    const Gpt2Bpe& tok = gpt2();
    // The special token inside text is plain text, as in the reference encoder.
    const Ids ids = tok.encode("<|endoftext|>");
    BOOST_TEST(ids == (Ids{27, 91, 437, 1659, 5239, 91, 29}));
    BOOST_TEST(tok.token_id("<|endoftext|>").value() == 50256);
    BOOST_TEST(tok.decode(Ids{50256}) == "<|endoftext|>");
    BOOST_TEST(tok.decode(Ids{15496, 50256, 50257, -1}) == "Hello<|endoftext|><|50257|><|-1|>");
    BOOST_TEST(tok.token(15496) == "Hello");
    BOOST_TEST(tok.token(220) == "\xc4\xa0");  // "Ġ", the byte-level form of " "
    BOOST_TEST(tok.token(50257).empty());
    BOOST_TEST(!tok.token_id("no such token").has_value());
    BOOST_TEST(tok.encode("").empty());
    // Half of a multi-token character decodes to half of its UTF-8 bytes (not replaced).
    const Ids emoji = tok.encode("\xf0\x9f\x98\x80");
    BOOST_REQUIRE(emoji.size() >= 2u);
    std::string joined;
    for (auto id : emoji) joined += tok.decode(Ids{id});
    BOOST_TEST(joined == "\xf0\x9f\x98\x80");
    const TokenizerRef ref = &tok;
    BOOST_TEST(ref.name() == "gpt2-bpe");
    BOOST_TEST(ref.eos_id() == 50256);
    BOOST_TEST(ref.encode("Hello world") == (Ids{15496, 995}));
}

BOOST_AUTO_TEST_CASE(gpt2_invalid_utf8_round_trips) {
    const Gpt2Bpe& tok = gpt2();
    // Each stray byte is one "other" code point: it joins a punctuation run, splits words.
    BOOST_TEST(pieces(std::string("a\xff") + "b") == (Strings{"a", "\xff", "b"}));
    BOOST_TEST(pieces("!\xff!") == (Strings{"!\xff!"}));
    BOOST_TEST(pieces(" \xc3") == (Strings{" \xc3"}));  // truncated 2-byte sequence
    BOOST_TEST(pieces(std::string("\xc0\xaf") + "x") ==
               (Strings{"\xc0\xaf", "x"}));  // overlong '/'
    BOOST_TEST(pieces(std::string("\xed\xa0\x80") + "a") ==
               (Strings{"\xed\xa0\x80", "a"}));                          // a surrogate
    BOOST_TEST(tok.encode("\xff") == (Ids{*tok.token_id("\xc3\xbf")}));  // byte 0xFF is "ÿ"
    Rng rng(7);
    for (int n = 0; n < 300; ++n) {
        std::string s(1 + rng.below(40), '\0');
        for (auto& c : s) c = static_cast<char>(rng.below(256));
        BOOST_TEST(tok.decode(tok.encode(s)) == s);
    }
}

BOOST_AUTO_TEST_CASE(gpt2_heap_merge_equals_plain_bpe) {
    // Random texts over an alphabet that makes long pieces and many merges.
    const NaiveBpe naive(gpt2_dir / "merges.txt");
    const Gpt2Bpe& tok = gpt2();
    const Strings alphabet = {"a", "e", "t",  "h", "in",       "the",          " ",
                              "1", "0", "!",  ".", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                              "'", "s", "\n", "=", "-",        "\xd0\xb6"};
    Rng rng(11);
    int bad = 0;
    for (int n = 0; n < 400; ++n) {
        std::string s;
        const auto len = 1 + rng.below(n < 20 ? 400 : 30);
        for (std::uint64_t i = 0; i < len; ++i) s += alphabet[rng.below(alphabet.size())];
        if (tok.encode(s) != naive.encode(tok, s) && ++bad <= 3)
            BOOST_ERROR("heap and plain BPE differ on " << nlohmann::json(s).dump());
    }
    BOOST_TEST(bad == 0);
}

BOOST_AUTO_TEST_CASE(gpt2_concurrent_encode) {
    const auto vectors = load_vectors();
    const Gpt2Bpe tok = Gpt2Bpe::from_model_dir(gpt2_dir);  // a fresh cache
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 3; ++rep)
                for (std::size_t i = static_cast<std::size_t>(t); i < vectors.size(); i += 2)
                    bad += tok.encode(vectors[i].text) != vectors[i].ids;
        });
    for (auto& th : threads) th.join();
    BOOST_TEST(bad.load() == 0);
}

BOOST_AUTO_TEST_CASE(gpt2_throughput) {
    // Not a timed assertion: prints MB/s for a rough comparison (--log_level=message). Each
    // text is encoded once by a tokenizer with an empty cache.
    const auto vectors = load_vectors();
    const auto repeat_to = [](const std::string& unit, std::size_t size) {
        std::string out;
        while (out.size() < size) out += unit;
        return out;
    };
    std::string short_texts, all_texts;
    for (const auto& v : vectors) {
        if (v.text.size() < 1000) (short_texts += v.text) += '\n';
        (all_texts += v.text) += '\n';
    }
    // Distinct words, so that the cache rarely helps: random lower-case letters.
    Rng rng(3);
    std::string random_words;
    while (random_words.size() < (std::size_t{2} << 20)) {
        random_words += ' ';
        for (auto len = 2 + rng.below(9); len > 0; --len)
            random_words += static_cast<char>('a' + rng.below(26));
    }
    const auto seconds = [](auto&& fn) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    std::size_t tokens = 0;
    const double load =
        seconds([&] { Gpt2Bpe::from_files(gpt2_dir / "vocab.json", gpt2_dir / "merges.txt"); });
    std::ostringstream report;
    report << "gpt2 bpe: load " << load << " s";
    for (const auto& [label, text] :
         {std::pair<const char*, std::string>{"short texts", repeat_to(short_texts, 4u << 20)},
          {"all vectors (with the multi-KB pieces)", repeat_to(all_texts, 4u << 20)},
          {"random words", random_words}}) {
        const Gpt2Bpe tok = Gpt2Bpe::from_model_dir(gpt2_dir);
        const double t = seconds([&] { tokens += tok.encode(text).size(); });
        report << "; " << label << " " << static_cast<double>(text.size()) / 1e6 / t << " MB/s";
    }
    BOOST_TEST_MESSAGE(report.str());
    BOOST_TEST(tokens > 0u);
}

// ---- pre-tokenizer and merge order ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(pretokenizer_pieces) {
    BOOST_TEST(pieces("Hello world") == (Strings{"Hello", " world"}));
    BOOST_TEST(pieces("Hello  world") == (Strings{"Hello", " ", " world"}));
    BOOST_TEST(pieces("a\n\nb") == (Strings{"a", "\n", "\n", "b"}));
    BOOST_TEST(pieces("a \n b") == (Strings{"a", " \n", " b"}));
    BOOST_TEST(pieces("end  ") == (Strings{"end", "  "}));
    BOOST_TEST(pieces("it's I'M 'S") == (Strings{"it", "'s", " I", "'", "M", " '", "S"}));
    BOOST_TEST(pieces("we'll've'd") == (Strings{"we", "'ll", "'ve", "'d"}));
    BOOST_TEST(pieces("x86 3.14") == (Strings{"x", "86", " 3", ".", "14"}));
    BOOST_TEST(pieces(" !?  (a)") == (Strings{" !?", " ", " (", "a", ")"}));
    BOOST_TEST(pieces("caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87") ==
               (Strings{"caf\xc3\xa9", " \xe4\xb8\xad\xe6\x96\x87"}));
    BOOST_TEST(pieces("e\xcc\x81") == (Strings{"e", "\xcc\x81"}));  // a combining mark is "other"
    BOOST_TEST(pieces("x\xc2\xa0y") == (Strings{"x", "\xc2\xa0", "y"}));          // NBSP is JS \s
    BOOST_TEST(pieces("x\xe2\x80\x8by") == (Strings{"x", "\xe2\x80\x8b", "y"}));  // ZWSP is not
    BOOST_TEST(pieces("\t\tfoo") == (Strings{"\t", "\t", "foo"}));
    BOOST_TEST(pieces("  \n  foo") == (Strings{"  \n ", " foo"}));
    BOOST_TEST(pieces("\xd9\xa1\xd9\xa2 \xc2\xbd") ==
               (Strings{"\xd9\xa1\xd9\xa2", " \xc2\xbd"}));  // \p{N}
    BOOST_TEST(pieces("").empty());
    using detail::unicode::CharClass;
    BOOST_TEST((detail::unicode::char_class(U'\u3000') == CharClass::space));
    BOOST_TEST((detail::unicode::char_class(U'\uFEFF') == CharClass::space));
    BOOST_TEST((detail::unicode::char_class(U'\u0085') == CharClass::other));
    BOOST_TEST((detail::unicode::char_class(U'\U0001D518') == CharClass::letter));
    BOOST_TEST((detail::unicode::char_class(U'\u216B') == CharClass::number));
    BOOST_TEST((detail::unicode::char_class(U'\U0001F600') == CharClass::other));
}

BOOST_AUTO_TEST_CASE(merge_order_is_encoder_py) {
    // Lowest rank first; all occurrences of the chosen pair left to right, no overlaps.
    SmallFiles f(Pairs{{"a", "a"}, {"aa", "aa"}, {"b", "c"}, {"a", "bc"}, {" ", "a"}});
    const Gpt2Bpe tok = f.load();
    BOOST_TEST(tok.vocab_size() == 262);
    BOOST_TEST(tok.eos_id() == 261);
    BOOST_TEST(tok.encode("aaa") == (Ids{f.id("aa"), 'a'}));
    BOOST_TEST(tok.encode("aaaa") == (Ids{f.id("aaaa")}));
    BOOST_TEST(tok.encode("aaaaa") == (Ids{f.id("aaaa"), 'a'}));
    BOOST_TEST(tok.encode("abc") == (Ids{f.id("abc")}));
    // "a a" outranks "a bc": the a's pair up first and the last "a" takes "bc".
    BOOST_TEST(tok.encode("aaabc") == (Ids{f.id("aa"), f.id("abc")}));
    BOOST_TEST(tok.encode(" a") == (Ids{f.id(" a")}));
    BOOST_TEST(tok.decode(tok.encode(" aaabc x")) == " aaabc x");
}

// ---- merges.txt against vocab.json ---------------------------------------------------------

// A merges.txt cut short still loads (every merge it has is valid) but tokenizes differently;
// the tokens no merge makes give it away.
BOOST_AUTO_TEST_CASE(truncated_merges_leave_unreachable_tokens) {
    std::ifstream in(gpt2_dir / "merges.txt", std::ios::binary);
    std::string merges, line;
    for (int n = 0; n <= 1000 && std::getline(in, line); ++n) merges += line + "\n";  // #version + 1000
    TempDir d;
    d.write("merges.txt", merges);
    const Gpt2Bpe cut = Gpt2Bpe::from_files(gpt2_dir / "vocab.json", d.path / "merges.txt");
    BOOST_TEST(cut.num_merges() == 1000u);
    BOOST_TEST(cut.unreachable_tokens() == 49000u);
    // The lowest id no merge makes: GPT-2's ids follow merge order, so the 1001st merge's token.
    BOOST_TEST(cut.unreachable_example() == gpt2().token(256 + 1000));
    BOOST_TEST(cut.encode(" the") == gpt2().encode(" the"));        // an early merge
    BOOST_TEST(cut.encode(" tokenizer") != gpt2().encode(" tokenizer"));  // needs later ones

    // A vocabulary with one token more than the merges make: counted, with that token.
    SmallFiles small(Pairs{{"a", "b"}});
    small.vocab["x\ny"] = static_cast<int>(small.vocab.size());
    const Gpt2Bpe tok = small.load();
    BOOST_TEST(tok.unreachable_tokens() == 1u);
    BOOST_TEST(tok.unreachable_example() == "x\ny");
    BOOST_TEST(detail::gpt2::show_token(tok.unreachable_example()) == "\"x\\ny\"");
    BOOST_TEST(SmallFiles(Pairs{{"a", "b"}, {"ab", "c"}}).load().unreachable_tokens() == 0u);
}

// ---- loader errors -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(loader_errors_vocab_and_merges) {
    SmallFiles good(Pairs{{"a", "b"}});
    good.load();  // writes valid files
    const TempDir& d = good.dir;
    const fs::path vocab = d.path / "vocab.json", merges = d.path / "merges.txt";
    const std::string vocab_text = good.vocab.dump();
    auto with_vocab = [&](const nlohmann::json& v) {
        d.write("vocab.json", v.dump());
        return [&] { Gpt2Bpe::from_files(vocab, merges); };
    };

    d.write("vocab.json", "{\n  \"a\": 0,\n  \"b\": 1,,\n}");
    expect_error([&] { Gpt2Bpe::from_files(vocab, merges); },
                 {vocab.string() + ":3: not valid JSON at column"});
    expect_error(with_vocab(nlohmann::json::array({1, 2})),
                 {vocab.string() + ": expected a JSON object"});
    nlohmann::json v = good.vocab;
    v["xy"] = "7";
    expect_error(with_vocab(v),
                 {vocab.string() + ": token \"xy\": expected an integer id, got a string"});
    v = good.vocab;
    v["xy"] = 300;  // ids 0..257 exist: 258..299 are missing
    expect_error(with_vocab(v), {vocab.string() + ": no token has id 258", "without gaps"});
    v = good.vocab;
    v["xy"] = 5;
    expect_error(with_vocab(v), {vocab.string() + ": token \"", "\": id 5 is already the id of \"",
                                 "every id must name one token"});
    // A token listed twice (nlohmann would keep its last id) is refused.
    d.write("vocab.json", "{\"a\": 97,\n \"b\": 98, \"a\": 300}");
    expect_error([&] { Gpt2Bpe::from_files(vocab, merges); },
                 {vocab.string() + ": duplicate key 'a' (a JSON object may name a field once)"});
    v = good.vocab;
    v["xy"] = -1;
    expect_error(with_vocab(v), {"token \"xy\": id -1 is outside"});
    v = good.vocab;
    v.erase("<|endoftext|>");
    expect_error(with_vocab(v), {vocab.string() + ": no token \"<|endoftext|>\""});
    v = nlohmann::json::object();
    v["A"] = 0;
    expect_error(with_vocab(v), {vocab.string() + ": no token for byte 0 (\"\xc4\x80\")"});
    d.write("vocab.json", vocab_text);

    auto with_merges = [&](const std::string& text) {
        d.write("merges.txt", text);
        return [&] { Gpt2Bpe::from_files(vocab, merges); };
    };
    expect_error(
        with_merges("#version: 0.2\na b\na b c\n"),
        {merges.string() + ":3: expected two tokens separated by one space, got \"a b c\""});
    expect_error(with_merges("a b\nab\n"), {merges.string() + ":2: expected two tokens"});
    expect_error(with_merges("a  b\n"), {merges.string() + ":1: expected two tokens"});
    expect_error(with_merges("#version: 0.2\nzz b\n"),
                 {merges.string() + ":2: the left part \"zz\" is not in the vocabulary"});
    expect_error(with_merges("#version: 0.2\na b\nab \xc4\xa0q\n"),
                 {merges.string() + ":3: the right part \"\xc4\xa0q\" is not in the vocabulary"});
    expect_error(with_merges("#version: 0.2\nb a\n"),
                 {merges.string() + ":2: the merged token \"ba\" is not in the vocabulary"});
    expect_error(with_merges("#version: 0.2\n\n"), {merges.string() + ": no merges"});
    // CRLF line ends and blank lines are fine.
    d.write("merges.txt", "#version: 0.2\r\n\r\na b\r\n");
    BOOST_TEST(Gpt2Bpe::from_files(vocab, merges).encode("ab") == (Ids{good.id("ab")}));

    expect_error([&] { Gpt2Bpe::from_files(d.path / "nope.json", merges); },
                 {"nope.json: cannot open the file"});
    TempDir empty;
    expect_error([&] { Gpt2Bpe::from_model_dir(empty.path); },
                 {empty.path.string() + ": no GPT-2 tokenizer files"});
    empty.write("vocab.json", vocab_text);
    expect_error([&] { Gpt2Bpe::from_model_dir(empty.path); },
                 {(empty.path / "merges.txt").string() + ": missing"});
}

BOOST_AUTO_TEST_CASE(loader_errors_tokenizer_json) {
    SmallFiles small(Pairs{{"a", "b"}});
    nlohmann::json good;
    good["model"] = {{"type", "BPE"}, {"vocab", small.vocab}, {"merges", {"a b"}}};
    good["model"]["vocab"].erase("<|endoftext|>");
    const int eos = small.vocab.at("<|endoftext|>").get<int>();
    good["added_tokens"] =
        nlohmann::json::array({{{"id", eos}, {"content", "<|endoftext|>"}, {"special", true}}});
    good["pre_tokenizer"] = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
    good["normalizer"] = nullptr;
    TempDir d;
    const fs::path file = d.path / "tokenizer.json";
    const std::string f = file.string();
    d.write("tokenizer.json", good.dump(2));
    const Gpt2Bpe tok = Gpt2Bpe::from_tokenizer_json(file);
    BOOST_TEST(tok.eos_id() == eos);
    BOOST_TEST(tok.encode("ab") == (Ids{small.id("ab")}));

    auto expect = [&](const std::function<void(nlohmann::json&)>& edit, const Strings& parts) {
        nlohmann::json j = good;
        edit(j);
        d.write("tokenizer.json", j.dump(2));
        expect_error([&] { Gpt2Bpe::from_tokenizer_json(file); }, parts);
    };
    d.write("tokenizer.json", "{\n  \"model\": {\n    \"vocab\": {\"a\": 0 \"b\": 1}\n  }\n}\n");
    expect_error([&] { Gpt2Bpe::from_tokenizer_json(file); },
                 {f + ":3: not valid JSON at column 24"});
    // Keys given twice, at any depth: the raw text, since nlohmann::json cannot hold them.
    const auto twice = [&](const std::string& edited, const Strings& parts) {
        d.write("tokenizer.json", edited);
        expect_error([&] { Gpt2Bpe::from_tokenizer_json(file); }, parts);
    };
    const std::string text = good.dump();
    const auto insert_after = [&](const std::string& anchor, const std::string& extra) {
        std::string t = text;
        const auto at = t.find(anchor);
        BOOST_REQUIRE(at != std::string::npos);
        return t.insert(at + anchor.size(), extra);
    };
    twice(insert_after("\"vocab\":{", "\"a\":5,"),
          {f + ": field 'model.vocab': duplicate key 'a' (a JSON object may name a field once)"});
    twice(insert_after("\"model\":{", "\"type\":\"BPE\","), {f + ": field 'model': duplicate key 'type'"});
    twice(insert_after("{", "\"normalizer\":null,"), {f + ": duplicate key 'normalizer'"});
    twice(insert_after("\"added_tokens\":[{", "\"id\":1,"), {f + ": field 'added_tokens'[0]: duplicate key 'id'"});
    expect([](auto& j) { j["model"]["type"] = "WordPiece"; },
           {f + ": field 'model.type': expected \"BPE\""});
    expect([](auto& j) { j.erase("model"); }, {f + ": missing required field 'model'"});
    expect([](auto& j) { j["model"].erase("vocab"); },
           {f + ": field 'model': missing required field 'vocab'"});
    expect([](auto& j) { j["model"]["vocab"] = nlohmann::json::array(); },
           {f + ": field 'model.vocab': expected an object"});
    expect([](auto& j) { j["model"]["vocab"]["zz"] = 1.5; },
           {f + ": field 'model.vocab': token \"zz\": expected an integer id"});
    expect(
        [](auto& j) {
            j["model"]["merges"] = {"a b", 3};
        },
        {f + ": field 'model.merges'[1]: expected \"a b\" or [\"a\", \"b\"], got 3"});
    expect([](auto& j) { j["model"]["merges"] = {"ab"}; },
           {f + ": field 'model.merges'[0]: expected two tokens separated by one space"});
    expect(
        [](auto& j) {
            j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "q"})});
        },
        {f + ": field 'model.merges'[0]: the merged token \"aq\" is not in the vocabulary"});
    expect([](auto& j) { j["model"]["merges"] = nlohmann::json::array(); }, {f + ": no merges"});
    expect([](auto& j) { j["pre_tokenizer"] = nullptr; },
           {f + ": field 'pre_tokenizer': expected {\"type\": \"ByteLevel\"}", "got null"});
    expect([](auto& j) { j["pre_tokenizer"]["type"] = "Whitespace"; },
           {f + ": field 'pre_tokenizer': expected {\"type\": \"ByteLevel\"}", "\"Whitespace\""});
    expect([](auto& j) { j["pre_tokenizer"]["add_prefix_space"] = true; },
           {f + ": field 'pre_tokenizer.add_prefix_space': expected false"});
    expect(
        [](auto& j) {
            j["normalizer"] = {{"type", "NFC"}};
        },
        {f + ": field 'normalizer': expected null"});
    expect([](auto& j) { j["model"]["end_of_word_suffix"] = "</w>"; },
           {f + ": field 'model.end_of_word_suffix': expected null or \"\""});
    expect([](auto& j) { j["model"]["dropout"] = 0.1; },
           {f + ": field 'model.dropout': expected null"});
    expect([&](auto& j) { j["added_tokens"][0]["id"] = eos + 1; },
           {f + ": no token has id " + std::to_string(eos)});
    expect([](auto& j) { j["added_tokens"][0]["id"] = 3; },
           {f + ": field 'added_tokens'[0]: id 3 is already the id of"});
    expect([](auto& j) { j["added_tokens"][0].erase("content"); },
           {f + ": field 'added_tokens'[0].content: expected a string, got nothing"});
    expect([](auto& j) { j["added_tokens"] = 5; },
           {f + ": field 'added_tokens': expected an array"});
    expect([](auto& j) { j["added_tokens"] = nlohmann::json::array(); },
           {f + ": no token \"<|endoftext|>\""});
    // An added token beyond the vocabulary extends it; its text is what decode() writes.
    nlohmann::json extra = good;
    extra["added_tokens"].push_back({{"id", eos + 1}, {"content", "<|pad|>"}});
    d.write("tokenizer.json", extra.dump());
    const Gpt2Bpe tok2 = Gpt2Bpe::from_tokenizer_json(file);
    BOOST_TEST(tok2.vocab_size() == eos + 2);
    BOOST_TEST(tok2.decode(Ids{eos + 1, 'a'}) == "<|pad|>a");
    BOOST_TEST(tok2.unreachable_tokens() == 0u);  // an added token needs no merge
    // A vocabulary token that no merge makes is counted, not refused.
    nlohmann::json orphan = good;
    orphan["model"]["vocab"]["xy"] = eos + 1;
    d.write("tokenizer.json", orphan.dump());
    const Gpt2Bpe tok3 = Gpt2Bpe::from_tokenizer_json(file);
    BOOST_TEST(tok3.unreachable_tokens() == 1u);
    BOOST_TEST(tok3.unreachable_example() == "xy");
}

// ---- byte tokenizer ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(byte_tokenizer_round_trips) {
    const ByteTokenizer tok;
    for (const auto& v : load_vectors()) {
        const Ids ids = tok.encode(v.text);
        BOOST_TEST(ids.size() == v.text.size());
        BOOST_TEST(tok.decode(ids) == v.text);
    }
    Rng rng(5);
    for (int n = 0; n < 100; ++n) {
        std::string s(rng.below(64), '\0');
        for (auto& c : s) c = static_cast<char>(rng.below(256));
        BOOST_TEST(tok.decode(tok.encode(s)) == s);
    }
}

// ---- found by fuzzing (tests/fuzz) ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(fuzz_findings_stay_fixed) {
    SmallFiles small(Pairs{{"a", "b"}});
    nlohmann::json j;
    j["model"] = {{"type", "BPE"}, {"vocab", small.vocab}, {"merges", {"a b"}}};
    // A number where a boolean belongs was a JSON library exception, not an error of the file.
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", 136}};
    expect_error([&] { Gpt2Bpe::from_tokenizer_json_text(j.dump(), "t.json"); },
                 {"t.json: field 'pre_tokenizer.add_prefix_space': expected false (GPT-2 adds no space before the "
                  "text), got 136"});
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", "yes"}};
    expect_error([&] { Gpt2Bpe::from_tokenizer_json_text(j.dump(), "t.json"); },
                 {"t.json: field 'pre_tokenizer.use_regex': expected true", "got a string (\"yes\")"});
    j["pre_tokenizer"] = {{"type", "ByteLevel"}};
    expect_error([&] { Gpt2Bpe::from_tokenizer_json_text(j.dump(), "t.json"); },
                 {"add_prefix_space': expected false", "got nothing (true by default)"});
    // An id far beyond the number of tokens fails on the gap, without tables for that id.
    expect_error([&] { Gpt2Bpe::from_texts("{\"a\": 1073741824, \"b\": 0}", "v.json", "a b\n", "m.txt"); },
                 {"v.json: no token has id 1 (ids must be 0..V-1 without gaps; the largest is 1073741824)"});
    // Numbers beyond a double, and text that is not UTF-8, are errors naming the file.
    expect_error([&] { Gpt2Bpe::from_texts("{\"a\": 1e999}", "v.json", "", "m.txt"); }, {"v.json: not valid JSON: number overflow"});
    expect_error([&] { Gpt2Bpe::from_texts("{\n\"a\xff\": 1}", "v.json", "", "m.txt"); },
                 {"v.json:2: not valid UTF-8 at column 3 (byte 0xff"});
}
