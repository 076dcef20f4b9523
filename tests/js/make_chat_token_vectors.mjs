// Regenerate tests/data/hf_tokenizers/chat_tokens.jsonl: conversations rendered by jinja2
// with the real Llama-3.1 and Qwen3 chat templates (tests/data/chat_templates/vectors.jsonl,
// made by tests/python/make_chat_template_vectors.py) and tokenized by Hugging Face's Rust
// tokenizers library without special tokens added — what transformers'
// apply_chat_template(messages, tokenize=True) gives.
//
//     cd tests/js && npm ci && node make_chat_token_vectors.mjs
//
// Two sources: the cases of that file tokclean's {"messages"} lines can express (messages of
// role system, user or assistant with a string content and no other field, no tools or other
// template variables, add_generation_prompt false, at least one assistant turn), and 150
// more conversations per template drawn here from a seeded generator (system or not, one to
// five turns, empty, whitespace and unicode content, "<think>" / "</think>" in content),
// rendered by tests/python/render_chat_templates.py (the same jinja2 set-up). One JSON object
// per line: {"template": "llama3_1" | "qwen3", "now", "messages", "ids"}.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const data = path.resolve(here, '..', 'data');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tokclean-chat-'));
const tokenizers = {};
for (const name of ['llama3_1', 'qwen3']) {
  execFileSync('tar', ['-xJf', path.join(data, 'hf_tokenizers', `${name}.tar.xz`), '-C', tmp]);
  tokenizers[name] = Tokenizer.fromFile(path.join(tmp, name, 'tokenizer.json'));
}

const expressible = (c) => {
  const v = c.variables;
  const known = new Set(['messages', 'tools', 'documents', 'add_generation_prompt', 'bos_token', 'eos_token', 'unk_token', 'pad_token']);
  if (!(c.template in tokenizers) || !('rendered' in c) || v.add_generation_prompt) return false;
  if (v.tools || v.documents || Object.keys(v).some((k) => !known.has(k))) return false;
  if (!v.messages.some((m) => m.role === 'assistant')) return false;
  return v.messages.every((m) => ['system', 'user', 'assistant'].includes(m.role) && typeof m.content === 'string' &&
    Object.keys(m).every((k) => k === 'role' || k === 'content'));
};

const cases = [];
for (const line of fs.readFileSync(path.join(data, 'chat_templates', 'vectors.jsonl'), 'utf8').split('\n')) {
  if (!line) continue;
  const c = JSON.parse(line);
  if (expressible(c)) cases.push({ template: c.template, now: c.now, messages: c.variables.messages, rendered: c.rendered });
}

// ---- drawn conversations ----
let state = 20261205;
const rand = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state / 4294967296; };
const pick = (a) => a[Math.floor(rand() * a.length)];
const PIECES = ['Hello', 'the answer is 42', ' leading space', 'trailing space ', '\n\nnewlines\n', 'caf\u00e9 na\u00efve',
  '\u4f60\u597d\uff0c\u4e16\u754c', '\ud83d\udc4b\ud83c\udffd \ud83e\uddd1\u200d\ud83d\udcbb', 'e\u0301', '</think>', '<think>', 'code: `x = 1`',
  '  indented\n    more', '1, 2, 3.', "it's", '\t', '\u00a0', 'A', '?', 'Sure.'];
const content = () => {
  const r = rand();
  if (r < 0.08) return '';
  if (r < 0.12) return pick([' ', '\n', '  \n ']);
  let s = '';
  for (let k = 1 + Math.floor(rand() * 5); k > 0; --k) s += (s && rand() < 0.7 ? ' ' : '') + pick(PIECES);
  return s;
};
const TOKENS = { llama3_1: { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' },
  qwen3: { eos_token: '<|im_end|>', pad_token: '<|endoftext|>' } };
const NOW = '2025-03-07T15:04:05';
const drawn = [];
for (const template of ['llama3_1', 'qwen3'])
  for (let k = 0; k < 150; ++k) {
    const messages = [];
    if (rand() < 0.4) messages.push({ role: 'system', content: content() });
    const turns = 1 + Math.floor(rand() * 5);
    for (let t = 0; t < turns; ++t) {
      messages.push({ role: 'user', content: content() });
      if (t < turns - 1 || rand() < 0.8) messages.push({ role: 'assistant', content: content() });
    }
    if (!messages.some((m) => m.role === 'assistant')) messages.push({ role: 'assistant', content: content() });
    drawn.push({ template, now: NOW, messages, variables: { messages, add_generation_prompt: false, ...TOKENS[template] } });
  }
const rendered = execFileSync('/usr/bin/python3', [path.resolve(here, '..', 'python', 'render_chat_templates.py')],
  { input: drawn.map((d) => JSON.stringify({ template: d.template, variables: d.variables })).join('\n') + '\n', encoding: 'utf8' })
  .split('\n').filter((l) => l).map((l) => JSON.parse(l));
drawn.forEach((d, i) => { if ('rendered' in rendered[i]) cases.push({ template: d.template, now: d.now, messages: d.messages, rendered: rendered[i].rendered }); });

const lines = [];
const counts = {};
for (const c of cases) {
  const ids = Array.from((await tokenizers[c.template].encode(c.rendered, null, { addSpecialTokens: false })).getIds());
  lines.push(JSON.stringify({ template: c.template, now: c.now, messages: c.messages, ids }));
  counts[c.template] = (counts[c.template] ?? 0) + 1;
}
fs.rmSync(tmp, { recursive: true, force: true });
const out = path.join(data, 'hf_tokenizers', 'chat_tokens.jsonl');
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(`${JSON.stringify(counts)} conversations -> ${out} (${fs.statSync(out).size} bytes)`);
