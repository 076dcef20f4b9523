#pragma once
// Reads training examples from a JSONL file, one JSON object per line (DESIGN.md, "Data
// files"). Each line's format is recognised from its fields:
//   {"text": "..."}                          tokenized by the model's tokenizer; all targets
//   {"input_ids": [...], "labels": [...]}    pre-tokenized; labels optional (= input_ids)
// A new format is one more JsonlFormat, a case in detect_format() and a parse_* function.
// Every error is one line: "data.jsonl:7: field 'input_ids'[3]: token id 600 is >= vocab_size 512".
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean {

struct ReadOptions {
    std::int32_t vocab_size = 0;  // every id must lie in [0, vocab_size)
    std::size_t max_len = 0;      // longer sequences are cut to max_len (0: no limit) ...
    bool strict = false;          // ... or rejected with an error when strict
    TokenizerRef tokenizer{};     // for text formats; empty: pre-tokenized lines only
};

struct ReadResult {
    std::vector<Example> examples;
    std::size_t truncated = 0;  // examples cut to max_len (the caller prints one warning)
};

enum class JsonlFormat {
    text,       // {"text"}
    tokenized,  // {"input_ids", "labels"?}
};

namespace detail {

inline void check_token_id(std::int64_t id, std::string_view field, std::size_t index,
                           const ReadOptions& opt, const JsonWhere& w) {
    if (id < 0)
        fail(w.str(), ": field '", field, "'[", index, "]: token id ", id, " is negative");
    if (id >= opt.vocab_size)
        fail(w.str(), ": field '", field, "'[", index, "]: token id ", id, " is >= vocab_size ",
             opt.vocab_size);
}

// An array field of integers; each element checked by `check(value, index)`.
template <class Check>
std::vector<std::int32_t> read_id_array(const nlohmann::json& obj, std::string_view field,
                                        const JsonWhere& w, Check check) {
    const auto& v = require_field(obj, field, w);
    if (!v.is_array())
        fail(w.str(), ": field '", field, "': expected an array of integers, got ", json_describe(v));
    std::vector<std::int32_t> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string name = "'" + std::string(field) + "'[" + std::to_string(i) + "]";
        const auto x = json_to_int(v[i], name, w);
        check(x, i);
        out.push_back(static_cast<std::int32_t>(x));
    }
    return out;
}

inline Example parse_text(const nlohmann::json& obj, const ReadOptions& opt, const JsonWhere& w) {
    reject_unknown_fields(obj, {"text"}, w);
    const std::string text = require_string(obj, "text", w);
    if (!opt.tokenizer)
        fail(w.str(), ": field 'text': the model has no tokenizer (config.json: tokclean_tokenizer "
                      "\"none\"); give pre-tokenized {\"input_ids\": [...]} lines");
    if (text.empty()) fail(w.str(), ": field 'text': empty text");
    Example ex;
    ex.input_ids = opt.tokenizer.encode(text);
    for (std::size_t i = 0; i < ex.input_ids.size(); ++i)
        if (ex.input_ids[i] < 0 || ex.input_ids[i] >= opt.vocab_size)
            fail(w.str(), ": field 'text': tokenizer '", opt.tokenizer.name(), "' gave token id ",
                 ex.input_ids[i], " outside [0, vocab_size ", opt.vocab_size, ")");
    ex.labels = ex.input_ids;  // every token is a target
    return ex;
}

inline Example parse_tokenized(const nlohmann::json& obj, const ReadOptions& opt,
                               const JsonWhere& w) {
    // "scores" is what `tokclean clean` adds to its output, so cleaned files read back;
    // "attention_mask" is common in Hugging Face tokenized dumps (all ones without padding).
    reject_unknown_fields(obj, {"input_ids", "labels", "attention_mask", "scores"}, w);
    Example ex;
    ex.input_ids = read_id_array(obj, "input_ids", w, [&](std::int64_t id, std::size_t i) {
        check_token_id(id, "input_ids", i, opt, w);
    });
    if (ex.input_ids.empty()) fail(w.str(), ": field 'input_ids': empty sequence");
    if (find_field(obj, "labels")) {
        ex.labels = read_id_array(obj, "labels", w, [&](std::int64_t y, std::size_t i) {
            if (y != ignore_label && (y < 0 || y >= opt.vocab_size))
                fail(w.str(), ": field 'labels'[", i, "]: label ", y, " is neither ", ignore_label,
                     " nor in [0, vocab_size ", opt.vocab_size, ")");
        });
        if (ex.labels.size() != ex.input_ids.size())
            fail(w.str(), ": field 'labels': length ", ex.labels.size(),
                 " differs from the length ", ex.input_ids.size(), " of 'input_ids'");
    } else {
        ex.labels = ex.input_ids;
    }
    if (find_field(obj, "attention_mask")) {
        const auto mask = read_id_array(obj, "attention_mask", w, [&](std::int64_t m, std::size_t i) {
            if (m != 1)
                fail(w.str(), ": field 'attention_mask'[", i, "]: ", m,
                     " (padding inside an example is not supported; expected all ones)");
        });
        if (mask.size() != ex.input_ids.size())
            fail(w.str(), ": field 'attention_mask': length ", mask.size(),
                 " differs from the length ", ex.input_ids.size(), " of 'input_ids'");
    }
    return ex;
}

}  // namespace detail

