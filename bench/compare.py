#!/usr/bin/python3
"""Side-by-side model benchmark: tokclean (bench_model) and PyTorch (pytorch_baseline.py) on
the same shapes and modes (GPT-2: tiny, gpt2-small; Llama: smollm-135m, tinyllama-1.1b), in one
run, 2 threads each; then the sgemm peak of the machine
(bench_gemm: tokclean's GEMM, Eigen's, OpenBLAS's when installed) that the achieved GFLOP/s
are measured against. Prints a Markdown table with tokens/s and the ratio tokclean / PyTorch.

    /usr/bin/python3 bench/compare.py --build build [--reps 5] [--shapes tiny gpt2-small smollm-135m tinyllama-1.1b]

PyTorch runs with OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS otherwise picks a slow
generic kernel on this CPU) and OMP_NUM_THREADS=2. Other processes on the machine ruin the
numbers (an OpenMP team whose thread loses its core spins at every barrier): the load
average is printed before and after, and a warning when it was above 0.5.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_json_lines(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def load_average():
    return os.getloadavg()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build", help="CMake build directory with bench/bench_model")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", nargs="+", default=["tiny", "gpt2-small"])
    ap.add_argument("--modes", nargs="+", default=["train", "score"])
    ap.add_argument("--no-gemm", action="store_true", help="skip the sgemm peak measurement")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: weights in bfloat16 on both sides (Llama shapes, score)")
    args = ap.parse_args()

    bench = Path(args.build) / "bench" / "bench_model"
    bench_gemm = Path(args.build) / "bench" / "bench_gemm"
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_CORETYPE="SkylakeX")
    load_before = load_average()
    rows = []
    for shape in args.shapes:
        for mode in args.modes:
            common = ["--shape", shape, "--mode", mode, "--reps", str(args.reps),
                      "--warmup", str(args.warmup), "--threads", str(args.threads), "--dtype", args.dtype]
            ours = run_json_lines([str(bench), *common], env)[-1]
            theirs = run_json_lines([sys.executable, str(HERE / "pytorch_baseline.py"), *common], env)[-1]
            rows.append((shape, mode, ours, theirs))
            print(f"{shape} {mode}: tokclean {ours['tokens_per_s']:.0f} tok/s, "
                  f"pytorch {theirs['tokens_per_s']:.0f} tok/s (load {load_average():.2f})",
                  file=sys.stderr)

    # The sgemm peak: the best any library reaches on any shape (GPT-2's and a 2048 cube).
    gemm = []
    if not args.no_gemm and bench_gemm.exists():
        gemm = run_json_lines([str(bench_gemm), "--threads", str(args.threads),
                               "--reps", str(args.reps)], env)
    load_after = load_average()

    print(f"{datetime.date.today().isoformat()}, CPU: {cpu_name()}, {os.cpu_count()} cores, "
          f"{args.threads} threads each side; tokclean's {rows[0][2].get('cpu_kernels', '?')} CPU kernels "
          f"(TOKCLEAN_CPU); PyTorch {rows[0][3].get('torch', '?')}; median of "
          f"{args.reps} reps after {args.warmup} warm-up; load average {load_before:.2f} before, "
          f"{load_after:.2f} after\n")
    peak = max((g["gflops"] for g in gemm), default=None)
    print("| shape | mode | tokclean tok/s | PyTorch tok/s | ratio | tokclean GFLOP/s | "
          "% of sgemm peak | tokclean RSS MB | PyTorch RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for shape, mode, ours, theirs in rows:
        ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
        share = f"{100.0 * ours['gflops'] / peak:.0f}%" if peak else "-"
        print(f"| {shape} | {mode} | {ours['tokens_per_s']:.0f} | {theirs['tokens_per_s']:.0f} | "
              f"{ratio:.2f}x | {ours['gflops']:.1f} | {share} | {ours['peak_rss_mb']:.0f} | "
              f"{theirs['peak_rss_mb']:.0f} |")
    if gemm:
        impls = sorted({g["impl"] for g in gemm})
        print(f"\nsgemm GFLOP/s, {args.threads} threads (peak {peak:.1f}):\n")
        print("| shape | M | N | K | " + " | ".join(impls) + " |")
        print("|---|---|---|---|" + "---|" * len(impls))
        for name in dict.fromkeys(g["shape"] for g in gemm):
            by = {g["impl"]: g for g in gemm if g["shape"] == name}
            first = next(iter(by.values()))
            cells = " | ".join(f"{by[i]['gflops']:.1f}" if i in by else "-" for i in impls)
            print(f"| {name} | {first['M']} | {first['N']} | {first['K']} | {cells} |")
    if max(load_before, load_after) > 0.5:
        print(f"\nwarning: load average {max(load_before, load_after):.2f}: other processes shared "
              "the cores; the numbers are not representative", file=sys.stderr)


if __name__ == "__main__":
    main()
