#pragma once
// A model's own chat template (tokenizer_config.json's "chat_template"), turning a
// {"messages": [...]} line into the tokens transformers' apply_chat_template(messages,
// tokenize=True) gives, with each assistant turn's tokens as the targets.
//
// Rendering: the Jinja template (data/chat/jinja.hpp) with `messages`,
// add_generation_prompt=false and the special tokens of tokenizer_config.json as variables
// (bos_token, eos_token, unk_token, pad_token, ... as transformers' special_tokens_map);
// strftime_now reads the clock, as in transformers. The text is tokenized whole without
// special tokens added (the template writes them), as apply_chat_template does.
//
// Targets are found from renderings, not from marker strings. For assistant message i:
//   start = where render(messages[:i], add_generation_prompt=true) stops agreeing with the
//           whole rendering: just after the assistant's header (so a <think> block the
//           template writes is a target, as the model writes it after that prompt); for a
//           template with no generation prompt, where the content starts (below);
//   end   = the end of the message's content in the whole rendering (found by rendering it
//           again with the content replaced by a sentinel: the two renderings differ exactly
//           over the content), plus the closing the template writes after the content when the message
//           ends the conversation (render(messages[:i+1]) likewise), which must follow it in
//           the whole rendering too; less the whitespace that separates turns
//           ("<|im_end|>\n" ends at <|im_end|>).
// The turn's tokens (its content and the end-of-turn token that closes it) are those from the
// token holding its first byte to the token holding its last: token boundaries come from
// tokenizing the prefix up to that byte and comparing it with the tokens of the whole text.
// System, user and tool turns and the role headers are not targets. (TRL's
// assistant_only_loss needs templates marked with {% generation %}, which the released Llama
// and Qwen templates are not; this rule needs no marking.) Earlier turns are taken as the
// whole rendering has them: Qwen3 drops the <think> part of assistant turns before the last
// user message, and so do the targets.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokclean/core/error.hpp"
#include "tokclean/core/labels.hpp"
#include "tokclean/data/chat/jinja.hpp"
#include "tokclean/data/example.hpp"
#include "tokclean/io/json_fields.hpp"

namespace tokclean {

class ModelChatTemplate {
public:
    // `special_tokens`: the variables besides messages (bos_token, eos_token, ...).
    ModelChatTemplate(std::string_view source, nlohmann::ordered_json special_tokens, std::string name)
        : template_(source, std::move(name)), specials_(std::move(special_tokens)) {}

    // The chat template of a tokenizer_config.json, if it has one: "chat_template" as a string,
    // or a list of {"name", "template"} from which "default" is taken.
    static std::optional<ModelChatTemplate> from_tokenizer_config(const std::filesystem::path& file) {
        const nlohmann::json config = read_json_file(file, JsonPlace::line_and_column);
        if (!config.is_object()) fail(file.string(), ": expected a JSON object, got ", json_describe(config));
        const auto it = config.find("chat_template");
        if (it == config.end() || it->is_null()) return std::nullopt;
        std::string source;
        if (it->is_string()) {
            source = it->get<std::string>();
        } else if (it->is_array()) {
            for (const auto& t : *it)
                if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
                    source = t["template"].get<std::string>();
            if (source.empty()) fail(file.string(), ": field 'chat_template': a list without a \"default\" template");
        } else {
            fail(file.string(), ": field 'chat_template': expected a string or a list of {\"name\", \"template\"}");
        }
        nlohmann::ordered_json specials = nlohmann::ordered_json::object();
        for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
            const auto t = config.find(key);
            if (t == config.end() || t->is_null()) continue;
            if (t->is_string()) specials[key] = t->get<std::string>();
            else if (t->is_object() && t->contains("content") && (*t)["content"].is_string())
                specials[key] = (*t)["content"].get<std::string>();
        }
        if (const auto a = config.find("additional_special_tokens"); a != config.end() && a->is_array())
            specials["additional_special_tokens"] = nlohmann::ordered_json::parse(a->dump());
        return ModelChatTemplate(source, std::move(specials), file.string() + ": chat_template");
    }

