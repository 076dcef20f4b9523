// Tests of data/: the byte tokenizer, JSONL reading (every format, with the chat template),
// batches and the batch schedule.
#define BOOST_TEST_MODULE test_data
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "tokclean/data/batch.hpp"
#include "tokclean/data/byte_tokenizer.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/data/gpt2_bpe.hpp"
#include "tokclean/data/jsonl_reader.hpp"
#include "tokclean/nn/gpt_config.hpp"  // ByteTokenizer::from_config

#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace tokclean;
using test_support::expect_error;
using test_support::TempDir;
using Ids = std::vector<std::int32_t>;

namespace {

// Writes `text` to a file in `dir` and reads it with `opt`.
struct DataFile {
    TempDir dir;
    fs::path file = dir.path / "data.jsonl";
    ReadResult read(const std::string& text, const ReadOptions& opt) {
        std::ofstream(file, std::ios::binary) << text;
        return read_examples(file, opt);
    }
    // The error for a file whose line `line` is `bad` (after a good first line).
    void expect_line_error(const std::string& bad, const ReadOptions& opt, const std::string& what) {
        const std::string text = "{\"input_ids\": [1, 2]}\n\n" + bad + "\n";
        expect_error([&] { read(text, opt); }, {file.string() + ":3: " + what});
    }
};

ReadOptions options(std::int32_t vocab = 257, std::size_t max_len = 0, bool strict = false) {
    ReadOptions o;
    o.vocab_size = vocab;
    o.max_len = max_len;
    o.strict = strict;
    return o;
}

Example example(Ids ids, Ids labels) { return Example{std::move(ids), std::move(labels), 0}; }

}  // namespace

// ---- byte tokenizer ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(byte_tokenizer_round_trip) {
    const ByteTokenizer tok;
    BOOST_TEST(tok.eos_id() == 256);
    BOOST_TEST(tok.encode("Hi\xc3\xa9") == (Ids{72, 105, 0xc3, 0xa9}));
    BOOST_TEST(tok.encode("").empty());
    const Ids ids = {72, 105, 256, 0, 300};
    BOOST_TEST(tok.decode(ids) == std::string("Hi<|endoftext|>\0<|300|>", 23));
    BOOST_TEST(tok.decode(tok.encode("any \xff bytes")) == "any \xff bytes");

    GptConfig c;
    c.tokenizer = "byte";
    c.eos_token_id = 256;
    BOOST_TEST(ByteTokenizer::from_config(c).eos_id() == 256);
    c.tokenizer = "";
    expect_error([&] { ByteTokenizer::from_config(c, "m/config.json"); },
                 {"m/config.json: field 'tokclean_tokenizer'", "\"none\""});

    const TokenizerRef ref = &tok;
    BOOST_TEST(static_cast<bool>(ref));
    BOOST_TEST(ref.name() == "byte");
    BOOST_TEST(ref.encode("ab") == (Ids{97, 98}));
    BOOST_TEST(!TokenizerRef{});
}

// ---- JSONL formats -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(reads_text_format) {
    DataFile f;
    const ByteTokenizer tok;
    ReadOptions opt = options();
    opt.tokenizer = &tok;
    // A blank line, CRLF endings and a last line without a newline.
    const auto r = f.read("{\"text\": \"ab\"}\r\n\n  \n{\"text\": \"\\u00e9\\n\"}", opt);
    BOOST_TEST(r.examples.size() == 2u);
    BOOST_TEST(r.truncated == 0u);
    BOOST_TEST(r.examples[0].input_ids == (Ids{97, 98}));
    BOOST_TEST(r.examples[0].labels == r.examples[0].input_ids);
    BOOST_TEST(r.examples[0].line == 1u);
    BOOST_TEST(r.examples[1].input_ids == (Ids{0xc3, 0xa9, 10}));
    BOOST_TEST(r.examples[1].line == 4u);
}

