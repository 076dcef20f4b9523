"""Renders chat templates as transformers' apply_chat_template does (jinja2 configured by
make_chat_template_vectors.make_env, its fixed clock): reads JSON lines {"template": name,
"variables": {...}} on stdin and writes {"rendered": text} or {"error": message} lines.
Used by tests/js/make_chat_token_vectors.mjs; needs Debian's python3-jinja2."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_chat_template_vectors as vectors  # noqa: E402
from jinja2.exceptions import TemplateError  # noqa: E402

env = vectors.make_env()
cache = {}
for line in sys.stdin:
    case = json.loads(line)
    name = case["template"]
    if name not in cache:
        with open(os.path.join(vectors.OUT, name + ".jinja"), encoding="utf-8", newline="") as f:
            cache[name] = env.from_string(f.read())
    try:
        out = {"rendered": cache[name].render(**case["variables"])}
    except TemplateError as e:
        out = {"error": str(e)}
    print(json.dumps(out, ensure_ascii=False), flush=True)
