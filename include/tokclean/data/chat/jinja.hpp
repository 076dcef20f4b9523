#pragma once
// tokclean::jinja — renders Hugging Face chat templates as transformers' apply_chat_template
// does: jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
// extensions=[loopcontrols]) with transformers' tojson filter and its raise_exception and
// strftime_now globals. Values are JSON (nlohmann::ordered_json: dicts keep their order, as
// Python's do and as tojson prints them).
//
// The supported subset, exactly:
//   template   text, {{ expr }}, {% stmt %}, {# comment #}; whitespace control {%- -%} {{- -}} {#- -#}
//              and {%+ +%}; trim_blocks and lstrip_blocks as jinja2 applies them; \r\n and \r read
//              as \n and one trailing newline dropped (keep_trailing_newline=False).
//   statements if / elif / else; for (one name or tuple unpacking, else branch, break, continue;
//              loop.index index0 revindex revindex0 first last length previtem nextitem);
//              set name = ..., set a, b = ..., set ns.attr = ... (namespace).
//   literals   strings (Python escapes), integers, floats, true/false/none (any case as jinja2:
//              true True false False none None), lists, tuples, dicts with string keys.
//   operators  + - * / // % ** ~, == != < <= > >=, in, not in, and, or, not, a if c else b,
//              is / is not, unary - +, attribute and subscript access, slices [a:b:c].
//   filters    trim length count tojson(ensure_ascii, indent, separators, sort_keys) string int
//              upper lower capitalize join default d first last list replace items select reject.
//   tests      defined undefined none string number mapping iterable sequence boolean true false
//              equalto eq == ne !=.
//   methods    str: startswith endswith split strip lstrip rstrip upper lower title capitalize
//              replace; dict: items keys values get.
//   globals    raise_exception(msg), strftime_now(fmt), namespace(...).
// Undefined behaves as jinja2's default Undefined: prints as "", is false, iterates as empty,
// and fails when its attribute or item is taken or it is used in arithmetic. {{ }} prints
// Python's str() (True, None, ['a', 1], {'k': 'v'}).
// Outside the subset — another statement (macro, call, filter block, raw, include...), filter,
// test or method, case mapping of non-ASCII text, '%' formatting — is a tokclean::Error naming
// the template, line and column ("chat_template:3:14: unsupported filter 'xyz'"); so are
// template syntax errors and runtime errors (jinja2's UndefinedError / TypeError cases).
// raise_exception(msg) throws a tokclean::Error whose message ends with msg.
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "tokclean/data/chat/jinja_ast.hpp"
#include "tokclean/data/chat/jinja_lexer.hpp"
#include "tokclean/data/chat/jinja_parser.hpp"
#include "tokclean/data/chat/jinja_render.hpp"
#include "tokclean/data/chat/jinja_value.hpp"

namespace tokclean::jinja {

class Template {
public:
    // Parses `source`; syntax errors and unsupported constructs throw here.
    explicit Template(std::string_view source, std::string name = "chat_template") : name_(std::move(name)) {
        body_ = Parser(lex(source, name_), name_).parse_template();
    }

    // `variables` must be an object: messages, tools, add_generation_prompt, bos_token, ...
    std::string render(const nlohmann::ordered_json& variables, const RenderOptions& options = {}) const {
        if (!variables.is_object()) fail(name_, ": template variables must be a JSON object");
        Dict vars;
        try {
            for (const auto& [k, v] : variables.items()) vars.emplace_back(k, from_json(v));
        } catch (const ValueError& e) {
            fail(name_, ": ", e.what());
        }
        return Renderer(name_, vars, options).run(body_);
    }
    // nlohmann::json keeps object keys sorted, so tojson prints them sorted: pass ordered_json
    // (e.g. parsed from tokenizer inputs) to keep Python's insertion order.
    std::string render(const nlohmann::json& variables, const RenderOptions& options = {}) const {
        return render(nlohmann::ordered_json::parse(variables.dump()), options);
    }

    const std::string& name() const { return name_; }

private:
    std::string name_;
    Body body_;
};

}  // namespace tokclean::jinja