BOOST_AUTO_TEST_CASE(reads_tokenized_format) {
    DataFile f;
    const auto r = f.read(
        "{\"input_ids\": [5, 6, 7], \"labels\": [-100, 6, 7]}\n"
        "{\"input_ids\": [1, 2]}\n"
        "{\"input_ids\": [3], \"labels\": null, \"attention_mask\": [1], \"scores\": [null]}\n",
        options(10));
    BOOST_TEST(r.examples.size() == 3u);
    BOOST_TEST(r.examples[0].labels == (Ids{-100, 6, 7}));
    BOOST_TEST(r.examples[0].num_targets() == 2);
    BOOST_TEST(r.examples[1].labels == (Ids{1, 2}));  // labels absent: every token a target
    BOOST_TEST(r.examples[2].input_ids == (Ids{3}));
    BOOST_TEST(r.examples[2].line == 3u);
}

BOOST_AUTO_TEST_CASE(bad_lines_name_file_line_and_field) {
    DataFile f;
    const auto opt = options(10);
    for (const auto& [line, what] : std::vector<std::pair<std::string, std::string>>{
         {"{\"input_ids\": [1, 2,]}", "not valid JSON at column 21"},
         {"[1, 2]", "expected a JSON object, got an array"},
         {"{\"input_ids\": [1], \"foo\": 1}", "unknown field 'foo'"},
         {"{\"input_ids\": \"1 2\"}", "field 'input_ids': expected an array of integers, got a string"},
         {"{\"input_ids\": [1, 2.5]}", "field 'input_ids'[1]: expected an integer, got 2.5"},
         {"{\"input_ids\": [1, 2, 3, 10]}", "field 'input_ids'[3]: token id 10 is >= vocab_size 10"},
         {"{\"input_ids\": [-1]}", "field 'input_ids'[0]: token id -1 is negative"},
         {"{\"input_ids\": [1, 2], \"labels\": [1]}", "field 'labels': length 1 differs from the length 2 of 'input_ids'"},
         {"{\"input_ids\": [1, 2], \"labels\": [1, -5]}", "field 'labels'[1]: label -5 is neither -100 nor in [0, vocab_size 10)"},
         {"{\"input_ids\": [1, 2], \"labels\": 3}", "field 'labels': expected an array of integers, got 3"},
         {"{\"input_ids\": []}", "field 'input_ids': empty sequence"},
         {"{\"input_ids\": [1], \"attention_mask\": [0]}", "field 'attention_mask'[0]: 0"},
         {"{\"text\": \"hello\"}", "field 'text': no tokenizer to read text with (ReadOptions::tokenizer is not set"},
         {"{\"text\": 5}", "field 'text': expected a string, got 5"},
         {"{\"text\": \"a\", \"id\": 3}", "unknown field 'id'"},
         {"{\"foo\": 1}", "expected a field 'text', 'prompt' and 'completion', 'messages' or 'input_ids'"}})
        f.expect_line_error(line, opt, what);

    const ByteTokenizer tok;
    ReadOptions with_tok = options(257);
    with_tok.tokenizer = &tok;
    f.expect_line_error("{\"text\": \"\"}", with_tok, "field 'text': empty text");
    // A tokenizer whose ids do not fit the model's vocabulary.
    ReadOptions small = options(100);
    small.tokenizer = &tok;
    f.expect_line_error("{\"text\": \"z\"}", small, "field 'text': tokenizer 'byte' gave token id 122");

    expect_error([&] { f.read("\n\n", opt); }, {f.file.string(), "no examples"});
    expect_error([&] { read_examples(f.dir.path / "missing.jsonl", opt); },
                 {"missing.jsonl: cannot open"});
}