// The format of one line, from the fields of its object.
inline JsonlFormat detect_format(const nlohmann::json& obj, const JsonWhere& w) {
    if (obj.contains("input_ids")) return JsonlFormat::tokenized;
    if (obj.contains("text")) return JsonlFormat::text;
    if (obj.contains("prompt") || obj.contains("completion"))
        fail(w.str(), ": the {\"prompt\", \"completion\"} format is not supported yet");
    if (obj.contains("messages"))
        fail(w.str(), ": the {\"messages\"} format is not supported yet");
    fail(w.str(), ": expected a field 'text' or 'input_ids'");
}

// Parses one line (already known not to be blank) into an example; `truncated` is set when
// the example was cut to max_len.
inline Example parse_example_line(std::string_view line, const JsonWhere& w,
                                  const ReadOptions& opt, bool& truncated) {
    TOKCLEAN_CHECK(opt.vocab_size > 0, "ReadOptions::vocab_size not set");
    const nlohmann::json obj = parse_json(line, w);
    require_object(obj, w);
    Example ex;
    switch (detect_format(obj, w)) {
        case JsonlFormat::text: ex = detail::parse_text(obj, opt, w); break;
        case JsonlFormat::tokenized: ex = detail::parse_tokenized(obj, opt, w); break;
    }
    ex.line = w.line;
    truncated = false;
    if (opt.max_len > 0 && ex.input_ids.size() > opt.max_len) {
        if (opt.strict)
            fail(w.str(), ": sequence of ", ex.input_ids.size(), " tokens is longer than max_len ",
                 opt.max_len);
        ex.input_ids.resize(opt.max_len);
        ex.labels.resize(opt.max_len);
        truncated = true;
    }
    return ex;
}

// Reads a JSONL file one example at a time (for files too large to hold as examples).
// Blank lines are skipped but counted, so line numbers match an editor's; "\r\n" endings
// and a last line without a newline are fine.
class ExampleReader {
public:
    ExampleReader(const std::filesystem::path& path, ReadOptions options)
        : file_(path.string()), options_(std::move(options)), in_(path, std::ios::binary) {
        if (!in_) fail(file_, ": cannot open the file");
    }

    // The next example, or false at the end of the file.
    bool next(Example& out) {
        std::string line;
        while (std::getline(in_, line)) {
            ++line_;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;
            bool cut = false;
            out = parse_example_line(line, JsonWhere{file_, line_}, options_, cut);
            truncated_ += cut;
            return true;
        }
        if (in_.bad()) fail(file_, ":", line_ + 1, ": read error");
        return false;
    }

    std::size_t truncated() const { return truncated_; }
    std::size_t line() const { return line_; }

private:
    std::string file_;
    ReadOptions options_;
    std::ifstream in_;
    std::size_t line_ = 0;
    std::size_t truncated_ = 0;
};

// All examples of a JSONL file. A file without any example is an error (nothing to train on
// or score is almost certainly a wrong path or an empty export).
inline ReadResult read_examples(const std::filesystem::path& path, const ReadOptions& options) {
    ExampleReader reader(path, options);
    ReadResult result;
    Example ex;
    while (reader.next(ex)) result.examples.push_back(std::move(ex));
    result.truncated = reader.truncated();
    if (result.examples.empty()) fail(path.string(), ": no examples (the file has no non-blank line)");
    return result;
}

}  // namespace tokclean
