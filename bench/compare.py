#!/usr/bin/python3
"""Side-by-side GPT-2 benchmark: tokclean (bench_model) and PyTorch (pytorch_baseline.py) on
the same shapes and modes, in one run, 2 threads each. Prints a Markdown table with tokens/s
and the ratio tokclean / PyTorch.

    /usr/bin/python3 bench/compare.py --build build [--reps 5] [--shapes tiny gpt2-small]

PyTorch runs with OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS otherwise picks a slow
generic kernel on this CPU) and OMP_NUM_THREADS=2.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build", help="CMake build directory with bench/bench_model")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", nargs="+", default=["tiny", "gpt2-small"])
    ap.add_argument("--modes", nargs="+", default=["train", "score"])
    args = ap.parse_args()

    bench = Path(args.build) / "bench" / "bench_model"
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_CORETYPE="SkylakeX")
    rows = []
    for shape in args.shapes:
        for mode in args.modes:
            common = ["--shape", shape, "--mode", mode, "--reps", str(args.reps),
                      "--warmup", str(args.warmup), "--threads", str(args.threads)]
            ours = run([str(bench), *common], env)
            theirs = run([sys.executable, str(HERE / "pytorch_baseline.py"), *common], env)
            rows.append((shape, mode, ours, theirs))
            print(f"{shape} {mode}: tokclean {ours['tokens_per_s']:.0f} tok/s, "
                  f"pytorch {theirs['tokens_per_s']:.0f} tok/s", file=sys.stderr)

    print(f"CPU: {cpu_name()}, {args.threads} threads; PyTorch {rows[0][3].get('torch', '?')}; "
          f"median of {args.reps} reps after {args.warmup} warm-up\n")
    print("| shape | mode | tokclean tok/s | PyTorch tok/s | ratio | tokclean GFLOP/s | "
          "tokclean RSS MB | PyTorch RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for shape, mode, ours, theirs in rows:
        ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
        print(f"| {shape} | {mode} | {ours['tokens_per_s']:.0f} | {theirs['tokens_per_s']:.0f} | "
              f"{ratio:.2f}x | {ours['gflops']:.1f} | {ours['peak_rss_mb']:.0f} | "
              f"{theirs['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