// Bytes of `text` as ids (the byte tokenizer's encoding), for building expectations.
Ids bytes(const std::string& text) { return Ids(text.begin(), text.end()); }
Ids masked(std::size_t n) { return Ids(n, ignore_label); }
Ids cat(std::initializer_list<Ids> parts) {
    Ids out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

BOOST_AUTO_TEST_CASE(reads_prompt_completion_format) {
    DataFile f;
    const ByteTokenizer tok;
    ReadOptions opt = options();
    opt.tokenizer = &tok;
    const auto r = f.read(
        "{\"prompt\": \"ab\", \"completion\": \"c\"}\n"
        "{\"completion\": \"\", \"prompt\": \"q\"}\n"  // empty completion: EOS is the target
        "{\"prompt\": \"\", \"completion\": \"\\u00e9\"}\n",
        opt);
    BOOST_TEST(r.examples.size() == 3u);
    BOOST_TEST(r.examples[0].input_ids == (Ids{97, 98, 99, 256}));
    BOOST_TEST(r.examples[0].labels == (Ids{-100, -100, 99, 256}));
    BOOST_TEST(r.examples[0].num_targets() == 2);
    BOOST_TEST(r.examples[1].input_ids == (Ids{113, 256}));
    BOOST_TEST(r.examples[1].labels == (Ids{-100, 256}));
    BOOST_TEST(r.examples[2].input_ids == (Ids{0xc3, 0xa9, 256}));
    BOOST_TEST(r.examples[2].labels == (Ids{0xc3, 0xa9, 256}));
    BOOST_TEST(r.examples[2].line == 3u);
}

BOOST_AUTO_TEST_CASE(reads_messages_format) {
    DataFile f;
    const ByteTokenizer tok;
    ReadOptions opt = options();
    opt.tokenizer = &tok;
    // A short custom template, so that the whole expectation can be written out.
    opt.chat_template = ChatTemplate{"S>", "U>", "A>", ";"};
    const auto r = f.read(
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, "
        "{\"role\": \"assistant\", \"content\": \"yo\"}, {\"content\": \"x\", \"role\": \"user\"}, "
        "{\"role\": \"assistant\", \"content\": \"\"}]}\n"
        "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"assistant\", "
        "\"content\": \"a\"}]}\n",
        opt);
    BOOST_TEST(r.examples.size() == 2u);
    // Turn by turn: "U>hi;", "A>yo" EOS ";", "U>x;", "A>" EOS ";".
    BOOST_TEST(r.examples[0].input_ids == cat({{85, 62, 104, 105, 59},
                                               {65, 62, 121, 111, 256, 59},
                                               {85, 62, 120, 59},
                                               {65, 62, 256, 59}}));
    BOOST_TEST(r.examples[0].labels == cat({{-100, -100, -100, -100, -100},
                                            {-100, -100, 121, 111, 256, -100},
                                            {-100, -100, -100, -100},
                                            {-100, -100, 256, -100}}));
    BOOST_TEST(r.examples[1].input_ids == (Ids{83, 62, 115, 59, 65, 62, 97, 256, 59}));
    BOOST_TEST(r.examples[1].labels == (Ids{-100, -100, -100, -100, -100, -100, 97, 256, -100}));

    // The default template: "<|system|>\n...\n<|user|>\n...\n<|assistant|>\n...EOS\n".
    opt.chat_template = ChatTemplate{};
    const auto d = f.read(
        "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
        "{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": "
        "\"Hello!\"}]}\n",
        opt);
    const Ids prefix = bytes("<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n");
    BOOST_TEST(d.examples[0].input_ids == cat({prefix, bytes("Hello!"), {256}, {10}}));
    BOOST_TEST(d.examples[0].labels ==
               cat({masked(prefix.size()), bytes("Hello!"), {256}, {-100}}));
    BOOST_TEST(d.examples[0].num_targets() == 7);

    // Truncation applies as to any format.
    opt.max_len = 4;
    const auto t =
        f.read("{\"messages\": [{\"role\": \"assistant\", \"content\": \"abc\"}]}\n", opt);
    BOOST_TEST(t.truncated == 1u);
    BOOST_TEST(t.examples[0].input_ids == bytes("<|as"));
}

BOOST_AUTO_TEST_CASE(sft_formats_with_gpt2_bpe) {
    const fs::path dir = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_bpe";
    const Gpt2Bpe tok = Gpt2Bpe::from_files(dir / "vocab.json", dir / "merges.txt");
    DataFile f;
    ReadOptions opt = options(50257);
    opt.tokenizer = &tok;
    // Ids from the reference encoder (npm gpt-3-encoder) for each part.
    const auto r = f.read(
        "{\"prompt\": \"Hello\", \"completion\": \" world\"}\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"What is 2+2?\"}, "
        "{\"role\": \"assistant\", \"content\": \"It's 4.\"}]}\n",
        opt);
    BOOST_TEST(r.examples[0].input_ids == (Ids{15496, 995, 50256}));
    BOOST_TEST(r.examples[0].labels == (Ids{-100, 995, 50256}));
    const Ids user = {27, 91, 7220, 91, 29, 198}, question = {2061, 318, 362, 10, 17, 30},
              assistant = {27, 91, 562, 10167, 91, 29, 198}, answer = {1026, 338, 604, 13};
    BOOST_TEST(r.examples[1].input_ids ==
               cat({user, question, {198}, assistant, answer, {50256}, {198}}));
    BOOST_TEST(r.examples[1].labels ==
               cat({masked(user.size() + question.size() + 1 + assistant.size()), answer,
                    {50256}, {-100}}));
}

BOOST_AUTO_TEST_CASE(sft_format_errors) {
    DataFile f;
    const ByteTokenizer tok;
    ReadOptions opt = options();
    opt.tokenizer = &tok;
    const std::string user = "{\"role\": \"user\", \"content\": \"q\"}";
    const std::string assistant = "{\"role\": \"assistant\", \"content\": \"a\"}";
    auto msgs = [](const std::string& list) { return "{\"messages\": [" + list + "]}"; };

    // Without a tokenizer.
    f.expect_line_error("{\"prompt\": \"a\", \"completion\": \"b\"}", options(),
                        "field 'prompt': no tokenizer to read text with");
    f.expect_line_error(msgs(user + ", " + assistant), options(),
                        "field 'messages': no tokenizer to read text with");

    // {"prompt", "completion"}.
    for (const auto& [line, what] : std::vector<std::pair<std::string, std::string>>{
         {"{\"prompt\": 5, \"completion\": \"b\"}", "field 'prompt': expected a string, got 5"},
         {"{\"prompt\": \"a\", \"completion\": [\"b\"]}", "field 'completion': expected a string, got an array"},
         {"{\"prompt\": \"a\"}", "missing required field 'completion'"},
         {"{\"completion\": \"a\"}", "missing required field 'prompt'"},
         {"{\"prompt\": \"a\", \"completion\": \"b\", \"id\": 1}", "unknown field 'id' (expected: prompt, completion)"}})
        f.expect_line_error(line, opt, what);
    ReadOptions small = options(100);
    small.tokenizer = &tok;
    f.expect_line_error(
        "{\"prompt\": \"a\", \"completion\": \"z\"}", small,
        "field 'completion': tokenizer 'byte' gave token id 122 outside [0, vocab_size 100)");
    ReadOptions no_eos = options(200);
    no_eos.tokenizer = &tok;
    f.expect_line_error(
        "{\"prompt\": \"a\", \"completion\": \"b\"}", no_eos,
        "field 'completion': tokenizer 'byte' has EOS id 256 outside [0, vocab_size 200)");

    // {"messages"}.
    for (const auto& [line, what] : std::vector<std::pair<std::string, std::string>>{
         {"{\"messages\": \"hi\"}", "field 'messages': expected a non-empty array of {\"role\", \"content\"} "
                        "objects, got a string"},
         {msgs(""), "field 'messages': expected a non-empty array of {\"role\", \"content\"} "
                        "objects, got an empty array"},
         {msgs("[1]"), "field 'messages'[0]: expected an object {\"role\", \"content\"}, got an array"},
         {msgs(user + ", {\"content\": \"a\"}"), "field 'messages'[1]: missing required field 'role'"},
         {msgs("{\"role\": 3, \"content\": \"a\"}"), "field 'messages'[0].role: expected a string, got 3"},
         {msgs(user + ", " + assistant + ", {\"role\": \"bot\", \"content\": \"a\"}"), "field 'messages'[2].role: unknown role \"bot\" (expected system, user or assistant)"},
         {msgs("{\"role\": \"user\"}, " + assistant), "field 'messages'[0]: missing required field 'content'"},
         {msgs(user + ", {\"role\": \"assistant\", \"content\": null}"), "field 'messages'[1].content: expected a string, got null"},
         {msgs(user + ", {\"role\": \"assistant\", \"content\": [\"a\"]}"), "field 'messages'[1].content: expected a string, got an array"},
         {msgs("{\"role\": \"user\", \"content\": \"q\", \"name\": \"x\"}, " + assistant), "field 'messages'[0]: unknown field 'name' (expected: role, content)"},
         {msgs(user + ", {\"role\": \"system\", \"content\": \"s\"}"), "field 'messages': no assistant turn (nothing to learn from)"},
         {"{\"messages\": [" + assistant + "], \"id\": 7}", "unknown field 'id' (expected: messages)"}})
        f.expect_line_error(line, opt, what);
    f.expect_line_error(
        msgs(user + ", " + assistant), small,
        "field 'messages'[0] (its chat-template header): tokenizer 'byte' gave token id 124 "
        "outside [0, vocab_size 100)");
    ReadOptions v125 = options(125);  // holds the template's bytes ('|' = 124), not '~' = 126
    v125.tokenizer = &tok;
    f.expect_line_error(msgs(user + ", {\"role\": \"assistant\", \"content\": \"~\"}"), v125,
                        "field 'messages'[1].content: tokenizer 'byte' gave token id 126 outside "
                        "[0, vocab_size 125)");
}

BOOST_AUTO_TEST_CASE(truncation_and_strict) {
    DataFile f;
    const std::string text =
        "{\"input_ids\": [1, 2, 3, 4, 5], \"labels\": [-100, 2, 3, 4, 5]}\n"
        "{\"input_ids\": [1, 2, 3]}\n"
        "{\"input_ids\": [1, 2, 3, 4]}\n";
    const auto r = f.read(text, options(10, 3));
    BOOST_TEST(r.truncated == 2u);
    BOOST_TEST(r.examples[0].input_ids == (Ids{1, 2, 3}));
    BOOST_TEST(r.examples[0].labels == (Ids{-100, 2, 3}));
    BOOST_TEST(r.examples[1].input_ids == (Ids{1, 2, 3}));
    BOOST_TEST(r.examples[2].size() == 3u);
    BOOST_TEST(f.read(text, options(10, 5)).truncated == 0u);
    expect_error([&] { f.read(text, options(10, 3, true)); },
                 {f.file.string() + ":1: sequence of 5 tokens is longer than max_len 3"});
}

BOOST_AUTO_TEST_CASE(streaming_reader) {
    DataFile f;
    std::ofstream(f.file) << "{\"input_ids\": [1]}\n\n{\"input_ids\": [2, 3]}";
    ExampleReader reader(f.file, options(10));
    Example ex;
    BOOST_TEST(reader.next(ex));
    BOOST_TEST(ex.line == 1u);
    BOOST_TEST(reader.next(ex));
    BOOST_TEST(ex.input_ids == (Ids{2, 3}));
    BOOST_TEST(ex.line == 3u);
    BOOST_TEST(!reader.next(ex));
}

BOOST_AUTO_TEST_CASE(fixture_data_file) {
    const fs::path file = fs::path(TOKCLEAN_TEST_DATA) / "gpt2_tiny" / "data.jsonl";
    if (!fs::exists(file)) return;
    const auto r = read_examples(file, options(97));
    BOOST_TEST(r.examples.size() == 4u);
    BOOST_TEST(r.examples[2].labels == r.examples[2].input_ids);
}

// ---- batches -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(batch_padding_and_targets) {
    const std::vector<Example> ex = {example({1, 2, 3}, {1, 2, 3}),          // 2 targets (j >= 1)
                                     example({4}, {4}),                      // 0
                                     example({5, 6, 7, 8}, {-100, -100, 7, 8})};  // 2
    const Batch b = make_batch(ex);
    BOOST_TEST(b.batch_size() == 3);
    BOOST_TEST(b.seq_len() == 4);
    const Ids ids(b.input_ids.span().begin(), b.input_ids.span().end());
    const Ids labels(b.labels.span().begin(), b.labels.span().end());
    BOOST_TEST(ids == (Ids{1, 2, 3, 0, 4, 0, 0, 0, 5, 6, 7, 8}));
    BOOST_TEST(labels == (Ids{1, 2, 3, -100, 4, -100, -100, -100, -100, -100, 7, 8}));
    BOOST_TEST(b.num_targets == 4);

    const std::vector<std::size_t> idx = {2, 0};
    const Batch c = make_batch(ex, idx);
    BOOST_TEST(c.batch_size() == 2);
    BOOST_TEST(c.input_ids(1, 0) == 1);
    BOOST_TEST(c.labels(1, 3) == -100);
    BOOST_TEST(c.num_targets == 4);

    const std::vector<std::size_t> one = {1};
    const Batch d = make_batch(ex, one, 6);
    BOOST_TEST(d.seq_len() == 6);
    BOOST_TEST(d.num_targets == 0);
}

