#pragma once
// Reads training examples from a JSONL file, one JSON object per line (README, "Data").
// Each line's format is recognised from its fields:
//   {"text": "..."}                          tokenized by the model's tokenizer; all targets
//   {"prompt": "...", "completion": "..."}   completion + EOS are the targets
//   {"messages": [{"role", "content"}, ...]} rendered with the model's chat template
//                                            (ReadOptions::render_messages) or else a
//                                            ChatTemplate; assistant turns are the targets
//   {"input_ids": [...], "labels": [...]}    pre-tokenized; labels optional (= input_ids)
// A new format is one more JsonlFormat, a case in detect_format() and a parse_* function.
// Every error is one line: "data.jsonl:7: field 'input_ids'[3]: token id 600 is >= vocab_size 512".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/compiled_once.hpp"
#include "tokclean/core/error.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/io/file_hash.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean {

// How {"messages"} lines become one token sequence: the template of the token-cleaning
// reference code (open-instruct's "tulu" format), with the role headers overridable:
//   system:    system    + content + end_of_turn
//   user:      user      + content + end_of_turn
//   assistant: assistant + content + EOS + end_of_turn     (EOS = the tokenizer's id)
// e.g. "<|user|>\nHi\n<|assistant|>\nHello!<EOS>\n". The targets are each assistant turn's
// content tokens and its EOS; headers, end_of_turn and the other roles are not. Each part is
// tokenized on its own and the ids concatenated, so no token straddles a header and a
// content and the target boundaries are exact. (The reference tokenizes the rendered text in
// one piece and finds the boundaries by re-tokenizing prefixes. With GPT-2's pre-tokenizer
// both give the same ids whenever no content begins or ends with whitespace, since no
// pre-token then spans a boundary.) Contents are used as given: the reference strips each
// one (.strip()), which is not done here, so data is never changed silently.
struct ChatTemplate {
    std::string system = "<|system|>\n";
    std::string user = "<|user|>\n";
    std::string assistant = "<|assistant|>\n";
    std::string end_of_turn = "\n";  // after every message (after EOS in assistant turns)
};

struct ReadOptions {
    std::int32_t vocab_size = 0;  // every id must lie in [0, vocab_size)
    std::size_t max_len = 0;      // longer sequences are cut to max_len (0: no limit) ...
    bool strict = false;          // ... or rejected with an error when strict
    TokenizerRef tokenizer{};     // for text formats; empty: pre-tokenized lines only
    // Why there is no tokenizer, for the message of a text line read without one
    // (OpenedModel::read_options says the model has none).
    std::string missing_tokenizer = "no tokenizer to read text with (ReadOptions::tokenizer is not set: "
                                    "open_model(dir).read_options() sets the model's)";
    ChatTemplate chat_template{};  // for {"messages"} lines, unless render_messages is set
    // The special tokens the tokenizer's post-processor puts around one text (transformers'
    // tokenizer(text): Llama's <|begin_of_text|> or <s> before): text_prefix goes before a
    // {"text"} and a {"prompt"}, text_suffix after a {"text"}.
    std::vector<std::int32_t> text_prefix, text_suffix;
    // The model's own chat template, if it has one (OpenedModel sets it from
    // tokenizer_config.json; see data/chat/model_chat_template.hpp): the ids and labels of a
    // {"messages"} array whose messages were checked, given which are assistant turns.
    std::function<Example(const nlohmann::json& messages, const std::vector<bool>& assistant, const JsonWhere& where)>
        render_messages;
};

struct ReadResult {
    std::vector<Example> examples;
    std::size_t truncated = 0;  // examples cut to max_len (the caller prints one warning)
    // A fingerprint of the lines read (FNV-1a of each line and a newline): what a resumable
    // run records of its data, taken from the bytes actually read, so that a pipe (which
    // cannot be read twice) is fingerprinted too.
    std::uint64_t content_hash = 0;
};

