// Tests of the tokenizer.json pipeline (data/hf_tokenizer.hpp): the real files of Llama-3.1,
// Qwen3 and Llama-2 against Hugging Face's Rust tokenizers library on 4,931 varied lines each
// (tests/data/hf_tokenizers/*.tar.xz, made by tests/js/make_hf_tokenizer_vectors.mjs and
// unpacked by CMake into TOKCLEAN_HF_TOKENIZERS; transformers.js's answers are there too,
// where they differ); the regex matcher; each Split behaviour against the examples of
// tokenizers' documentation; added-token flags; decoders; and the one-line refusals of what is
// not supported.
#define BOOST_TEST_MODULE test_hf_tokenizer
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/data/chat/model_chat_template.hpp"
#include "tokclean/data/hf/regex.hpp"
#include "tokclean/data/hf_tokenizer.hpp"

#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tokclean;
using test_support::expect_error;
using test_support::TempDir;
using Ids = std::vector<std::int32_t>;
using Strings = std::vector<std::string>;
using json = nlohmann::json;

namespace {

const fs::path real_dir = fs::path(TOKCLEAN_HF_TOKENIZERS);

// Every vector of one real tokenizer: encode with and without special tokens, and decode.
void check_vectors(const std::string& name, std::size_t min_lines) {
    const fs::path dir = real_dir / name;
    const HfTokenizer tok = HfTokenizer::from_model_dir(dir);
    std::ifstream in(dir / "vectors.jsonl", std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "missing " << (dir / "vectors.jsonl"));
    std::size_t lines = 0, encode_bad = 0, plain_bad = 0, decode_bad = 0, js_differs = 0;
    std::string line;
    const auto prefix = tok.special_prefix();
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        ++lines;
        const json v = json::parse(line);
        const std::string text = v.at("text").get<std::string>();
        const Ids want = v.at("ids").get<Ids>();
        const Ids got = tok.encode(text, true);
        if (got != want && ++encode_bad <= 5)
            BOOST_ERROR(name << " line " << lines << ": encode(" << json(text).dump() << ") = " << json(got).dump()
                             << ", tokenizers: " << json(want).dump());
        js_differs += v.contains("ids_js");
        // Without special tokens: the ids less the post-processor's prefix, unless stated.
        Ids plain_want = v.contains("ids_plain") ? v.at("ids_plain").get<Ids>() : Ids();
        if (!v.contains("ids_plain")) {
            BOOST_REQUIRE(want.size() >= prefix.size());
            BOOST_REQUIRE(std::equal(prefix.begin(), prefix.end(), want.begin()));
            plain_want.assign(want.begin() + static_cast<std::ptrdiff_t>(prefix.size()), want.end());
        }
        const Ids plain = tok.encode(text);
        if (plain != plain_want && ++plain_bad <= 5)
            BOOST_ERROR(name << " line " << lines << ": encode without special tokens: " << json(plain).dump()
                             << ", tokenizers: " << json(plain_want).dump());
        const std::string decoded = tok.decode(plain_want);
        const std::string decoded_want = v.contains("decoded") ? v.at("decoded").get<std::string>() : text;
        if (decoded != decoded_want && ++decode_bad <= 5)
            BOOST_ERROR(name << " line " << lines << ": decode = " << json(decoded).dump()
                             << ", tokenizers: " << json(decoded_want).dump());
    }
    BOOST_TEST_MESSAGE(name << ": " << lines << " lines, " << encode_bad << " encode, " << plain_bad
                            << " plain-encode and " << decode_bad << " decode mismatches; transformers.js differs from "
                            << "tokenizers (and tokclean) on " << js_differs);
    BOOST_TEST(lines >= min_lines);
    BOOST_TEST(encode_bad == 0u);
    BOOST_TEST(plain_bad == 0u);
    BOOST_TEST(decode_bad == 0u);
}

// The pieces a regex finds in a text, as strings.
Strings matches(const hf::Regex& re, std::string_view text) {
    Strings out;
    re.for_each_match(text, [&](std::size_t b, std::size_t e) { out.emplace_back(text.substr(b, e - b)); });
    return out;
}

