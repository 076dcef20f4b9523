// Fuzz target: tokenizer.json as Hugging Face's tokenizers runs it (HfTokenizer) and the regex
// matcher of its Split pre-tokenizers (hf::Regex). Input: one mode byte, then
//   mode 0: tokenizer.json, a 0xff byte (never part of UTF-8 JSON), tokenizer_config.json
//           (empty: none), a 0xff byte, a text (any bytes);
//   mode 1: a regex pattern, a 0xff byte, a text (any bytes).
// A tokenizer that loads encodes a few fixed texts and the input's, with and without special
// tokens: every id lies in its vocabulary, the special tokens are the post-processor's prefix
// and suffix around the plain ids, and the ids decode (a text may be refused: one line naming
// the tokenizer). A pattern that compiles matches the text: matches lie in it, in order, never
// empty. Errors are one line naming the file.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "tokclean/data/hf/regex.hpp"
#include "tokclean/data/hf_tokenizer.hpp"

using namespace tokclean;

namespace {

// Inputs past this are cut: the real files are megabytes, but the tables' code paths are
// reached by small ones, and a long text only makes each run slower.
constexpr std::size_t max_input = 64 * 1024;

// Prose, whitespace runs, digits, non-ASCII ("é 中文 😀 ▁a"), special-token strings, invalid UTF-8.
constexpr std::string_view fixed_texts[] = {
    "", "Hello world! It's 12:30 -- isn't it?\n\n\tx  y   \r\n2024",
    "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xe2\x96\x81" "a",
    "<s></s><|endoftext|><|begin_of_text|> <unk>", "ab\xff\xc3 \xed\xa0\x80x"};

void check_ids(const HfTokenizer& tok, const std::vector<std::int32_t>& ids) {
    for (auto id : ids)
        if (id < 0 || id >= tok.vocab_size()) fuzz::violated("encode gave an id outside the vocabulary");
}

// Encoding may refuse a text (a character outside a vocabulary without unk_token or
// byte_fallback): that error names the tokenizer, not the file.
void exercise(const HfTokenizer& tok, std::string_view text) try {
    const auto plain = tok.encode(text, false);
    check_ids(tok, plain);
    const auto special = tok.encode(text, true);
    check_ids(tok, special);
    std::vector<std::int32_t> want(tok.special_prefix().begin(), tok.special_prefix().end());
    want.insert(want.end(), plain.begin(), plain.end());
    want.insert(want.end(), tok.special_suffix().begin(), tok.special_suffix().end());
    if (special != want) fuzz::violated("encode(text, true) is not prefix + encode(text) + suffix");
    (void)tok.decode(plain);
    (void)tok.decode(special);
} catch (const Error& e) {
    fuzz::check_error(e, "tokenizer: ");
}

void run_regex(std::string_view pattern, std::string_view text) {
    const hf::Regex re(pattern, "fuzz/regex");
    std::size_t last = 0;
    re.for_each_match(text, [&](std::size_t b, std::size_t e) {
        if (b < last || e <= b || e > text.size()) fuzz::violated("a match outside the text, out of order or empty");
        last = e;
    });
    const std::size_t end = re.match_at(text, 0);
    if (end != hf::Regex::npos && end > text.size()) fuzz::violated("match_at ends past the text");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1 || size > max_input) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    const unsigned mode = data[0] % 2;
    const std::size_t sep = in.find('\xff');
    try {
        if (mode == 1) {
            if (sep == std::string_view::npos) run_regex(in, {});
            else run_regex(in.substr(0, sep), in.substr(sep + 1));
            return 0;
        }
        std::string_view config, text;
        if (sep != std::string_view::npos) {
            const std::string_view rest = in.substr(sep + 1);
            const std::size_t sep2 = rest.find('\xff');
            config = rest.substr(0, sep2);
            if (sep2 != std::string_view::npos) text = rest.substr(sep2 + 1);
        }
        const auto tok = HfTokenizer::from_texts(in.substr(0, sep), "fuzz/tokenizer.json", config,
                                                 "fuzz/tokenizer_config.json");
        for (std::string_view fixed : fixed_texts) exercise(tok, fixed);
        exercise(tok, text);
    } catch (const Error& e) {
        fuzz::check_error(e, "fuzz/");
    }
    return 0;
}