BOOST_AUTO_TEST_CASE(schedule_in_order_wraps_with_partial_batches) {
    BatchSchedule s(5, 2);
    BOOST_TEST(s.steps_per_epoch() == 3u);
    using V = std::vector<std::size_t>;
    BOOST_TEST(s.next() == (V{0, 1}));
    BOOST_TEST(s.next() == (V{2, 3}));
    BOOST_TEST(s.next() == (V{4}));  // the last partial batch is kept
    BOOST_TEST(s.epoch() == 0u);
    BOOST_TEST(s.next() == (V{0, 1}));  // the next epoch starts over
    BOOST_TEST(s.epoch() == 1u);
    BOOST_TEST(s.step() == 4u);

    BatchSchedule big(3, 8);
    BOOST_TEST(big.next() == (V{0, 1, 2}));
    BOOST_TEST(big.next() == (V{0, 1, 2}));
}

BOOST_AUTO_TEST_CASE(schedule_shuffled_is_seeded) {
    auto steps = [](std::uint64_t seed, int n) {
        BatchSchedule s(10, 3, true, seed);
        std::vector<std::vector<std::size_t>> out;
        for (int i = 0; i < n; ++i) out.push_back(s.next());
        return out;
    };
    const auto a = steps(7, 8), b = steps(7, 8), c = steps(8, 8);
    BOOST_TEST((a == b));
    BOOST_TEST((a != c));
    // Each epoch (4 steps: 3 + 3 + 3 + 1) is a permutation, and the epochs differ.
    for (int e = 0; e < 2; ++e) {
        std::vector<std::size_t> all;
        for (int i = 0; i < 4; ++i) all.insert(all.end(), a[4 * e + i].begin(), a[4 * e + i].end());
        BOOST_TEST(a[4 * e + 3].size() == 1u);
        std::vector<std::size_t> sorted = all;
        std::sort(sorted.begin(), sorted.end());
        std::vector<std::size_t> want(10);
        for (std::size_t i = 0; i < 10; ++i) want[i] = i;
        BOOST_TEST(sorted == want);
    }
    BOOST_TEST((a[0] != a[4] || a[1] != a[5]));
    std::vector<std::size_t> identity = {0, 1, 2};
    BOOST_TEST((a[0] != identity || a[1] != std::vector<std::size_t>{3, 4, 5}));
}