const std::string llama3_pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A small tokenizer.json: a character-level BPE over "a".."e", " " and "<0xNN>" for some
// bytes, with the given pre-tokenizer, added tokens and decoder.
json small_tokenizer() {
    json vocab = json::object();
    int id = 0;
    for (const char* t : {"a", "b", "c", "d", "e", " ", "ab", "abc", "<unk>", "<0x61>", "<0xC3>", "<0xA9>", "\xE2\x96\x81", "\xE2\x96\x81" "a"})
        vocab[t] = id++;
    json j;
    j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b", json::array({"ab", "c"}), "\xE2\x96\x81 a"})},
                  {"unk_token", "<unk>"}};
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = nullptr;
    j["post_processor"] = nullptr;
    j["decoder"] = nullptr;
    j["added_tokens"] = json::array();
    return j;
}

HfTokenizer load(const json& j) {
    const std::string text = j.dump();
    return HfTokenizer::from_texts(text, "tokenizer.json");
}

}  // namespace

// ---- the real tokenizers against Hugging Face's -------------------------------------------

BOOST_AUTO_TEST_CASE(llama3_1_matches_tokenizers) { check_vectors("llama3_1", 2000); }
BOOST_AUTO_TEST_CASE(qwen3_matches_tokenizers) { check_vectors("qwen3", 2000); }
BOOST_AUTO_TEST_CASE(llama2_matches_tokenizers) { check_vectors("llama2", 2000); }

// Small tokenizer.json files, one feature each, against the Rust library
// (tests/data/hf_tokenizers/synthetic.jsonl, made by tests/js/make_hf_synthetic_vectors.mjs).
BOOST_AUTO_TEST_CASE(synthetic_tokenizers_match_tokenizers) {
    std::ifstream in(fs::path(TOKCLEAN_TEST_DATA) / "hf_tokenizers" / "synthetic.jsonl", std::ios::binary);
    BOOST_REQUIRE(in);
    std::string line;
    std::size_t cases = 0, checks = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const json c = json::parse(line);
        const std::string name = c.at("case").get<std::string>();
        BOOST_TEST_CONTEXT("case " << name) {
            ++cases;
            const HfTokenizer tok = load(c.at("tokenizer"));
            for (const auto& e : c.at("encode")) {
                const std::string text = e.at("text").get<std::string>();
                BOOST_TEST_CONTEXT("text " << json(text).dump()) {
                    BOOST_TEST(tok.encode(text, true) == e.at("ids").get<Ids>(), boost::test_tools::per_element());
                    BOOST_TEST(tok.encode(text, false) == e.at("ids_plain").get<Ids>(), boost::test_tools::per_element());
                    BOOST_TEST(tok.decode(e.at("ids_plain").get<Ids>()) == e.at("decoded").get<std::string>());
                    checks += 3;
                }
            }
            for (const auto& d : c.at("decode")) {
                BOOST_TEST(tok.decode(d.at("ids").get<Ids>()) == d.at("text").get<std::string>());
                ++checks;
            }
        }
    }
    BOOST_TEST_MESSAGE(cases << " synthetic tokenizers, " << checks << " checks");
    BOOST_TEST(cases >= 50u);
}

BOOST_AUTO_TEST_CASE(real_tokenizers_special_tokens) {
    const HfTokenizer llama = HfTokenizer::from_model_dir(real_dir / "llama3_1");
    BOOST_TEST(Ids(llama.special_prefix().begin(), llama.special_prefix().end()) == (Ids{128000}));  // <|begin_of_text|>
    BOOST_TEST(llama.bos_id() == 128000);
    BOOST_TEST(llama.eos_id() >= 128000);  // <|eot_id|> or <|end_of_text|>, by the file's config
    // A special token typed in the text is that one token.
    const Ids eot = llama.encode("<|eot_id|>");
    BOOST_TEST(eot.size() == 1u);
    BOOST_TEST(eot[0] == *llama.token_id("<|eot_id|>"));
    const HfTokenizer qwen = HfTokenizer::from_model_dir(real_dir / "qwen3");
    BOOST_TEST(qwen.special_prefix().empty());
    BOOST_TEST(qwen.eos_id() == *qwen.token_id("<|im_end|>"));
    BOOST_TEST(qwen.encode("<think>").size() == 1u);  // an added token that is not special
    // Qwen3's normalizer is NFC: the decomposed and the composed "é" give the same ids.
    BOOST_TEST(qwen.encode("cafe\xCC\x81") == qwen.encode("caf\xC3\xA9"));
}

