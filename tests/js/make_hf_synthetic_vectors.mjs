// Regenerate tests/data/hf_tokenizers/synthetic.jsonl: small tokenizer.json files that each
// exercise one feature of the pipeline the real Llama / Qwen files do not (every Split
// behaviour, Metaspace's prepend schemes, Digits, ByteLevel's add_prefix_space and regex,
// normalizers, added-token flags lstrip / rstrip / single_word / normalized, unk / fuse_unk /
// byte_fallback / ignore_merges, post-processors, decoders), encoded and decoded by Hugging
// Face's Rust tokenizers library (npm `tokenizers`, pinned in package.json).
//
//     cd tests/js && npm ci && node make_hf_synthetic_vectors.mjs
//
// One JSON object per line: {"case", "tokenizer": <tokenizer.json>, "encode": [{"text", "ids"
// (special tokens added), "ids_plain" (none added), "decoded" (decode(ids_plain), specials
// kept)}], "decode": [{"ids", "text"}]}. Deterministic: rerunning writes the same bytes.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

// GPT-2's bytes_to_unicode: the character each byte stands for in a byte-level vocabulary.
function byteChar(b) {
  const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
  if (printable) return String.fromCodePoint(b);
  let n = 0;
  for (let k = 0; k < b; ++k) if (!((k >= 0x21 && k <= 0x7e) || (k >= 0xa1 && k <= 0xac) || k >= 0xae)) ++n;
  return String.fromCodePoint(0x100 + n);
}

const M = '\u2581';  // SentencePiece's space
// A vocabulary for every case: the 256 byte-level characters, "▁", <0xNN> byte tokens, <unk>,
// and a few merged tokens.
function baseVocab() {
  const vocab = {};
  let id = 0;
  const add = (t) => { if (!(t in vocab)) vocab[t] = id++; };
  for (let b = 0; b < 256; ++b) add(byteChar(b));
  add(M);
  add('<unk>');
  for (let b = 0; b < 256; ++b) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  for (const t of ['ab', 'abc', M + 'a', '\u0120a', 'th', 'the', '\u0120the', '12', 'dd', 'é', M + 'the', 'ba']) add(t);
  return vocab;
}
const MERGES = [['a', 'b'], ['ab', 'c'], [M, 'a'], ['\u0120', 'a'], ['t', 'h'], ['th', 'e'], ['\u0120', 'the'], ['1', '2'],
  ['d', 'd'], [M, 'the']];

function tokenizer({ normalizer = null, pre = null, post = null, decoder = null, added = [], model = {} } = {}) {
  const vocab = baseVocab();
  let next = Object.keys(vocab).length;
  const addedTokens = added.map((a) => ({ id: next++, content: a.content, single_word: false, lstrip: false, rstrip: false,
    normalized: false, special: false, ...a }));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens, normalizer, pre_tokenizer: pre,
    post_processor: post, decoder,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: MERGES, ...model },
  };
}

const byteLevel = (extra = {}) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true, ...extra });
const then = (...pretokenizers) => ({ type: 'Sequence', pretokenizers });
const bytesOnly = byteLevel({ use_regex: false });
const bytesDecoder = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
const template = (prefix, suffix) => ({
  type: 'TemplateProcessing',
  single: [...prefix.map((t) => ({ SpecialToken: { id: t, type_id: 0 } })), { Sequence: { id: 'A', type_id: 0 } },
    ...suffix.map((t) => ({ SpecialToken: { id: t, type_id: 0 } }))],
  pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: Object.fromEntries([...prefix, ...suffix].map((t) => [t, { id: t, ids: [baseVocab()[t]], tokens: [t] }])),
});

const TEXTS = ['abc the 12', '  the-final--countdown  ', 'a\tb\n\nc \r\n d', 'caf\u00e9 cafe\u0301 \uff21\u2460 \ufb01',
  'x [tok] y[tok]z [tok]', '[sp]the [sp] ab[sp]', 'a{tok]b {tok]', '123 4567 89\u0664', 'ddd dd d', 'I\'m WE\'LL it\'s',
  'emoji \ud83d\ude00 \u4e2d\u6587', '', ' ', M + 'a ' + M + 'the', 'ba bab', 'q\u0085 q\ufeff q'];

const CASES = [];
const add = (name, spec, { texts = TEXTS, decode = [] } = {}) => CASES.push({ name, tok: tokenizer(spec), texts, decode });

add('bytelevel_regex', { pre: byteLevel(), decoder: bytesDecoder });
add('bytelevel_prefix_space', { pre: byteLevel({ add_prefix_space: true }), decoder: bytesDecoder,
  added: [{ content: '[sp]', special: true }] });
add('bytelevel_prefix_space_no_regex', { pre: byteLevel({ add_prefix_space: true, use_regex: false }), decoder: bytesDecoder,
  added: [{ content: '[sp]', special: true }] });
