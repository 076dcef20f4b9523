#!/usr/bin/env python3
"""A miniature reproduction of the paper's table: `tokclean demo` over several seeds, mean ±
standard deviation per arm of held-out token accuracy, answer accuracy, exact match of the
answers (greedy, and expected when sampling at temperature 1) and loss; the kept fraction of
each token kind for the cleaning arms, and by place in the response (bench/kind_breakdown.py).
Prints Markdown.

    python3 bench/reproduce.py --build build [--seeds 1 2 3] [--work /tmp/tokclean-reproduce]

The seed changes the model initialisation, the shuffling and the random-selection arm; the
task (examples/data/demo) stays the same. A seed whose WORK/seedN/results.json exists is not
run again (delete the work directory after changing the program).
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from kind_breakdown import PLACES, breakdown, chunked, read_pool

KINDS = [("I", "informative"), ("E", "EOS"), ("B", "boilerplate"), ("J", "junk span"), ("W", "wrong answer")]


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--work", default="/tmp/tokclean-reproduce")
    args = ap.parse_args()
    exe = Path(args.build) / "examples" / "tokclean"
    runs = []
    for seed in args.seeds:
        out = Path(args.work) / f"seed{seed}"
        out.mkdir(parents=True, exist_ok=True)
        if (out / "results.json").exists():  # a finished seed of an interrupted run: reused
            runs.append(json.loads((out / "results.json").read_text()))
            print(f"seed {seed}: reusing {out / 'results.json'}", file=sys.stderr)
            continue
        subprocess.run([str(exe), "--quiet", "demo", "--seed", str(seed), "--work", str(out),
                        "--json", str(out / "results.json")], check=True, stdout=subprocess.DEVNULL)
        runs.append(json.loads((out / "results.json").read_text()))
        print(f"seed {seed} done", file=sys.stderr)

    arms = [a["arm"] for a in runs[0]["arms"]]
    by_arm = {name: [next(a for a in r["arms"] if a["arm"] == name) for r in runs] for name in arms}
    print(f"Seeds {', '.join(map(str, args.seeds))}; mean ± std over seeds; keep {runs[0]['keep']}.\n")
    print("| arm | held-out token accuracy | answer token accuracy | exact match (answers) | sampled exact match "
          "(answers) | loss | answer loss | per seed (token accuracy / exact match / sampled exact match) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in arms:
        rows = by_arm[name]
        acc, ans, em, sem, loss, ans_loss = (
            mean_std([r[k] for r in rows])
            for k in ("token_accuracy", "answer_token_accuracy", "exact_match", "sampled_exact_match", "loss",
                      "answer_loss"))
        per_seed = ", ".join(f"{r['token_accuracy']:.4f} / {r['exact_match']:.3f} / {r['sampled_exact_match']:.3f}"
                             for r in rows)
        print(f"| {name} | {acc[0]:.4f} ± {acc[1]:.4f} | {ans[0]:.4f} ± {ans[1]:.4f} | {em[0]:.4f} ± {em[1]:.4f} | "
              f"{sem[0]:.4f} ± {sem[1]:.4f} | {loss[0]:.4f} ± {loss[1]:.4f} | {ans_loss[0]:.4f} ± {ans_loss[1]:.4f} | "
              f"{per_seed} |")
    print("\nKept fraction of each kind of response token (mean over seeds):\n")
    print("| arm | " + " | ".join(n for _, n in KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for name in arms:
        if name == "Full SFT" or name.startswith("("):
            continue
        rows = by_arm[name]
        cells = [f"{statistics.mean(r['kept_fraction'].get(k, 0.0) for r in rows):.3f}" for k, _ in KINDS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if all("evolving_chunks" in r for r in runs):  # the self-evolving arm chunk by chunk
        for i, chunk in enumerate(runs[0]["evolving_chunks"]):
            cells = [f"{statistics.mean(r['evolving_chunks'][i]['kept_fraction'].get(k, 0.0) for r in runs):.3f}"
                     for k, _ in KINDS]
            print(f"| {chunk['chunk']} | " + " | ".join(cells) + " |")
    print_places(args)


def print_places(args):
    """The finer view (bench/kind_breakdown.py): kept fraction and median score of each kind by
    its place in the response, for the fixed-model pool and each self-evolving chunk."""
    parts = {}  # row name -> one breakdown per seed
    for seed in args.seeds:
        work = Path(args.work) / f"seed{seed}"
        if not (work / "cleaned_fixed.jsonl").exists() or not (work / "cleaned_evolving.jsonl").exists():
            return  # a reused seed whose cleaned files are gone
        parts.setdefault("Fixed-model cleaning", []).append(breakdown(*read_pool(work / "cleaned_fixed.jsonl")))
        for c, b in enumerate(chunked(*read_pool(work / "cleaned_evolving.jsonl"), 4)):
            parts.setdefault(f"Self-evolving, chunk {c + 1}", []).append(b)
    print("\nBy place in the response (bench/kind_breakdown.py): kept fraction (median score), means over seeds:\n")
    print("| pool | " + " | ".join(PLACES) + " |")
    print("|---|" + "---|" * len(PLACES))
    for name, per_seed in parts.items():
        cells = [f"{statistics.mean(b[p][0] for b in per_seed):.2f} ({statistics.mean(b[p][1] for b in per_seed):+.1f})"
                 for p in PLACES]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