// Conversations through the real Llama-3.1 and Qwen3 chat templates: the ids are what
// jinja2 + the Rust library give (apply_chat_template(messages, tokenize=True); vectors in
// tests/data/hf_tokenizers/chat_tokens.jsonl from tests/js/make_chat_token_vectors.mjs), and
// each assistant turn is one run of targets that holds its content and ends with the
// end-of-turn token, with no role header in it.
BOOST_AUTO_TEST_CASE(chat_templates_give_apply_chat_template_ids_and_turn_targets) {
    std::ifstream in(fs::path(TOKCLEAN_TEST_DATA) / "hf_tokenizers" / "chat_tokens.jsonl", std::ios::binary);
    BOOST_REQUIRE(in);
    std::map<std::string, std::pair<HfTokenizer, ModelChatTemplate>> models;
    std::size_t lines = 0, turns = 0;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        ++lines;
        const auto c = nlohmann::ordered_json::parse(line);
        const std::string name = c.at("template").get<std::string>();
        if (!models.count(name)) {
            const fs::path dir = real_dir / name;
            models.emplace(name, std::pair{HfTokenizer::from_model_dir(dir), *ModelChatTemplate::from_tokenizer_config(dir / "tokenizer_config.json")});
        }
        auto& [tok, chat] = models.at(name);
        std::tm now{};
        BOOST_REQUIRE(std::sscanf(c.at("now").get<std::string>().c_str(), "%d-%d-%dT%d:%d:%d", &now.tm_year, &now.tm_mon,
                                  &now.tm_mday, &now.tm_hour, &now.tm_min, &now.tm_sec) == 6);
        now.tm_year -= 1900;
        now.tm_mon -= 1;
        chat.set_render_options(jinja::RenderOptions{now});
        const auto& messages = c.at("messages");
        std::vector<bool> assistant;
        for (const auto& m : messages) assistant.push_back(m.at("role") == "assistant");
        BOOST_TEST_CONTEXT(name << " conversation " << lines) {
            const Example ex = chat.tokenize(messages, assistant, TokenizerRef(&tok), JsonWhere{"chat_tokens.jsonl", lines});
            BOOST_TEST(ex.input_ids == c.at("ids").get<Ids>(), boost::test_tools::per_element());
            // The runs of targets, one per assistant turn, in order.
            const std::int32_t closing = *tok.token_id(name == "qwen3" ? "<|im_end|>" : "<|eot_id|>");
            const std::int32_t header = *tok.token_id(name == "qwen3" ? "<|im_start|>" : "<|start_header_id|>");
            std::vector<Ids> runs;
            for (std::size_t j = 0; j < ex.labels.size(); ++j) {
                if (ex.labels[j] == ignore_label) continue;
                if (j == 0 || ex.labels[j - 1] == ignore_label) runs.emplace_back();
                runs.back().push_back(ex.labels[j]);
            }
            std::vector<std::string> contents;
            for (const auto& m : messages)
                if (m.at("role") == "assistant") contents.push_back(m.at("content").get<std::string>());
            BOOST_REQUIRE(runs.size() == contents.size());
            for (std::size_t t = 0; t < runs.size(); ++t) {
                ++turns;
                BOOST_TEST(runs[t].back() == closing, "turn " << t);
                if (contents[t].find(name == "qwen3" ? "<|im_start|>" : "<|start_header_id|>") == std::string::npos)
                    BOOST_TEST(std::count(runs[t].begin(), runs[t].end(), header) == 0, "turn " << t);
                const std::string text = tok.decode(runs[t]);
                // The content as Python's str.strip() leaves it (Llama's template trims it).
                std::u32string wide = jinja::detail::decode(contents[t]);
                const auto not_space = [](char32_t ch) { return !jinja::detail::is_py_space(ch); };
                wide.erase(wide.begin(), std::find_if(wide.begin(), wide.end(), not_space));
                wide.erase(std::find_if(wide.rbegin(), wide.rend(), not_space).base(), wide.end());
                std::string core = jinja::detail::encode(wide);
                if (name == "qwen3") core = nfc(core);  // Qwen3's normalizer
                if (core.find("think>") == std::string::npos)
                    BOOST_TEST(text.find(core) != std::string::npos, "turn " << t << ": " << json(text).dump() << " lacks " << json(core).dump());
            }
        }
    }
    BOOST_TEST_MESSAGE(lines << " conversations, " << turns << " assistant turns");
    BOOST_TEST(lines >= 300u);
}

