// Fuzz target: the GPT-2 BPE loaders and the encoder. Input: one mode byte, then
//   mode 0: a tokenizer.json;
//   mode 1: vocab.json, a 0xff byte (never part of UTF-8 JSON), merges.txt;
//   mode 2: text encoded with GPT-2's own vocabulary (decode(encode(text)) must give it back).
// A tokenizer that loads then encodes the bytes after its file(s); every id must lie in its
// vocabulary. Errors are one line naming the file.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "tokclean/data/gpt2_bpe.hpp"

using namespace tokclean;

namespace {
const Gpt2Bpe* gpt2 = nullptr;

void check_ids(const Gpt2Bpe& tok, const std::vector<std::int32_t>& ids) {
    for (auto id : ids)
        if (id < 0 || id >= tok.vocab_size()) fuzz::violated("encode gave an id outside the vocabulary");
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const std::string dir = std::string(TOKCLEAN_TEST_DATA) + "/gpt2_bpe";
    gpt2 = new Gpt2Bpe(Gpt2Bpe::from_files(dir + "/vocab.json", dir + "/merges.txt"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    const unsigned mode = data[0] % 3;
    if (mode == 2) {
        const auto ids = gpt2->encode(in);
        check_ids(*gpt2, ids);
        if (gpt2->decode(ids) != in) fuzz::violated("decode(encode(text)) != text");
        return 0;
    }
    try {
        if (mode == 0) {
            // The text to encode follows a 0xff byte, if any.
            const std::size_t sep = in.find('\xff');
            const auto tok = Gpt2Bpe::from_tokenizer_json_text(in.substr(0, sep), "fuzz/tokenizer.json");
            if (sep != std::string_view::npos) check_ids(tok, tok.encode(in.substr(sep + 1)));
        } else {
            const std::size_t sep = in.find('\xff');
            if (sep == std::string_view::npos) return 0;
            const std::string_view rest = in.substr(sep + 1);
            const std::size_t sep2 = rest.find('\xff');
            const auto tok = Gpt2Bpe::from_texts(in.substr(0, sep), "fuzz/vocab.json", rest.substr(0, sep2),
                                                 "fuzz/merges.txt");
            if (sep2 != std::string_view::npos) check_ids(tok, tok.encode(rest.substr(sep2 + 1)));
        }
    } catch (const Error& e) {
        fuzz::check_error(e, "fuzz/");
    }
    return 0;
}
