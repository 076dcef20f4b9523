#!/usr/bin/env python3
"""Kept fraction and median score of each token kind of a cleaned demo pool, split by where the
token stands in its response: the finer view behind the demo's kind table.

    python3 bench/kind_breakdown.py CLEANED.jsonl [--kinds examples/data/demo/pool_kinds.jsonl] [--chunks N]

CLEANED.jsonl is a file the demo writes with scores (tokclean-demo/cleaned_fixed.jsonl,
cleaned_evolving.jsonl, ...). With --chunks N the pool is reported in N equal parts in order
(4 for the demo's self-evolving arm, whose chunks are scored by different references).

Places (from the kinds letters of examples/data/make_demo_task.py):
  I in place    an answer byte at the start of the response
  I shifted     an answer byte after a junk span (the answer starts later than in clean data)
  B '.'         the first boilerplate byte, right after the answer or the junk span
  B phrase[0]   the first letter of the closing phrase (a draw among five)
  B rest        the other boilerplate bytes
  J first       the first byte of a junk span; J rest: the others
  W             wrong-answer bytes; E: the EOS
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

DEFAULT_KINDS = Path(__file__).resolve().parent.parent / "examples" / "data" / "demo" / "pool_kinds.jsonl"
PLACES = ["I in place", "I shifted", "E", "B '.'", "B phrase[0]", "B rest", "J first", "J rest", "W"]


def place(kinds, j):
    """The place of token j of an example whose token kinds are `kinds` (a string)."""
    k = kinds[j]
    if k == "I":
        return "I shifted" if "J" in kinds[:j] else "I in place"
    if k == "J":
        return "J first" if kinds[j - 1] != "J" else "J rest"
    if k == "B":
        run = len(kinds[:j]) - len(kinds[:j].rstrip("B"))  # boilerplate bytes before j
        return "B '.'" if run == 0 else "B phrase[0]" if run == 2 else "B rest"
    return k


def breakdown(rows, kinds):
    """{place: (kept fraction, median score, count)} over the target tokens of `rows`."""
    acc = {}
    for row, ks in zip(rows, kinds):
        labels, scores = row["labels"], row.get("scores")
        for j in range(1, len(ks)):
            if ks[j] == "P" or scores is None or scores[j] is None:
                continue
            kept, all_scores = acc.setdefault(place(ks, j), ([], []))
            kept.append(labels[j] != -100)
            all_scores.append(scores[j])
    return {p: (sum(k) / len(k), statistics.median(s), len(k)) for p, (k, s) in acc.items()}


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def read_pool(cleaned, kinds_file=DEFAULT_KINDS):
    """(rows of CLEANED.jsonl, their kinds strings), checked to describe the same tokens."""
    rows, kinds = read_jsonl(cleaned), [k["kinds"] for k in read_jsonl(kinds_file)]
    if len(rows) != len(kinds):
        sys.exit(f"{cleaned}: {len(rows)} lines, but {kinds_file} has {len(kinds)}")
    for i, (row, ks) in enumerate(zip(rows, kinds)):
        if len(row["labels"]) != len(ks):
            sys.exit(f"{cleaned}:{i + 1}: {len(row['labels'])} labels, but {kinds_file} has {len(ks)} kinds")
    return rows, kinds


def split_in_chunks(items, chunks):
    """`chunks` equal parts of a list, in order; the last takes the rest, as the self-evolving
    split does (tokclean::chunk_range)."""
    size = len(items) // chunks
    return [items[c * size:(c + 1) * size if c + 1 < chunks else len(items)] for c in range(chunks)]


def chunked(rows, kinds, chunks):
    """breakdown() of each of `chunks` equal parts of the pool, in order."""
    return [breakdown(r, k) for r, k in zip(split_in_chunks(rows, chunks), split_in_chunks(kinds, chunks))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cleaned")
    ap.add_argument("--kinds", default=str(DEFAULT_KINDS))
    ap.add_argument("--chunks", type=int, default=1)
    args = ap.parse_args()
    parts = chunked(*read_pool(args.cleaned, args.kinds), args.chunks)
    print("| part | " + " | ".join(PLACES) + " |")
    print("|---|" + "---|" * len(PLACES))
    for c, b in enumerate(parts):
        cells = [f"{b[p][0]:.2f} ({b[p][1]:+.1f})" if p in b else "–" for p in PLACES]
        print(f"| {'all' if len(parts) == 1 else f'chunk {c + 1}'} | " + " | ".join(cells) + " |")
    print("\nEach cell: kept fraction (median score).")


if __name__ == "__main__":
    main()