BOOST_AUTO_TEST_CASE(concurrent_encode_gives_the_same_ids) {
    const HfTokenizer tok = HfTokenizer::from_model_dir(real_dir / "llama3_1");
    const std::string text = "The quick brown fox, 12345 times; \xE4\xB8\xAD\xE6\x96\x87 and emoji \xF0\x9F\x98\x80!\n";
    const Ids want = tok.encode(text, true);
    std::vector<Ids> got(4);
    std::vector<std::thread> threads;
    for (auto& g : got)
        threads.emplace_back([&] {
            for (int k = 0; k < 200; ++k) g = tok.encode(text, true);
        });
    for (auto& t : threads) t.join();
    for (const auto& g : got) BOOST_TEST(g == want);
}

// ---- the regex matcher ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(regex_llama3_pattern_pieces) {
    const hf::Regex re(llama3_pattern);
    BOOST_TEST(matches(re, "Hello world") == (Strings{"Hello", " world"}));
    // Contractions in any case; 'ſ' (U+017F) folds to 's' as in Unicode case folding.
    BOOST_TEST(matches(re, "I'M WE'LL it's x'\xC5\xBF") == (Strings{"I", "'M", " WE", "'LL", " it", "'s", " x", "'\xC5\xBF"}));
    // Digits in threes; punctuation takes a leading space and trailing newlines.
    BOOST_TEST(matches(re, "1234567 ...\n\nx") == (Strings{"123", "456", "7", " ...\n\n", "x"}));
    // A run of spaces gives up its last one to the word after it; at the end it stays whole.
    BOOST_TEST(matches(re, "a   b  ") == (Strings{"a", "  ", " b", "  "}));
    // \s*[\r\n]+ takes the spaces before a newline.
    BOOST_TEST(matches(re, "a  \n  b") == (Strings{"a", "  \n", " ", " b"}));
    // A non-letter, non-digit, non-newline character may lead a word.
    BOOST_TEST(matches(re, "(word)") == (Strings{"(word", ")"}));
    BOOST_TEST(matches(re, "\xE4\xB8\xAD\xE6\x96\x87\xEF\xBC\x8C") == (Strings{"\xE4\xB8\xAD\xE6\x96\x87", "\xEF\xBC\x8C"}));
}

