#!/usr/bin/env bash
# bf16 weights (--dtype bf16) beside float32, through the program, on the CPU:
#   1. the paper's recipe on a small Llama shape (README, "LoRA adapters"): a base pretrained on
#      the demo data, a LoRA warm-up reference, then `clean --keep 0.6` of the demo pool with
#      --dtype fp32, --dtype bf16 (bf16 dot products where the CPU has AVX512_BF16) and
#      --dtype bf16 widened (TOKCLEAN_CPU=avx512): per-token score differences, and the share of
#      keep/drop decisions that change; then LoRA SFT on the cleaned pool and eval, as the
#      README's recipe runs it;
#   2. a TinyLlama-1.1B-shaped model (22 layers, hidden 2048, 32 heads, 4 KV heads, MLP 5632,
#      vocabulary 32000; random weights from init, a float32 file): `score` of 64 random
#      examples of 128 tokens with each dtype: wall time, tokens/s, max RSS, loss differences.
#   bench/bf16_weights.sh BUILD_DIR [WORK_DIR]      (writes ~4.4 GB of weights into WORK_DIR)
set -euo pipefail
build=${1:?usage: bench/bf16_weights.sh BUILD_DIR [WORK_DIR]}
work=${2:-$(mktemp -d)}
tok=$build/examples/tokclean
D=examples/data/demo
mkdir -p "$work"
t() { /usr/bin/time -f "%e %M" -o "$work/time" "$@"; read -r secs rss < "$work/time"; }
random_examples() {  # FILE COUNT VOCAB: pre-tokenized examples of 128 tokens, the first 32 a prompt
  /usr/bin/python3 - "$@" <<'PY'
import json, random, sys
random.seed(0)
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):
        ids = [random.randrange(int(sys.argv[3])) for _ in range(128)]
        f.write(json.dumps({"input_ids": ids, "labels": [-100] * 32 + ids[32:]}) + "\n")
PY
}

echo "== 1. the recipe on a small Llama shape"
if [ ! -f "$work/warmup/adapter_config.json" ]; then
  rm -rf "$work/init" "$work/base" "$work/warmup"
  "$tok" --quiet init --out "$work/init" --arch llama --layers 4 --heads 4 --kv-heads 2 --embd 128 --positions 256 > /dev/null
  t "$tok" --quiet train --model "$work/init" --data $D/pretrain.jsonl --out "$work/base" --epochs 2 --lr 1e-3 > /dev/null
  echo "pretrain: ${secs} s"
  t "$tok" --quiet train --model "$work/base" --data $D/warmup.jsonl --out "$work/warmup" --lora-r 64 --lora-alpha 16 \
    --lora-dropout 0.1 --epochs 3 --lr 1e-3 > /dev/null
  echo "LoRA warm-up: ${secs} s"
fi
for mode in fp32 bf16 bf16_widened; do
  dtype=${mode%_widened}
  env=(); [ "$mode" = bf16_widened ] && env=(TOKCLEAN_CPU=avx512)
  t env "${env[@]}" "$tok" --quiet clean --base "$work/base" --ref "$work/warmup" --data $D/pool.jsonl \
    --out "$work/cleaned_$mode.jsonl" --keep 0.6 --with-scores --dtype "$dtype" > /dev/null
  echo "clean --dtype $mode: ${secs} s, max RSS $((rss / 1024)) MiB"
done
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def rows(name):
    return [json.loads(l) for l in open(f"{work}/cleaned_{name}.jsonl")]
ref = rows("fp32")
for name in ["bf16", "bf16_widened"]:
    got = rows(name)
    diffs, changed, decisions = [], 0, 0
    for a, b in zip(ref, got):
        for sa, sb, la, lb in zip(a["scores"], b["scores"], a["labels"], b["labels"]):
            if sa is None:
                continue
            diffs.append(abs(sa - sb))
            decisions += 1
            changed += (la == -100) != (lb == -100)
    diffs.sort()
    print(f"{name} vs fp32: {decisions} scored tokens; |score difference| median {diffs[len(diffs)//2]:.2e}, "
          f"99th percentile {diffs[int(len(diffs)*0.99)]:.2e}, max {diffs[-1]:.2e}; "
          f"keep/drop decisions changed at keep 0.6: {changed} ({100.0*changed/decisions:.3f}%)")