for (const behavior of ['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'])
  for (const invert of [false, true]) {
    add(`split_string_${behavior}_${invert}`, { pre: then({ type: 'Split', pattern: { String: '-' }, behavior, invert }, bytesOnly), decoder: bytesDecoder });
    add(`split_regex_${behavior}_${invert}`, { pre: then({ type: 'Split', pattern: { Regex: '\\s+|\\p{N}{1,2}' }, behavior, invert }, bytesOnly), decoder: bytesDecoder });
  }
for (const scheme of ['always', 'first', 'never'])
  for (const split of [true, false])
    add(`metaspace_${scheme}_${split}`, {
      pre: { type: 'Metaspace', replacement: M, prepend_scheme: scheme, split },
      decoder: { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: M, prepend_scheme: scheme, split }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
      added: [{ content: '[sp]', special: true }],
      model: { byte_fallback: true },
    });
add('digits_individual', { pre: then({ type: 'Digits', individual_digits: true }, bytesOnly), decoder: bytesDecoder });
add('digits_runs', { pre: then({ type: 'Digits', individual_digits: false }, bytesOnly), decoder: bytesDecoder });
for (const form of ['NFC', 'NFD', 'NFKC', 'NFKD'])
  add(`normalizer_${form}`, { normalizer: { type: form }, pre: bytesOnly, decoder: bytesDecoder });
add('normalizer_llama2', {
  normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: M }, { type: 'Replace', pattern: { String: ' ' }, content: M }] },
  decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: M }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
  added: [{ content: '[sp]', special: true }],
  model: { byte_fallback: true, fuse_unk: true, unk_token: '<unk>' },
});
add('normalizer_replace_regex', { normalizer: { type: 'Replace', pattern: { Regex: ' {2,}|\\t' }, content: '_' }, pre: bytesOnly, decoder: bytesDecoder });
for (const [flag, value] of [['lstrip', true], ['rstrip', true], ['single_word', true], ['special', true]])
  add(`added_${flag}`, { pre: bytesOnly, decoder: bytesDecoder, added: [{ content: '[tok]', [flag]: value }, { content: '[sp]', special: true }] });
add('added_lstrip_rstrip', { pre: bytesOnly, decoder: bytesDecoder, added: [{ content: '[tok]', lstrip: true, rstrip: true }] });
add('added_normalized', {
  normalizer: { type: 'Replace', pattern: { String: '{' }, content: '[' }, pre: bytesOnly, decoder: bytesDecoder,
  added: [{ content: '[tok]', normalized: true }, { content: '[sp]', special: true }],
});
add('added_not_normalized', {
  normalizer: { type: 'Replace', pattern: { String: '{' }, content: '[' }, pre: bytesOnly, decoder: bytesDecoder,
  added: [{ content: '[tok]', normalized: false }],
});
add('added_longest_first', { pre: bytesOnly, decoder: bytesDecoder, added: [{ content: '[t' }, { content: '[tok]' }, { content: 'ok' }] });
// Character-level models: no ByteLevel, so each code point is looked up whole.
add('model_unk', { model: { unk_token: '<unk>' } });
add('model_unk_fused', { model: { unk_token: '<unk>', fuse_unk: true } });
add('model_byte_fallback', { model: { unk_token: '<unk>', byte_fallback: true },
  decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] } },
{ decode: [[baseVocab()['<0xC3>'], baseVocab()['<0xA9>']], [baseVocab()['<0xC3>'], baseVocab()['a']], [baseVocab()['<0xFF>']]] });
add('model_ignore_merges', { pre: bytesOnly, decoder: bytesDecoder, model: { ignore_merges: true } });
add('post_template', { pre: bytesOnly, decoder: bytesDecoder, post: template(['the', 'ab'], ['12']) });
add('post_sequence', { pre: byteLevel(), decoder: bytesDecoder,
  post: { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true }, template(['ab'], [])] } });
add('decoder_strip_replace', { pre: bytesOnly,
  decoder: { type: 'Sequence', decoders: [bytesDecoder, { type: 'Replace', pattern: { Regex: '[0-9]+' }, content: '#' }, { type: 'Strip', content: ' ', start: 2, stop: 1 }] } },
// (tokenizers 0.23.2's Strip panics on a token it would strip to nothing: none here.)
{ texts: TEXTS.filter((t) => t.trim() !== '') });

const lines = [];
for (const c of CASES) {
  const tok = Tokenizer.fromString(JSON.stringify(c.tok));
  const encode = [];
  for (const text of c.texts) {
    const ids = Array.from((await tok.encode(text, null, { addSpecialTokens: true })).getIds());
    const plain = Array.from((await tok.encode(text, null, { addSpecialTokens: false })).getIds());
    encode.push({ text, ids, ids_plain: plain, decoded: await tok.decode(plain, false) });
  }
  const decode = [];
  for (const ids of c.decode) decode.push({ ids, text: await tok.decode(ids, false) });
  lines.push(JSON.stringify({ case: c.name, tokenizer: c.tok, encode, decode }));
}
const out = path.resolve(here, '..', 'data', 'hf_tokenizers', 'synthetic.jsonl');
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(`${CASES.length} cases, ${CASES.reduce((n, c) => n + c.texts.length, 0)} texts -> ${out} (${fs.statSync(out).size} bytes)`);