    // The rendered text of `messages` (an array of message objects, passed to the template as
    // they are).
    std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt) const {
        nlohmann::ordered_json vars = specials_;
        vars["messages"] = messages;
        vars["add_generation_prompt"] = add_generation_prompt;
        return template_.render(vars, options_);
    }

    // One {"messages"} line as an example: the ids of the rendered text, the assistant turns
    // as targets. `roles_are_assistant[i]` says which messages are targets. Errors name `w`
    // and the message.
    Example tokenize(const nlohmann::ordered_json& messages, const std::vector<bool>& roles_are_assistant,
                     const TokenizerRef& tok, const JsonWhere& w) const {
        const std::string whole = render_or_fail(messages, false, w, "");
        Example ex;
        ex.input_ids = tok.encode(whole);
        ex.labels.assign(ex.input_ids.size(), ignore_label);
        for (std::size_t i = 0; i < messages.size(); ++i) {
            if (!roles_are_assistant[i]) continue;
            const std::string field = "'messages'[" + std::to_string(i) + "]";
            const nlohmann::ordered_json before(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i));
            const nlohmann::ordered_json through(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i + 1));
            const std::string prompt = render_or_fail(before, true, w, field);
            const auto [content_start, content_end] = content_span_in(whole, messages, i, w, field);
            // A template without a generation prompt: the turn starts with its content.
            std::size_t start = prompt == render_or_fail(before, false, w, field) ? content_start : common_prefix(whole, prompt);
            while (start > 0 && (static_cast<unsigned char>(whole[start]) & 0xC0) == 0x80) --start;  // a character's first byte
            const std::string turn = render_or_fail(through, false, w, field);
            const std::string_view closing = std::string_view(turn).substr(content_span_in(turn, through, i, w, field).second);
            if (whole.compare(content_end, closing.size(), closing) != 0)
                fail(w.str(), ": field ", field, ": the chat template closes this assistant turn differently inside the "
                     "whole conversation than at its end, so where it ends is not known; give this conversation as "
                     "pre-tokenized {\"input_ids\", \"labels\"}");
            std::size_t end = content_end + closing.size();
            while (end > content_end && is_separator(whole[end - 1])) --end;
            if (end <= start) continue;  // an empty turn the template renders as nothing: no target
            const std::size_t first = token_holding(whole, start, ex.input_ids, tok);
            const std::size_t last = token_holding(whole, end - 1, ex.input_ids, tok);
            for (std::size_t k = first; k <= last && k < ex.labels.size(); ++k) ex.labels[k] = ex.input_ids[k];
        }
        return ex;
    }

    // strftime_now's clock (unset: now, as transformers).
    void set_render_options(jinja::RenderOptions o) { options_ = std::move(o); }

private:
    std::string render_or_fail(const nlohmann::ordered_json& messages, bool generation_prompt, const JsonWhere& w,
                               const std::string& field) const {
        try {
            return render(messages, generation_prompt);
        } catch (const Error& e) {
            fail(w.str(), ": field ", field.empty() ? "'messages'" : field, ": ", e.what());
        }
    }

    // Where message i's content begins and ends in `text` (the rendering of `messages`):
    // render again with the content replaced by a sentinel no real content holds; the two
    // texts agree before and after the content's rendering.
    std::pair<std::size_t, std::size_t> content_span_in(const std::string& text, const nlohmann::ordered_json& messages,
                                                        std::size_t i, const JsonWhere& w, const std::string& field) const {
        nlohmann::ordered_json marked = messages;
        marked[i]["content"] = "\x01\x02tokclean content sentinel\x03\x04";
        const std::string other = render_or_fail(marked, false, w, field);
        const std::size_t prefix = common_prefix(text, other);
        std::size_t suffix = 0;
        while (suffix < text.size() - prefix && suffix < other.size() - prefix &&
               text[text.size() - 1 - suffix] == other[other.size() - 1 - suffix])
            ++suffix;
        std::size_t begin = prefix, end = text.size() - suffix;
        while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;  // whole characters
        while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
        return {begin, std::max(begin, end)};
    }

    static bool is_separator(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

    static std::size_t common_prefix(std::string_view a, std::string_view b) {
        const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
        (void)ib;
        return static_cast<std::size_t>(ia - a.begin());
    }

    // The index of the token of `ids` (the tokens of `text`) that holds byte `at`: the tokens
    // of text[:at] that agree with `ids` lie wholly before it, so it is the next one.
    static std::size_t token_holding(std::string_view text, std::size_t at, const std::vector<std::int32_t>& ids,
                                     const TokenizerRef& tok) {
        const std::vector<std::int32_t> before = tok.encode(text.substr(0, at + 1));
        const auto [ib, ii] = std::mismatch(before.begin(), before.end(), ids.begin(), ids.end());
        (void)ii;
        const auto agree = static_cast<std::size_t>(ib - before.begin());
        // text[:at+1] tokenized alone: if all its tokens agree, the last holds byte `at`; else
        // the first disagreeing one is the token that straddles the cut, and holds it.
        if (agree == before.size()) return agree == 0 ? 0 : agree - 1;
        return agree;
    }

    jinja::Template template_;
    nlohmann::ordered_json specials_;
    jinja::RenderOptions options_{};
};

}  // namespace tokclean
