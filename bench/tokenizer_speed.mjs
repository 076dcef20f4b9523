// Encoding speed of the reference tokenizers (@lenml/tokenizers, a fork of transformers.js, and
// Hugging Face's Rust tokenizers library through its Node binding) on a deterministic ~50 MB
// corpus, for comparison with the C++ implementation (bench/bench_tokenizer.cpp).
//
//     (cd tests/js && npm ci)                      # once: installs the pinned packages
//     node bench/tokenizer_speed.mjs               # all three tokenizers, 50 MB each
//     node bench/tokenizer_speed.mjs --mb 5 --only llama2
//     node bench/tokenizer_speed.mjs --write-corpus /tmp/corpus.jsonl   # write the corpus, then exit
//     node bench/tokenizer_speed.mjs --corpus /tmp/corpus.jsonl --impl rust --only qwen3
//     node bench/tokenizer_speed.mjs --corpus /tmp/corpus.jsonl --write-ids /tmp/ids_{tokenizer}.jsonl --limit 20000
//     (bench/tokenizer_bench.sh runs the whole comparison with tokclean's bench_tokenizer)
//
// The corpus: buildCorpus(seed) of tests/js/make_hf_tokenizer_vectors.mjs (the generator of the
// committed test vectors; seed 1 is exactly the vector corpus) for seed = 1, 2, 3, ... each
// seed drawing different random lines from the same categories, concatenated until the texts
// hold at least --mb * 1,000,000 UTF-8 bytes (whole texts; the last seed may be cut short).
// Every text is encoded on its own with encode(text, {add_special_tokens: false}); "bytes" is
// the sum of the texts' UTF-8 lengths, "tokens" the sum of the id counts, "seconds" the wall
// time of the encode calls only (tokenizer loading excluded, reported as load_seconds).
//
// --write-corpus FILE writes the same texts in the same order as JSON Lines: line i is the JSON
// string (JSON.stringify) of text i. Texts contain \n, \r, U+0000..U+001F, U+2028 etc., so
// they are JSON-escaped; decode each line as a JSON string to get the exact bytes encoded here.
// The file's "bytes" (sum of the decoded texts' UTF-8 lengths) is printed when it is written.
//
// Implementations (--impl, comma-separated; default js,rust,rust-batch), each printing one JSON
// line per tokenizer, all on the same texts, all without special tokens:
//   js          @lenml/tokenizers: tok.encode(text, {add_special_tokens: false}), synchronous.
//   rust        npm `tokenizers` 0.23.2 (Hugging Face's Rust library, Node binding), per text:
//               (await t.encode(text, null, {addSpecialTokens: false})).getIds(), one call at a
//               time (each call is an async task on libuv's pool, then a promise resolution).
//   rust-batch  the same library, t.encodeBatch(chunk, {addSpecialTokens: false}) on chunks of
//               --batch texts (default 1000), one chunk at a time. Inside a batch the Rust library
//               spreads the texts over rayon's threads (all cores) unless TOKENIZERS_PARALLELISM
//               is false; "threads" in its line says which (RAYON_NUM_THREADS, else the core count,
//               or 1 with TOKENIZERS_PARALLELISM=false).
// The Rust library loads the same tokenizer.json as @lenml (Tokenizer.fromFile); --tokenizer-root
// DIR loads DIR/NAME/tokenizer.json instead (e.g. build/tests/hf_tokenizers, what tokclean reads).
//
// --corpus FILE     read the texts from a file written by --write-corpus instead of generating
//                   them (--mb is then ignored).
// --write-ids FILE --limit N   write the Rust library's ids (encode, no special tokens) of the
//                   first N texts as JSON Lines (line i = the JSON array of text i's ids), then
//                   exit; FILE may contain {tokenizer}, replaced by the name (else --only is
//                   needed). bench_tokenizer --check FILE compares tokclean's ids with them.
// --limit N         (without --write-ids) time only the first N texts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { buildCorpus, loadTokenizer, tokenizerFiles, TOKENIZERS } from '../tests/js/make_hf_tokenizer_vectors.mjs';

const require = createRequire(new URL('../tests/js/package.json', import.meta.url));
const { Tokenizer: RustTokenizer } = require('tokenizers');
const rustVersion = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('tokenizers')), 'package.json'), 'utf8')).version;

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

export function benchCorpus(mb = 50) {
  const target = Math.round(mb * 1e6);
  const texts = [];
  let bytes = 0;
  for (let seed = 1; bytes < target; ++seed) {
    for (const [, text] of buildCorpus(seed)) {
      texts.push(text);
      bytes += Buffer.byteLength(text, 'utf8');
      if (bytes >= target) break;
    }
  }
  return { texts, bytes };
}