PY
if [ ! -f "$work/sft/adapter_config.json" ]; then
  "$tok" --quiet train --model "$work/base" --data "$work/cleaned_bf16.jsonl" --out "$work/sft" --lora-r 64 \
    --lora-alpha 16 --lora-dropout 0.1 --epochs 3 --lr 1e-3 --dtype bf16 > /dev/null
fi
echo "eval of the base:          $("$tok" --quiet eval --model "$work/base" --data $D/heldout.jsonl)"
echo "eval of base + SFT adapter: $("$tok" --quiet eval --model "$work/base" --adapter "$work/sft" --data $D/heldout.jsonl)"

echo "== 2. scoring a TinyLlama-1.1B shape"
if [ ! -f "$work/tiny/config.json" ]; then
  "$tok" --quiet init --out "$work/tiny" --arch llama --layers 22 --heads 32 --kv-heads 4 --embd 2048 \
    --intermediate 5632 --positions 2048 --vocab 32000 --rope-theta 10000 > /dev/null
fi
random_examples "$work/data.jsonl" 64 32000
for mode in fp32 bf16 bf16_widened; do
  dtype=${mode%_widened}
  env=(); [ "$mode" = bf16_widened ] && env=(TOKCLEAN_CPU=avx512)
  t env "${env[@]}" "$tok" --quiet score --model "$work/tiny" --data "$work/data.jsonl" --out "$work/losses_$mode.jsonl" \
    --batch-size 8 --dtype "$dtype" > /dev/null
  echo "score --dtype $mode: ${secs} s ($(( 64 * 128 ))/${secs} tokens/s), max RSS $((rss / 1024)) MiB"
done
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def losses(name):
    return [x for l in open(f"{work}/losses_{name}.jsonl") for x in json.loads(l)["losses"] if x is not None]
ref = losses("fp32")
for name in ["bf16", "bf16_widened"]:
    d = sorted(abs(a - b) for a, b in zip(ref, losses(name)))
    print(f"{name} vs fp32: {len(d)} losses (mean {sum(ref)/len(ref):.3f}); |difference| median {d[len(d)//2]:.2e}, "
          f"max {d[-1]:.2e}")
PY

[ "${BIG:-0}" = 1 ] || exit 0
echo "== 3. scoring a Llama-3.1-8B shape in bf16 (BIG=1; 16 GB of BF16 files in WORK_DIR)"
if [ ! -f "$work/big/config.json" ]; then
  t "$tok" --quiet init --out "$work/big" --arch llama --layers 32 --heads 32 --kv-heads 8 --embd 4096 \
    --intermediate 14336 --positions 2048 --vocab 128256 --rope-theta 500000 --dtype bf16 > /dev/null
  echo "init --dtype bf16: ${secs} s, max RSS $((rss / 1024)) MiB"
fi
random_examples "$work/big_data.jsonl" 16 128256
t "$tok" --quiet score --model "$work/big" --data "$work/big_data.jsonl" --out "$work/big_losses.jsonl" \
  --batch-size 4 --dtype bf16 > /dev/null
echo "score --dtype bf16: ${secs} s ($(( 16 * 128 ))/${secs} tokens/s), max RSS $((rss / 1024)) MiB"
limit=$(( $(cat "$work"/big/*.safetensors | wc -c) + (64 << 20) ))  # the weights load; the rest is refused
estimate=$(TOKCLEAN_MEMORY_LIMIT=$limit "$tok" --quiet score --model "$work/big" --data "$work/big_data.jsonl" \
           --out "$work/big_refused.jsonl" --batch-size 4 --dtype bf16 2>&1 || true)
echo "  the memory plan: ${estimate#tokclean: error: }"
estimate=$("$tok" --quiet score --model "$work/big" --data "$work/big_data.jsonl" --out "$work/big_refused.jsonl" \
           --batch-size 4 2>&1 || true)
echo "  --dtype fp32 on this machine: ${estimate#tokclean: error: }"
