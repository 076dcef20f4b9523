#!/usr/bin/python3
"""Side-by-side selection benchmark: tokclean's GlobalTopK (bench_select) and numpy's
argpartition (select_numpy.py) on N scores of the same distribution, in one run. Prints a
Markdown table: seconds (median of the reps), the ratio numpy / tokclean (how many times
faster tokclean is), and the throughput over the N·4 bytes of scores.

    /usr/bin/python3 bench/compare_select.py --build build [--sizes 100000000] [--threads 2]

The two sides do not do the same thing: see select_numpy.py (argpartition neither breaks ties
by index nor writes a mask nor checks for NaN; it is a lower bound on the work).
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
    ap.add_argument("--build", default="build", help="CMake build directory with bench/bench_select")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000_000])
    ap.add_argument("--keep", type=float, default=0.6)
    ap.add_argument("--tie-fraction", type=float, default=0.3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    bench = Path(args.build) / "bench" / "bench_select"
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    rows = []
    for n in args.sizes:
        common = ["--n", str(n), "--keep", str(args.keep), "--tie-fraction", str(args.tie_fraction),
                  "--reps", str(args.reps), "--warmup", str(args.warmup)]
        ours = run([str(bench), *common, "--threads", str(args.threads)], env)
        theirs = run([sys.executable, str(HERE / "select_numpy.py"), *common], env)
        rows.append((n, ours, theirs))
        print(f"N={n}: tokclean {ours['median_s']:.3f} s, numpy {theirs['median_s']:.3f} s",
              file=sys.stderr)

    print(f"CPU: {cpu_name()}; tokclean GlobalTopK on {rows[0][1]['threads']} threads, numpy "
          f"{rows[0][2].get('numpy', '?')} argpartition (1 thread); keep {args.keep}, tie fraction "
          f"{args.tie_fraction}; median of {args.reps} reps after {args.warmup} warm-up\n")
    print("| N | tokclean s | numpy s | ratio (numpy / tokclean) | tokclean GB/s | numpy GB/s |")
    print("|---|---|---|---|---|---|")
    for n, ours, theirs in rows:
        print(f"| {n:,} | {ours['median_s']:.3f} | {theirs['median_s']:.3f} | "
              f"{theirs['median_s'] / ours['median_s']:.1f}x | {ours['gb_per_s']:.2f} | "
              f"{theirs['gb_per_s']:.2f} |")


if __name__ == "__main__":
    main()