enum class JsonlFormat {
    text,               // {"text"}
    prompt_completion,  // {"prompt", "completion"}
    messages,           // {"messages"}
    tokenized,          // {"input_ids", "labels"?}
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

// Text formats need the model's tokenizer; `field` is the field the line would be read from.
// (Field names in these helpers come quoted: "'text'", "'messages'[2].content".)
inline void require_tokenizer(const ReadOptions& opt, std::string_view field, const JsonWhere& w) {
    if (!opt.tokenizer) fail(w.str(), ": field ", field, ": ", opt.missing_tokenizer);
}

// Appends the ids of `text` (from `field`) and their labels: the ids themselves for targets,
// ignore_label otherwise. The ids must fit the model's vocabulary.
inline void append_text(Example& ex, std::string_view text, bool target, std::string_view field,
                        const ReadOptions& opt, const JsonWhere& w) {
    const std::vector<std::int32_t> ids = opt.tokenizer.encode(text);
    for (auto id : ids)
        if (id < 0 || id >= opt.vocab_size)
            fail(w.str(), ": field ", field, ": tokenizer '", opt.tokenizer.name(),
                 "' gave token id ", id, " outside [0, vocab_size ", opt.vocab_size, ")");
    ex.input_ids.insert(ex.input_ids.end(), ids.begin(), ids.end());
    if (target) ex.labels.insert(ex.labels.end(), ids.begin(), ids.end());
    else ex.labels.insert(ex.labels.end(), ids.size(), ignore_label);
}

// Appends the post-processor's special tokens (text_prefix or text_suffix).
inline void append_special(Example& ex, const std::vector<std::int32_t>& ids, bool target, std::string_view field,
                           const ReadOptions& opt, const JsonWhere& w) {
    for (auto id : ids) {
        if (id < 0 || id >= opt.vocab_size)
            fail(w.str(), ": field ", field, ": tokenizer '", opt.tokenizer.name(), "' adds special token id ", id,
                 " outside [0, vocab_size ", opt.vocab_size, ")");
        ex.input_ids.push_back(id);
        ex.labels.push_back(target ? id : ignore_label);
    }
}

// Appends the tokenizer's EOS id as a target.
inline void append_eos(Example& ex, std::string_view field, const ReadOptions& opt,
                       const JsonWhere& w) {
    const std::int32_t eos = opt.tokenizer.eos_id();
    if (eos < 0 || eos >= opt.vocab_size)
        fail(w.str(), ": field ", field, ": tokenizer '", opt.tokenizer.name(), "' has EOS id ",
             eos, " outside [0, vocab_size ", opt.vocab_size, ")");
    ex.input_ids.push_back(eos);
    ex.labels.push_back(eos);
}

inline Example parse_text(const nlohmann::json& obj, const ReadOptions& opt, const JsonWhere& w) {
    reject_unknown_fields(obj, {"text"}, w);
    const std::string text = require_string(obj, "text", w);
    require_tokenizer(opt, "'text'", w);
    if (text.empty()) fail(w.str(), ": field 'text': empty text");
    Example ex;
    append_special(ex, opt.text_prefix, false, "'text'", opt, w);
    append_text(ex, text, true, "'text'", opt, w);  // every token is a target
    append_special(ex, opt.text_suffix, true, "'text'", opt, w);
    return ex;
}

// {"prompt", "completion"}: text_prefix ++ encode(prompt) ++ encode(completion) ++ [EOS], the
// completion and EOS being the targets (as TRL: the prompt gets the tokenizer's special
// tokens, the completion none, and EOS ends it). The two texts are tokenized separately, so no token spans the
// boundary and the mask is exact. (The reference SFT code tokenizes the joined text and masks
// as many tokens as the prompt has alone, which assumes exactly that.) Nothing is inserted
// between them; the reference adds a space when neither side has whitespace there: put it in
// the data if the model expects it.
inline Example parse_prompt_completion(const nlohmann::json& obj, const ReadOptions& opt,
                                       const JsonWhere& w) {
    reject_unknown_fields(obj, {"prompt", "completion"}, w);
    const std::string prompt = require_string(obj, "prompt", w);
    const std::string completion = require_string(obj, "completion", w);
    require_tokenizer(opt, "'prompt'", w);
    Example ex;
    append_special(ex, opt.text_prefix, false, "'prompt'", opt, w);
    append_text(ex, prompt, false, "'prompt'", opt, w);
    append_text(ex, completion, true, "'completion'", opt, w);
    append_eos(ex, "'completion'", opt, w);
    return ex;
}

// {"messages": [{"role", "content"}, ...]}: rendered with opt.render_messages (the model's own
// template) if set, else with opt.chat_template (see ChatTemplate).
// Every message is checked before anything is tokenized, so the first error is reported.
inline Example parse_messages(const nlohmann::json& obj, const ReadOptions& opt,
                              const JsonWhere& w) {
    reject_unknown_fields(obj, {"messages"}, w);
    const auto& messages = require_field(obj, "messages", w);
    if (!messages.is_array() || messages.empty())
        fail(w.str(),
             ": field 'messages': expected a non-empty array of {\"role\", \"content\"} objects, got ",
             messages.is_array() ? std::string("an empty array") : json_describe(messages));
    enum class Role { system, user, assistant };
    std::vector<Role> roles;
    roles.reserve(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        const std::string field = "'messages'[" + std::to_string(i) + "]";
        if (!m.is_object())
            fail(w.str(), ": field ", field, ": expected an object {\"role\", \"content\"}, got ",
                 json_describe(m));
        for (const auto& item : m.items())
            if (item.key() != "role" && item.key() != "content")
                fail(w.str(), ": field ", field, ": unknown field '", one_line(item.key()),
                     "' (expected: role, content)");
        const auto role = m.find("role");
        if (role == m.end()) fail(w.str(), ": field ", field, ": missing required field 'role'");
        if (!role->is_string())
            fail(w.str(), ": field ", field, ".role: expected a string, got ",
                 json_describe(*role));
        const auto& r = role->get_ref<const std::string&>();
        if (r == "system") roles.push_back(Role::system);
        else if (r == "user") roles.push_back(Role::user);
        else if (r == "assistant") roles.push_back(Role::assistant);
        else
            fail(w.str(), ": field ", field, ".role: unknown role ",
                 one_line(nlohmann::json(r).dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace)),
                 " (expected system, user or assistant)");
        const auto content = m.find("content");
        if (content == m.end())
            fail(w.str(), ": field ", field, ": missing required field 'content'");
        if (!content->is_string())
            fail(w.str(), ": field ", field, ".content: expected a string, got ",
                 json_describe(*content));
    }
    if (std::find(roles.begin(), roles.end(), Role::assistant) == roles.end())
        fail(w.str(), ": field 'messages': no assistant turn (nothing to learn from)");
    require_tokenizer(opt, "'messages'", w);