BOOST_AUTO_TEST_CASE(regex_constructs) {
    BOOST_TEST(matches(hf::Regex("a{2,3}"), "aaaaaaa") == (Strings{"aaa", "aaa"}));
    BOOST_TEST(matches(hf::Regex("a{2}"), "aaaaa") == (Strings{"aa", "aa"}));
    BOOST_TEST(matches(hf::Regex("a+?"), "aaa") == (Strings{"a", "a", "a"}));
    BOOST_TEST(matches(hf::Regex("a(?=b)"), "aab ab") == (Strings{"a", "a"}));
    BOOST_TEST(matches(hf::Regex("[^a-c\\s]+"), "abxyz d\xC3\xA9") == (Strings{"xyz", "d\xC3\xA9"}));
    BOOST_TEST(matches(hf::Regex("\\x{4E2D}|\\u6587"), "\xE4\xB8\xAD\xE6\x96\x87") == (Strings{"\xE4\xB8\xAD", "\xE6\x96\x87"}));
    BOOST_TEST(matches(hf::Regex("(?i)ab|c"), "AB aB C") == (Strings{"AB", "aB", "C"}));
    BOOST_TEST(matches(hf::Regex("x{,2}"), "x{,2}") == (Strings{"x{,2}"}));  // not a count: literal
    BOOST_TEST(matches(hf::Regex("\\P{L}+"), "ab12 cd") == (Strings{"12 "}));
    // An invalid UTF-8 byte is in no class: only a negated set takes it.
    BOOST_TEST(matches(hf::Regex("[^\\p{L}]"), std::string("a\xFF" "b")) == (Strings{"\xFF"}));
    BOOST_TEST(matches(hf::Regex("\\p{L}"), std::string("\xFF")).empty());
}

BOOST_AUTO_TEST_CASE(regex_refuses_what_it_does_not_support) {
    const auto refuse = [](const std::string& pattern, const Strings& parts) {
        expect_error([&] { hf::Regex(pattern, "tokenizer.json: field 'p'"); }, parts);
    };
    refuse("\\d+", {"tokenizer.json: field 'p'", "offset 0", "\\d"});
    refuse("ab(?<=b)", {"offset 4", "lookbehind"});
    refuse("\\p{Lu}", {"\\p{Lu}"});
    refuse("^a", {"anchors"});
    refuse("(?i:\xC3\xA9)", {"non-ASCII letter under (?i)"});
    refuse("a++", {"possessive"});
    refuse("(a", {"missing ')'"});
    refuse("a)", {"unbalanced ')'"});
    refuse("[a-", {"unterminated '['"});
    refuse("(a*)*", {"can match nothing"});
    refuse("\\1", {"\\1"});
    // Bounds on what a tokenizer.json can make the matcher do (fuzz findings).
    refuse(std::string(150, '(') + "a" + std::string(150, ')'), {"nested deeper than 100"});
    refuse("((a{1000}){1000}){1000}", {"more than 1048576 instructions"});
    const hf::Regex ambiguous("(a|a)*b", "tokenizer.json: field 'p'");
    expect_error([&] { matches(ambiguous, std::string(40, 'a') + "c"); }, {"field 'p'", "backtracks exponentially"});
}

// ---- pre-tokenizers --------------------------------------------------------------------------

// The example of tokenizers' documentation of SplitDelimiterBehavior: "the-final--countdown"
// split on "-".
BOOST_AUTO_TEST_CASE(split_behaviours_as_documented) {
    const auto pieces = [](const std::string& behavior, bool invert = false) {
        json j = small_tokenizer();
        j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
        const hf::PreTokenizer p = hf::PreTokenizer::from_json(&j["pre_tokenizer"], "tokenizer.json");
        Strings out;
        for (const auto& piece : p.apply(hf::Piece{"the-final--countdown"})) out.push_back(piece.text);
        return out;
    };
    BOOST_TEST(pieces("Removed") == (Strings{"the", "final", "countdown"}));
    BOOST_TEST(pieces("Isolated") == (Strings{"the", "-", "final", "-", "-", "countdown"}));
    BOOST_TEST(pieces("MergedWithPrevious") == (Strings{"the-", "final-", "-", "countdown"}));
    BOOST_TEST(pieces("MergedWithNext") == (Strings{"the", "-final", "-", "-countdown"}));
    BOOST_TEST(pieces("Contiguous") == (Strings{"the", "-", "final", "--", "countdown"}));
    BOOST_TEST(pieces("Removed", true) == (Strings{"-", "-", "-"}));
}

