#!/usr/bin/env python3
"""Why the demo's self-evolving arm loses token accuracy: three runs of its chunk-by-chunk
training, from one demo work directory, that separate the reference's choices from the
training schedule. Prints Markdown.

    python3 bench/evolving_controls.py --build build --work tokclean-demo --seed 1

WORK is what `tokclean demo --seed SEED --work WORK` left (base/, reference/, cleaned_fixed.jsonl,
cleaned_evolving.jsonl); the training flags must be the demo's (its defaults unless given).
  replay    the self-evolving arm's own cleaned chunks, trained in order from the warm-up
            reference with `tokclean train`: must give the demo's self-evolving numbers (a check
            of this harness);
  fixed     the same schedule, each chunk selected (global top-k within the chunk) by the fixed
            warm-up reference's scores: the evolving references' choices taken out;
  oracle    chunk 1 as the self-evolving arm selected it but with every junk token dropped, then
            chunks 2-4 scored and selected by each evolved reference as the arm does: does the
            drift need the junk kept in chunk 1?
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from kind_breakdown import PLACES, breakdown, chunked, read_jsonl, read_pool, split_in_chunks

DEMO_DATA = Path(__file__).resolve().parent.parent / "examples" / "data" / "demo"
CHUNKS = 4  # the demo's pool chunks (T = 4 after the warm-up model)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def relabelled(rows, keep):
    """{"input_ids","labels"} rows whose targets are kept where keep(example, position)."""
    return [{"input_ids": r["input_ids"],
             "labels": [t if keep(i, j) else -100 for j, t in enumerate(r["input_ids"])]}
            for i, r in enumerate(rows)]


def top_k_within(rows, keep_fraction):
    """Global top-k of the rows' scores (stable: ties keep the earlier token), as a keep(i, j)."""
    scored = [(i, j) for i, r in enumerate(rows) for j, s in enumerate(r["scores"]) if s is not None]
    order = sorted(scored, key=lambda ij: -rows[ij[0]]["scores"][ij[1]])
    kept = set(order[:int(len(scored) * keep_fraction)])
    return lambda i, j: (i, j) in kept


