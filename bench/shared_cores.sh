#!/usr/bin/env bash
# What sharing the cores costs: one epoch of `tokclean train` on the demo pool (the demo's model
# shape, fresh weights), alone and as two processes at once, with OpenMP's default waiting
# (threads spin) and with each process on one thread or with sleeping idle threads.
#
#   bench/shared_cores.sh [BUILD_DIR]      # default: build
#
# Prints one line per setup: wall seconds until every process of it has finished.
set -euo pipefail
cd "$(dirname "$0")/.."
exe="${1:-build}/examples/tokclean"
[[ -x "$exe" ]] || { echo "$exe: no such program (build first: cmake --build ${1:-build} --target tokclean_cli)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$exe" --quiet init --out "$tmp/model" --layers 3 --heads 4 --embd 128 --positions 96 --seed 1 > /dev/null

train() {  # train NAME [FLAGS...]: one epoch of the demo pool
    "$exe" --quiet train --model "$tmp/model" --data examples/data/demo/pool.jsonl --out "$tmp/out_$1" \
        --epochs 1 --batch-size 16 --lr 3e-3 "${@:2}" > /dev/null
}
timed() {  # timed LABEL COMMAND...: wall time of COMMAND
    local t0=$EPOCHREALTIME
    "${@:2}"
    awk -v l="$1" -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN { printf "%-40s %6.1f s\n", l, e - s }'
}
two() { train a "$@" & train b "$@"; wait; }

timed "one process alone" train a
timed "two at once" two
timed "two at once, --threads 1 each" two --threads 1
OMP_WAIT_POLICY=passive timed "one alone, OMP_WAIT_POLICY=passive" train a
OMP_WAIT_POLICY=passive timed "two at once, OMP_WAIT_POLICY=passive" two