BOOST_AUTO_TEST_CASE(metaspace_and_digits) {
    const auto pieces = [](const json& pre, const std::string& text) {
        const hf::PreTokenizer p = hf::PreTokenizer::from_json(&pre, "tokenizer.json");
        Strings out;
        for (const auto& piece : p.apply(hf::Piece{text, false, true})) out.push_back(piece.text);
        return out;
    };
    const std::string m = "\xE2\x96\x81";
    BOOST_TEST(pieces({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}, {"split", true}}, "Hey friend!") ==
               (Strings{m + "Hey", m + "friend!"}));
    BOOST_TEST(pieces({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "never"}, {"split", false}}, "Hey friend!") ==
               (Strings{"Hey" + m + "friend!"}));
    BOOST_TEST(pieces({{"type", "Digits"}, {"individual_digits", true}}, "Call 123 please") ==
               (Strings{"Call ", "1", "2", "3", " please"}));
    BOOST_TEST(pieces({{"type", "Digits"}, {"individual_digits", false}}, "Call 123 please") ==
               (Strings{"Call ", "123", " please"}));
}

// ---- the model, added tokens, post-processor and decoders -----------------------------------

BOOST_AUTO_TEST_CASE(bpe_unknowns_and_byte_fallback) {
    json j = small_tokenizer();
    const auto id = [&](const std::string& t) { return j["model"]["vocab"][t].get<std::int32_t>(); };
    BOOST_TEST(load(j).encode("abcab") == (Ids{id("abc"), id("ab")}));
    BOOST_TEST(load(j).encode("axxa") == (Ids{id("a"), id("<unk>"), id("<unk>"), id("a")}));
    j["model"]["fuse_unk"] = true;
    BOOST_TEST(load(j).encode("axxa") == (Ids{id("a"), id("<unk>"), id("a")}));
    j["model"]["byte_fallback"] = true;  // "é" has both byte tokens, "x" has none
    BOOST_TEST(load(j).encode("\xC3\xA9x") == (Ids{id("<0xC3>"), id("<0xA9>"), id("<unk>")}));
    j["model"].erase("unk_token");
    expect_error([&] { load(j).encode("x"); }, {"\"x\"", "not in the vocabulary"});
    // ignore_merges: a piece that is a token is that token even where merges would not make it.
    json k = small_tokenizer();
    k["model"]["vocab"]["ba"] = 100;
    BOOST_TEST(load(k).encode("ba") == (Ids{id("b"), id("a")}));
    k["model"]["ignore_merges"] = true;
    BOOST_TEST(load(k).encode("ba") == (Ids{100}));
}

BOOST_AUTO_TEST_CASE(added_token_flags) {
    json j = small_tokenizer();
    const auto id = [&](const std::string& t) { return j["model"]["vocab"][t].get<std::int32_t>(); };
    const auto with = [&](json flags) {
        json k = j;
        flags["id"] = 50;
        flags["content"] = "dd";
        k["added_tokens"] = json::array({flags});
        return load(k);
    };
    // Found anywhere, leftmost-longest, before the model runs.
    BOOST_TEST(with({}).encode("adda") == (Ids{id("a"), 50, id("a")}));
    BOOST_TEST(with({}).encode("ddd") == (Ids{50, id("d")}));
    // single_word: not when a letter or digit touches it.
    BOOST_TEST(with({{"single_word", true}}).encode("adda") == (Ids{id("a"), id("d"), id("d"), id("a")}));
    BOOST_TEST(with({{"single_word", true}}).encode("a dd a") == (Ids{id("a"), id(" "), 50, id(" "), id("a")}));
    // lstrip / rstrip: the whitespace on that side goes into the token.
    BOOST_TEST(with({{"lstrip", true}}).encode("a  dd a") == (Ids{id("a"), 50, id(" "), id("a")}));
    BOOST_TEST(with({{"rstrip", true}}).encode("a  dd a") == (Ids{id("a"), id(" "), id(" "), 50, id("a")}));
    // normalized: matched in the normalized text (here after Replace "x" -> "d").
    json k = j;
    k["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", "x"}}}, {"content", "d"}};
    k["added_tokens"] = json::array({{{"id", 50}, {"content", "dd"}, {"normalized", true}}});
    BOOST_TEST(load(k).encode("axda") == (Ids{id("a"), 50, id("a")}));
    k["added_tokens"][0]["normalized"] = false;
    BOOST_TEST(load(k).encode("axda") == (Ids{id("a"), id("d"), id("d"), id("a")}));
}

