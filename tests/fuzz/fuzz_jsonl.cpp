// Fuzz target: the JSONL reader (every format, the GPT-2 BPE and byte tokenizers, truncation).
// Input: one flags byte, then the file's bytes.
//   bit 0-1: tokenizer (0 none, 1 byte, 2 GPT-2 BPE, 3 byte with a too small vocabulary)
//   bit 2-4: max_len (0: none, else 2^k)        bit 5: strict
// Checks: examples are well formed (lengths, ids in the vocabulary, max_len), a pre-tokenized
// example written back as JSON reads back equal, and errors are one line naming the file.
#include <cstdint>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/gpt2_bpe.hpp"
#include "tokclean/data/jsonl_reader.hpp"

using namespace tokclean;

namespace {
const Gpt2Bpe* bpe = nullptr;
const ByteTokenizer byte_tok;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const std::string dir = std::string(TOKCLEAN_TEST_DATA) + "/gpt2_bpe";
    bpe = new Gpt2Bpe(Gpt2Bpe::from_files(dir + "/vocab.json", dir + "/merges.txt"));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const unsigned flags = data[0];
    ReadOptions opt;
    switch (flags & 3) {
        case 0: opt.vocab_size = 97; break;
        case 1: opt.vocab_size = 257, opt.tokenizer = &byte_tok; break;
        case 2: opt.vocab_size = bpe->vocab_size(), opt.tokenizer = bpe; break;
        default: opt.vocab_size = 120, opt.tokenizer = &byte_tok; break;
    }
    const unsigned k = (flags >> 2) & 7;
    opt.max_len = k ? std::size_t{1} << k : 0;
    opt.strict = flags & 32;
    std::istringstream in(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
    ExampleReader reader(in, "fuzz.jsonl", opt);
    Example ex;
    try {
        while (reader.next(ex)) {
            if (ex.input_ids.empty()) fuzz::violated("an empty example was accepted");
            if (ex.labels.size() != ex.input_ids.size()) fuzz::violated("labels and input_ids differ in length");
            if (opt.max_len && ex.input_ids.size() > opt.max_len) fuzz::violated("longer than max_len");
            for (std::size_t j = 0; j < ex.input_ids.size(); ++j) {
                if (ex.input_ids[j] < 0 || ex.input_ids[j] >= opt.vocab_size) fuzz::violated("id outside the vocabulary");
                if (ex.labels[j] != ignore_label && (ex.labels[j] < 0 || ex.labels[j] >= opt.vocab_size))
                    fuzz::violated("label outside the vocabulary");
            }
            if (ex.line != reader.line()) fuzz::violated("wrong line number");
            // The pre-tokenized form of the example reads back as the same example.
            const std::string line = nlohmann::json{{"input_ids", ex.input_ids}, {"labels", ex.labels}}.dump();
            bool cut = true;
            const Example back = parse_example_line(line, JsonWhere{"roundtrip", 1}, opt, cut);
            if (cut || back.input_ids != ex.input_ids || back.labels != ex.labels)
                fuzz::violated("the pre-tokenized form does not read back", line);
        }
    } catch (const Error& e) {
        fuzz::check_error(e, "fuzz.jsonl:");
    }
    return 0;
}