// A schedule restored from its state() after any step (epoch boundaries included) hands out
// the same batches as one never stopped: what a training checkpoint relies on.
BOOST_AUTO_TEST_CASE(schedule_state_restores_the_same_steps) {
    for (const bool shuffle : {false, true}) {
        BatchSchedule whole(10, 3, shuffle, 11);
        std::vector<std::vector<std::size_t>> want;
        for (int i = 0; i < 20; ++i) want.push_back(whole.next());
        for (int stop = 0; stop <= 20; ++stop) {
            BatchSchedule first(10, 3, shuffle, 11);
            for (int i = 0; i < stop; ++i) first.next();
            BatchSchedule resumed(10, 3, shuffle, 11);
            resumed.restore(first.state());
            BOOST_TEST(resumed.step() == static_cast<std::size_t>(stop));
            for (int i = stop; i < 20; ++i) BOOST_TEST((resumed.next() == want[static_cast<std::size_t>(i)]), "stop " << stop);
        }
    }
    BatchSchedule s(4, 2);
    auto bad = s.state();
    bad.pos = 9;
    expect_error([&] { s.restore(bad); }, {"schedule position 9 is beyond the 4 examples"});
}

// Non-UTF-8 text, numbers beyond a double, and "scores" of the cleaned form: one-line errors
// naming the line (and the column of the first bad byte).
BOOST_AUTO_TEST_CASE(utf8_overflow_and_scores_errors) {
    DataFile f;
    const ByteTokenizer tok;
    ReadOptions opt = options(257);
    opt.tokenizer = &tok;
    f.expect_line_error("{\"text\": \"ab\xff\"}", opt, "not valid UTF-8 at column 13 (byte 0xff; JSON text must be UTF-8");
    f.expect_line_error("{\"text\": \"\xed\xa0\x80\"}", opt, "not valid UTF-8 at column 11 (byte 0xed");  // a surrogate
    f.expect_line_error("{\"text\": \"\xc0\xaf\"}", opt, "not valid UTF-8 at column 11 (byte 0xc0");      // overlong
    // Valid UTF-8 after a syntax error is not blamed on the encoding.
    for (const auto& [line, what] : std::vector<std::pair<std::string, std::string>>{
         {"{\"text\": \"a\",, \"\xff\"}", "not valid JSON at column 14"},
         {"{\"input_ids\": [1e999]}", "not valid JSON: number overflow"},
         {"{\"input_ids\": [1, 2], \"scores\": [null, 1, 2]}", "field 'scores': length 3 differs from the length 2 of 'input_ids'"},
         {"{\"input_ids\": [1, 2], \"scores\": {\"a\": 1}}", "field 'scores': expected an array of numbers and nulls, got an object"},
         {"{\"input_ids\": [1, 2], \"scores\": [null, true]}", "field 'scores'[1]: expected a number or null, got true"},
         // Control characters and invalid bytes of a key are escaped in the message.
         {"{\"input_ids\": [1], \"a\\u001b[31m\": 1}", "unknown field 'a\\x1b[31m'"},
         // A field given twice would keep its last value: refused, at the top and inside messages.
         {"{\"input_ids\": [1, 2, 3], \"input_ids\": [4, 5, 6], \"labels\": [1, 2, 3]}", "duplicate key 'input_ids' (a JSON object may name a field once)"},
         {"{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, "
                        "{\"role\": \"assistant\", \"content\": \"a\", \"role\": \"user\"}]}", "field 'messages'[1]: duplicate key 'role' (a JSON object may name a field once)"},
         {"{\"text\": \"a\", \"te\\u0000xt\": \"b\", \"te\\u0000xt\": \"c\"}", "duplicate key 'te\\x00xt'"}})
        f.expect_line_error(line, opt, what);
    const auto ok = f.read("{\"input_ids\": [1, 2], \"labels\": [-100, 2], \"scores\": [null, -0.5]}\n", opt);
    BOOST_TEST(ok.examples.size() == 1u);
}
