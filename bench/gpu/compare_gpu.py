#!/usr/bin/env python3
"""Side-by-side table of bench_gpu and pytorch_gpu.py results (their JSON lines).

    python3 bench/gpu/compare_gpu.py OUT/tokclean.jsonl OUT/pytorch.jsonl [OUT/pytorch_compile.jsonl]

One Markdown row per (task, mode): tokens/s and MFU of each implementation, and tokclean's
ratio to PyTorch eager (and compiled, where it ran).
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    rows: dict[tuple[str, str], dict[str, dict]] = {}
    device = ""
    for path in sys.argv[1:]:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                device = r.get("device", device)
                rows.setdefault((r["task"], r["mode"]), {})[r["impl"]] = r
    print(f"Device: {device}\n")
    print("| task | mode | batch x seq | tokclean tok/s | MFU | PyTorch tok/s | MFU | ratio | "
          "PyTorch compiled tok/s | ratio | tokclean GiB | PyTorch GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (task, mode), impls in sorted(rows.items(), key=lambda kv: (kv[0][0] != "train", kv[0][1])):
        t, p, c = impls.get("tokclean"), impls.get("pytorch"), impls.get("pytorch-compile")
        any_r = t or p or c

        def tok(r):
            return f"{r['tokens_per_s']:,.0f}" if r else "-"

        def mfu(r):
            return f"{100 * r['mfu']:.1f}%" if r and r.get("mfu") else "-"

        def ratio(a, b):
            return f"{a['tokens_per_s'] / b['tokens_per_s']:.2f}x" if a and b else "-"

        def mem(r):
            return f"{r['peak_mem_gib']:.1f}" if r else "-"

        fused = " (fused attn)" if t and t.get("fused_attention") else ""
        print(f"| {task} | {mode}{fused} | {any_r['batch']} x {any_r['seq']} | {tok(t)} | {mfu(t)} | {tok(p)} | {mfu(p)} | "
              f"{ratio(t, p)} | {tok(c)} | {ratio(t, c)} | {mem(t)} | {mem(p)} |")


if __name__ == "__main__":
    main()