BOOST_AUTO_TEST_CASE(post_processor_and_decoders) {
    json j = small_tokenizer();
    const auto id = [&](const std::string& t) { return j["model"]["vocab"][t].get<std::int32_t>(); };
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "e"}, {"type_id", 0}}}},
                                                   {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                                   {{"SpecialToken", {{"id", "d"}, {"type_id", 0}}}}})},
                           {"special_tokens", {{"e", {{"id", "e"}, {"ids", {id("e")}}, {"tokens", {"e"}}}},
                                               {"d", {{"id", "d"}, {"ids", {id("d")}}, {"tokens", {"d"}}}}}}};
    BOOST_TEST(load(j).encode("ab", true) == (Ids{id("e"), id("ab"), id("d")}));
    BOOST_TEST(load(j).encode("ab", false) == (Ids{id("ab")}));
    // Llama-2's decoder chain: Replace "▁" -> " ", ByteFallback, Fuse, Strip one leading " ".
    const std::string m = "\xE2\x96\x81";
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", m}}}, {"content", " "}},
                                              {{"type", "ByteFallback"}},
                                              {{"type", "Fuse"}},
                                              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
    const HfTokenizer t = load(j);
    BOOST_TEST(t.decode(Ids{id(m + "a"), id("b"), id("<0xC3>"), id("<0xA9>"), id(m + "a")}) == "ab\xC3\xA9 a");
    BOOST_TEST(t.decode(Ids{id("<0xC3>"), id("a")}) == "\xEF\xBF\xBD" "a");  // a broken byte run: U+FFFD per byte
    BOOST_TEST(t.decode(Ids{999}) == "<|999|>");
}

BOOST_AUTO_TEST_CASE(refusals_name_the_field) {
    const auto refuse = [](const std::function<void(json&)>& edit, const Strings& parts) {
        json j = small_tokenizer();
        edit(j);
        expect_error([&] { load(j); }, parts);
    };
    refuse([](json& j) { j["normalizer"] = {{"type", "BertNormalizer"}}; }, {"tokenizer.json: field 'normalizer'", "BertNormalizer"});
    refuse([](json& j) { j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "Strip"}}})}}; },
           {"field 'normalizer.normalizers[0]'", "Strip"});
    refuse([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, {"field 'pre_tokenizer'", "Whitespace"});
    refuse([](json& j) {
        j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\d+"}}}, {"behavior", "Isolated"}};
    }, {"field 'pre_tokenizer.pattern.Regex'", "\\d"});
    refuse([](json& j) {
        j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({{{"type", "ByteLevel"}}, {{"type", "Digits"}}})}};
    }, {"pre_tokenizer.pretokenizers[1]", "after ByteLevel"});
    refuse([](json& j) { j["model"]["type"] = "WordPiece"; }, {"field 'model.type'", "WordPiece"});
    refuse([](json& j) { j["model"]["dropout"] = 0.1; }, {"field 'model.dropout'", "random"});
    refuse([](json& j) { j["model"]["merges"].push_back("a z"); }, {"field 'model.merges[3]'", "\"z\"", "not in the vocabulary"});
    refuse([](json& j) { j["model"]["merges"].push_back("a b c"); }, {"field 'model.merges[3]'", "two tokens"});
    refuse([](json& j) { j["post_processor"] = {{"type", "BertProcessing"}}; }, {"field 'post_processor'", "BertProcessing"});
    refuse([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, {"field 'decoder'", "WordPiece"});
    refuse([](json& j) { j["added_tokens"] = json::array({{{"id", 3}, {"content", "a"}}}); }, {"added_tokens[0]", "has id 3 here and 0"});
    refuse([](json& j) { j["truncation"] = {{"max_length", 5}}; }, {"field 'truncation'"});
}