class Runner:
    def __init__(self, args):
        self.exe, self.args = str(Path(args.build) / "examples" / "tokclean"), args

    def tokclean(self, *argv):
        out = subprocess.run([self.exe, "--quiet", *map(str, argv)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"tokclean {argv[0]} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def train(self, start, data, out, t):
        a = self.args
        self.tokclean("train", "--model", start, "--data", data, "--out", out, "--epochs", a.sft_epochs,
                      "--batch-size", 16, "--lr", a.lr, "--schedule", "linear", "--warmup-ratio", 0.03,
                      "--seed", a.seed + t)

    def evaluate(self, model, heldout, answers):
        every = json.loads(self.tokclean("eval", "--model", model, "--data", heldout))
        ans = json.loads(self.tokclean("eval", "--model", model, "--data", answers))
        return every["token_accuracy"], ans["exact_match"], ans["sampled_exact_match"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--work", required=True, help="a `tokclean demo` work directory")
    ap.add_argument("--seed", type=int, required=True, help="the demo's --seed")
    ap.add_argument("--sft-epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--keep", type=float, default=0.6)
    args = ap.parse_args()
    work, run = Path(args.work), Runner(args)
    if not Path(run.exe).is_file():
        sys.exit(f"{run.exe}: no such program (build first: cmake --build {args.build} --target tokclean_cli)")
    for need in ("base", "reference", "cleaned_fixed.jsonl", "cleaned_evolving.jsonl"):
        if not (work / need).exists():
            sys.exit(f"{work / need}: missing (run `tokclean demo --seed {args.seed} --work {work}` first)")
    out = work / "controls"
    out.mkdir(exist_ok=True)

    # The held-out answers alone as {"input_ids","labels"} (byte tokens, then EOS = 256).
    answers = []
    pairs = zip(read_jsonl(DEMO_DATA / "heldout.jsonl"), read_jsonl(DEMO_DATA / "heldout_kinds.jsonl"))
    for line, (ex, k) in enumerate(pairs, start=1):
        ids = list((ex["prompt"] + ex["completion"]).encode()) + [256]
        if len(ids) != len(k["kinds"]):
            sys.exit(f"{DEMO_DATA / 'heldout_kinds.jsonl'}:{line}: {len(k['kinds'])} kinds, but heldout.jsonl's "
                     f"example has {len(ids)} tokens")
        answers.append({"input_ids": ids, "labels": [t if c == "I" else -100 for t, c in zip(ids, k["kinds"])]})
    write_jsonl(out / "heldout_answers.jsonl", answers)
    evaluate = lambda model: run.evaluate(model, DEMO_DATA / "heldout.jsonl", out / "heldout_answers.jsonl")

    evolving, kinds = read_pool(work / "cleaned_evolving.jsonl")
    fixed, _ = read_pool(work / "cleaned_fixed.jsonl")
    evolving_chunks, kind_chunks = split_in_chunks(evolving, CHUNKS), split_in_chunks(kinds, CHUNKS)
    results, drift = {}, {}

    def schedule(name, first_chunks, select_next=None):
        """Trains the warm-up reference chunk by chunk on first_chunks' labels (rows as `tokclean
        train` reads them; cleaned rows keep their scores); where they run out, select_next(t,
        model) cleans chunk t with the current model as the reference."""
        model, labelled = work / "reference", list(first_chunks)
        for t in range(1, CHUNKS + 1):
            if t > len(labelled):
                labelled.append(select_next(t, model))
            path = out / f"{name}_chunk{t}.jsonl"
            write_jsonl(path, labelled[t - 1])
            run.train(model, path, out / f"{name}_model{t + 1}", t)
            model = out / f"{name}_model{t + 1}"
        results[name] = evaluate(model)

    schedule("replay", evolving_chunks)
    schedule("fixed", [relabelled(c, top_k_within(c, args.keep)) for c in split_in_chunks(fixed, CHUNKS)])

    raw = split_in_chunks(read_jsonl(DEMO_DATA / "pool.jsonl"), CHUNKS)
    first = evolving_chunks[0]
    no_junk = relabelled(first, lambda i, j: first[i]["labels"][j] != -100 and kind_chunks[0][i][j] != "J")

    def clean_with(t, model):
        write_jsonl(out / f"pool_chunk{t}.jsonl", raw[t - 1])
        cleaned = out / f"oracle_cleaned{t}.jsonl"
        run.tokclean("clean", "--base", work / "base", "--ref", model, "--data", out / f"pool_chunk{t}.jsonl",
                     "--out", cleaned, "--keep", args.keep, "--with-scores")
        rows = read_jsonl(cleaned)
        drift[t] = breakdown(rows, kind_chunks[t - 1])
        return rows

    schedule("oracle", [no_junk], clean_with)

    demo = {a["arm"]: a for a in json.loads((work / "results.json").read_text())["arms"]} \
        if (work / "results.json").exists() else {}
    print(f"Seed {args.seed} (`{work}`): each run trains the warm-up reference on 4 chunks in order, "
          f"{args.sft_epochs} epochs each at lr {args.lr}.\n")
    print("| run | held-out token accuracy | exact match (answers) | sampled exact match (answers) |")
    print("|---|---|---|---|")
    for name in ("Fixed-model cleaning", "Self-evolving cleaning"):
        if name in demo:
            a = demo[name]
            print(f"| demo: {name} | {a['token_accuracy']:.4f} | {a['exact_match']:.4f} | {a['sampled_exact_match']:.4f} |")
    labels = {"replay": "replay of the self-evolving chunks", "fixed": "chunks selected by the fixed reference",
              "oracle": "oracle: no junk kept in chunk 1"}
    for name, (acc, em, sem) in results.items():
        print(f"| {labels[name]} | {acc:.4f} | {em:.4f} | {sem:.4f} |")
    print("\nBy place, kept fraction (median score), the oracle run beside the self-evolving arm:\n")
    print("| chunk | " + " | ".join(PLACES) + " |")
    print("|---|" + "---|" * len(PLACES))
    for t, b in enumerate(chunked(evolving, kinds, CHUNKS), start=1):
        rows = [("self-evolving", b)] + ([("oracle", drift[t])] if t in drift else [])
        for who, part in rows:
            print(f"| {t} {who} | " + " | ".join(f"{part[p][0]:.2f} ({part[p][1]:+.1f})" for p in PLACES) + " |")


if __name__ == "__main__":
    main()