    if (opt.render_messages) {
        std::vector<bool> assistant(roles.size());
        for (std::size_t i = 0; i < roles.size(); ++i) assistant[i] = roles[i] == Role::assistant;
        Example ex = opt.render_messages(messages, assistant, w);
        for (std::size_t j = 0; j < ex.input_ids.size(); ++j)
            if (ex.input_ids[j] < 0 || ex.input_ids[j] >= opt.vocab_size)
                fail(w.str(), ": field 'messages': tokenizer '", opt.tokenizer.name(), "' gave token id ", ex.input_ids[j],
                     " outside [0, vocab_size ", opt.vocab_size, ")");
        return ex;
    }
    const ChatTemplate& t = opt.chat_template;
    Example ex;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const std::string field = "'messages'[" + std::to_string(i) + "]";
        const auto& content = messages[i].at("content").get_ref<const std::string&>();
        const std::string& header = roles[i] == Role::system ? t.system
                                    : roles[i] == Role::user ? t.user
                                                             : t.assistant;
        const bool target = roles[i] == Role::assistant;
        append_text(ex, header, false, field + " (its chat-template header)", opt, w);
        append_text(ex, content, target, field + ".content", opt, w);
        if (target) append_eos(ex, field + ".content", opt, w);
        append_text(ex, t.end_of_turn, false, field + " (its chat-template end of turn)", opt, w);
    }
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
    if (const auto* scores = find_field(obj, "scores")) {  // what `clean --with-scores` wrote
        if (!scores->is_array())
            fail(w.str(), ": field 'scores': expected an array of numbers and nulls, got ", json_describe(*scores));
        for (std::size_t i = 0; i < scores->size(); ++i)
            if (!(*scores)[i].is_number() && !(*scores)[i].is_null())
                fail(w.str(), ": field 'scores'[", i, "]: expected a number or null, got ",
                     json_describe((*scores)[i]));
        if (scores->size() != ex.input_ids.size())
            fail(w.str(), ": field 'scores': length ", scores->size(), " differs from the length ",
                 ex.input_ids.size(), " of 'input_ids'");
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
    if (obj.contains("prompt") || obj.contains("completion")) return JsonlFormat::prompt_completion;
    if (obj.contains("messages")) return JsonlFormat::messages;
    fail(w.str(),
         ": expected a field 'text', 'prompt' and 'completion', 'messages' or 'input_ids'");
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
        case JsonlFormat::prompt_completion:
            ex = detail::parse_prompt_completion(obj, opt, w);
            break;
        case JsonlFormat::messages: ex = detail::parse_messages(obj, opt, w); break;
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
        : file_(path.string()), options_(std::move(options)), file_in_(path, std::ios::binary), in_(&file_in_) {
        if (!file_in_) fail(file_, ": cannot open the file");
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) fail(file_, ": is a directory, not a JSONL file");
    }
    // Reads from a stream (which must outlive the reader); `name` stands for the file in errors.
    ExampleReader(std::istream& in, std::string name, ReadOptions options)
        : file_(std::move(name)), options_(std::move(options)), in_(&in) {}

    ExampleReader(const ExampleReader&) = delete;
    ExampleReader& operator=(const ExampleReader&) = delete;

    // The next example, or false at the end of the file.
    bool next(Example& out) {
        std::string line;
        while (std::getline(*in_, line)) {
            ++line_;
            hash_ = fnv1a(line.data(), line.size(), hash_);
            hash_ = fnv1a("\n", 1, hash_);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;
            bool cut = false;
            out = parse_example_line(line, JsonWhere{file_, line_}, options_, cut);
            truncated_ += cut;
            return true;
        }
        if (in_->bad()) fail(file_, ":", line_ + 1, ": read error");
        return false;
    }

    std::size_t truncated() const { return truncated_; }
    std::size_t line() const { return line_; }
    // See ReadResult::content_hash (of the lines read so far).
    std::uint64_t content_hash() const { return hash_; }

private:
    std::string file_;
    ReadOptions options_;
    std::ifstream file_in_;
    std::istream* in_;
    std::size_t line_ = 0;
    std::size_t truncated_ = 0;
    std::uint64_t hash_ = fnv1a_offset;
};

// All examples of a JSONL file. A file without any example is an error (nothing to train on
// or score is almost certainly a wrong path or an empty export).
TOKCLEAN_COMPILED_ONCE ReadResult read_examples(const std::filesystem::path& path, const ReadOptions& options)
#if TOKCLEAN_DEFINE_COMPILED_ONCE
{
    ExampleReader reader(path, options);
    ReadResult result;
    Example ex;
    while (reader.next(ex)) result.examples.push_back(std::move(ex));
    result.truncated = reader.truncated();
    result.content_hash = reader.content_hash();
    if (result.examples.empty()) fail(path.string(), ": no examples (the file has no non-blank line)");
    return result;
}
#else
    ;
#endif

}  // namespace tokclean
