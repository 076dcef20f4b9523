#!/usr/bin/env python3
"""A miniature reproduction of the paper's table: `tokclean demo` over several seeds, mean ±
standard deviation per arm of held-out token accuracy, answer accuracy, exact match of the
answers (greedy, and expected when sampling at temperature 1) and loss; the kept fraction of
each token kind for the cleaning arms, and by place in the response (bench/kind_breakdown.py).
Prints Markdown.

    python3 bench/reproduce.py --build build [--seeds 1 2 3] [--work /tmp/tokclean-reproduce]
                               [--with-auto] [--data DIR]

--with-auto adds the demo's two `--select auto` arms (fixed and self-evolving) and the tau each
chose; --data runs another task (a directory make_demo_task.py wrote), whose pool_kinds.jsonl
the kind tables then read.

The seed changes the model initialisation, the shuffling and the random-selection arm; the
task (examples/data/demo) stays the same. A seed whose WORK/seedN.json exists is not
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
    ap.add_argument("--with-auto", action="store_true")
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    extra = (["--with-auto"] if args.with_auto else []) + (["--data", args.data] if args.data else [])
    exe = Path(args.build) / "examples" / "tokclean"
    runs = []
    for seed in args.seeds:
        out = Path(args.work) / f"seed{seed}"
        results = Path(args.work) / f"seed{seed}.json"  # beside the demo's work directory, not in it
        if results.exists():  # a finished seed of an interrupted run: reused
            runs.append(json.loads(results.read_text()))
            print(f"seed {seed}: reusing {results}", file=sys.stderr)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(exe), "--quiet", "demo", "--seed", str(seed), "--work", str(out),
                        "--json", str(results)] + extra, check=True, stdout=subprocess.DEVNULL)
        runs.append(json.loads(results.read_text()))
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
    if all(r.get("auto_choices") for r in runs):  # what --select auto chose, each set in order
        print("\n`--select auto` (otsu): tau and kept fraction of each selection, mean ± std over seeds:\n")
        print("| selection | tau | kept fraction |\n|---|---|---|")
        for i, c in enumerate(runs[0]["auto_choices"]):
            taus = [r["auto_choices"][i]["tau"] for r in runs]
            kept = [r["auto_choices"][i]["kept"] / r["auto_choices"][i]["total"] for r in runs]
            tau_cell = "none" if any(t is None for t in taus) else "{:.3f} ± {:.3f}".format(*mean_std(taus))
            name = c["arm"] + ("" if c["arm"].startswith("fixed") else f", chunk {i}")
            print(f"| {name} | {tau_cell} | {mean_std(kept)[0]:.3f} ± {mean_std(kept)[1]:.3f} |")
    print_places(args)


def print_places(args):
    """The finer view (bench/kind_breakdown.py): kept fraction and median score of each kind by
    its place in the response, for the fixed-model pool and each self-evolving chunk."""
    parts = {}  # row name -> one breakdown per seed
    for seed in args.seeds:
        work = Path(args.work) / f"seed{seed}"
        if not (work / "cleaned_fixed.jsonl").exists() or not (work / "cleaned_evolving.jsonl").exists():
            return  # a reused seed whose cleaned files are gone
        kinds = [Path(args.data) / "pool_kinds.jsonl"] if args.data else []
        parts.setdefault("Fixed-model cleaning", []).append(breakdown(*read_pool(work / "cleaned_fixed.jsonl", *kinds)))
        for c, b in enumerate(chunked(*read_pool(work / "cleaned_evolving.jsonl", *kinds), 4)):
            parts.setdefault(f"Self-evolving, chunk {c + 1}", []).append(b)
        for name, file in (("Fixed auto", "cleaned_fixed_auto.jsonl"), ("Self-evolving auto", "cleaned_evolving_auto.jsonl")):
            if (work / file).exists():
                pieces = chunked(*read_pool(work / file, *kinds), 4) if name.startswith("Self") else [
                    breakdown(*read_pool(work / file, *kinds))]
                for c, b in enumerate(pieces):
                    parts.setdefault(name + (f", chunk {c + 1}" if name.startswith("Self") else ""), []).append(b)
    print("\nBy place in the response (bench/kind_breakdown.py): kept fraction (median score), means over seeds:\n")
    print("| pool | " + " | ".join(PLACES) + " |")
    print("|---|" + "---|" * len(PLACES))
    for name, per_seed in parts.items():
        cells = [f"{statistics.mean(b[p][0] for b in per_seed):.2f} ({statistics.mean(b[p][1] for b in per_seed):+.1f})"
                 for p in PLACES]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
