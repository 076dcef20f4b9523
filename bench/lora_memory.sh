#!/usr/bin/env bash
# Peak memory and speed of LoRA training beside full fine-tuning on the CPU, with the memory
# plan's estimate (nn/memory_plan.hpp) for each run, on a TinyLlama-1.1B-shaped model (22 layers,
# hidden 2048, 32 heads, 4 KV heads, intermediate 5632, vocabulary 32000; random weights from
# init, random pre-tokenized data).
#   bench/lora_memory.sh BUILD_DIR [WORK_DIR]      (writes ~4.4 GB of weights into WORK_DIR)
# Prints, per run: max RSS (GNU time), tokens/s (the program's JSON line), and the estimate.
set -euo pipefail
build=${1:?usage: bench/lora_memory.sh BUILD_DIR [WORK_DIR]}
work=${2:-$(mktemp -d)}
tokclean=$build/examples/tokclean
B=${B:-2} T=${T:-128} STEPS=${STEPS:-2}
mkdir -p "$work"
if [ ! -f "$work/tiny/config.json" ]; then
  "$tokclean" --quiet init --out "$work/tiny" --arch llama --layers 22 --heads 32 --kv-heads 4 --embd 2048 \
    --intermediate 5632 --positions 2048 --vocab 32000 --rope-theta 10000 > /dev/null
fi
/usr/bin/python3 - "$work/data.jsonl" "$T" <<'PY'
import json, random, sys
random.seed(0)
with open(sys.argv[1], "w") as f:
    for _ in range(64):
        ids = [random.randrange(32000) for _ in range(int(sys.argv[2]))]
        f.write(json.dumps({"input_ids": ids, "labels": [-100] * 16 + ids[16:]}) + "\n")
PY
run() {  # name, extra train flags
  local name=$1; shift
  rm -rf "$work/out_$name"
  local estimate
  # A limit just above the weights: they load, and the plan for the rest is printed, refused.
  local limit=$(( $(cat "$work"/tiny/*.safetensors | wc -c) + (64 << 20) ))
  estimate=$(TOKCLEAN_MEMORY_LIMIT=$limit "$tokclean" --quiet train --model "$work/tiny" --data "$work/data.jsonl" \
             --out "$work/out_$name" --steps "$STEPS" --batch-size "$B" --no-shuffle "$@" 2>&1 || true)
  /usr/bin/time -f "%M" -o "$work/rss_$name" "$tokclean" --quiet train --model "$work/tiny" --data "$work/data.jsonl" \
    --out "$work/out_$name" --steps "$STEPS" --batch-size "$B" --no-shuffle "$@" > "$work/json_$name"
  echo "$name: max RSS $(( $(cat "$work/rss_$name") / 1024 )) MiB; $(cat "$work/json_$name")"
  echo "  estimate: ${estimate#tokclean: error: }"
}
run lora_r64 --lora-r 64 --lora-alpha 16 --lora-dropout 0.1
[ "${FULL:-1}" = 1 ] && run full