const mb = Number(arg('--mb', '50'));
const only = arg('--only', null);
const corpusIn = arg('--corpus', null);
const limit = arg('--limit', null) === null ? Infinity : Number(arg('--limit', null));
const impls = arg('--impl', 'js,rust,rust-batch').split(',');
const batchSize = Number(arg('--batch', '1000'));
const tokenizerRoot = arg('--tokenizer-root', null);
for (const i of impls) if (!['js', 'rust', 'rust-batch'].includes(i)) throw new Error(`--impl: unknown "${i}"`);

function readCorpus(file) {
  const texts = [];
  let bytes = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const t = JSON.parse(line);
    texts.push(t);
    bytes += Buffer.byteLength(t, 'utf8');
  }
  return { texts, bytes };
}

let { texts, bytes } = corpusIn ? readCorpus(corpusIn) : benchCorpus(mb);
const corpusOut = arg('--write-corpus', null);
if (corpusOut) {
  const fd = fs.openSync(corpusOut, 'w');
  let buf = [];
  for (const t of texts) {
    buf.push(JSON.stringify(t));
    if (buf.length === 10000) { fs.writeSync(fd, buf.join('\n') + '\n'); buf = []; }
  }
  if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n');
  fs.closeSync(fd);
  console.log(JSON.stringify({ corpus: corpusOut, format: 'jsonl (one JSON string per text)', texts: texts.length, bytes }));
  process.exit(0);
}
if (Number.isFinite(limit) && limit < texts.length) {
  texts = texts.slice(0, limit);
  bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
}

const names = Object.keys(TOKENIZERS).filter((n) => !only || n === only);
function rustFile(name) {
  return tokenizerRoot ? path.join(tokenizerRoot, name, 'tokenizer.json') : tokenizerFiles(name).tokenizerJSON;
}
const noSpecial = { addSpecialTokens: false };

const idsOut = arg('--write-ids', null);
if (idsOut) {
  if (names.length !== 1 && !idsOut.includes('{tokenizer}')) throw new Error('--write-ids: give --only NAME or put {tokenizer} in FILE');
  for (const name of names) {
    const file = idsOut.replaceAll('{tokenizer}', name);
    const rust = RustTokenizer.fromFile(rustFile(name));
    const fd = fs.openSync(file, 'w');
    let buf = [];
    for (const t of texts) {
      buf.push(JSON.stringify((await rust.encode(t, null, noSpecial)).getIds()));
      if (buf.length === 1000) { fs.writeSync(fd, buf.join('\n') + '\n'); buf = []; }
    }
    if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n');
    fs.closeSync(fd);
    console.log(JSON.stringify({ ids: file, implementation: 'rust', tokenizer: name, texts: texts.length, tokenizer_json: rustFile(name) }));
  }
  process.exit(0);
}

function report(impl, name, tokens, seconds, loadSeconds, extra) {
  console.log(JSON.stringify({ implementation: impl, tokenizer: name, ...extra, bytes, texts: texts.length, tokens,
    seconds: +seconds.toFixed(3), tokens_per_s: Math.round(tokens / seconds), mb_per_s: +(bytes / 1e6 / seconds).toFixed(3),
    load_seconds: +loadSeconds.toFixed(3), node: process.version }));
}
const secondsSince = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
function rayonThreads() {
  const p = (process.env.TOKENIZERS_PARALLELISM || '').toLowerCase();
  if (['false', '0', 'off', 'no', 'f', 'n'].includes(p)) return 1;
  return Number(process.env.RAYON_NUM_THREADS) || os.availableParallelism();
}

for (const name of names) {
  for (const impl of impls) {
    let t0 = process.hrtime.bigint();
    let tokens = 0;
    if (impl === 'js') {
      const tok = loadTokenizer(name);
      const loadSeconds = secondsSince(t0);
      t0 = process.hrtime.bigint();
      for (const text of texts) tokens += tok.encode(text, { add_special_tokens: false }).length;
      report('transformers.js', name, tokens, secondsSince(t0), loadSeconds, { package: '@lenml/tokenizers', call: 'encode', threads: 1 });
    } else if (impl === 'rust') {
      const tok = RustTokenizer.fromFile(rustFile(name));
      const loadSeconds = secondsSince(t0);
      t0 = process.hrtime.bigint();
      for (const text of texts) tokens += (await tok.encode(text, null, noSpecial)).getIds().length;
      report('rust', name, tokens, secondsSince(t0), loadSeconds, { package: `tokenizers@${rustVersion}`, call: 'encode', threads: 1 });
    } else {
      const tok = RustTokenizer.fromFile(rustFile(name));
      const loadSeconds = secondsSince(t0);
      t0 = process.hrtime.bigint();
      for (let b = 0; b < texts.length; b += batchSize) {
        for (const enc of await tok.encodeBatch(texts.slice(b, b + batchSize), noSpecial)) tokens += enc.getIds().length;
      }
      report('rust', name, tokens, secondsSince(t0), loadSeconds,
        { package: `tokenizers@${rustVersion}`, call: `encodeBatch(${batchSize})`, threads: rayonThreads() });
    }
  }
}
