#!/usr/bin/python3
"""numpy side of the selection benchmark (compare_select.py runs it beside bench_select):

    /usr/bin/python3 bench/select_numpy.py --n 100000000 --keep 0.6 --reps 5 --warmup 1

Times np.argpartition(-scores, k - 1), which puts the indices of the k largest scores first,
on N scores drawn like bench_select's: a standard normal, a tie fraction of them rounded to
2 decimals (numpy's own generator and seed, so the values are not byte-identical to the C++
ones, only identically distributed). The timed work includes the negation (a copy of the
scores), which is what a descending argpartition costs in numpy.

This is a lower bound on the work, not the same semantics: introselect does not resolve ties
(which of several equal scores at the cut are kept is arbitrary, not the earlier index), it
returns indices rather than a keep mask (building one costs another scattered pass), and it
checks nothing (NaN sorts to one end instead of raising). numpy's argpartition is single-
threaded whatever OMP_NUM_THREADS says; "threads" reports 1.

Prints one JSON line: {"impl", "n", "keep", "median_s", "gb_per_s", "threads", "kept"}.
"""
import argparse
import json
import statistics
import time

import numpy as np


def make_scores(n, tie_fraction, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal(n, dtype=np.float32)
    ties = rng.random(n) < tie_fraction
    scores[ties] = np.round(scores[ties], 2)
    return scores


def keep_count(n, keep):
    # floor(n * keep) with the same decimal nudge as tokclean::keep_count (0.6 * 5 = 3).
    exact = n * keep
    return int(np.floor(exact + exact * 1e-12))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000_000)
    ap.add_argument("--keep", type=float, default=0.6)
    ap.add_argument("--tie-fraction", type=float, default=0.3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    scores = make_scores(args.n, args.tie_fraction, args.seed)
    k = keep_count(args.n, args.keep)
    if not 0 < k < args.n:
        raise SystemExit(f"keep {args.keep} selects {k} of {args.n}: nothing to partition")
    times = []
    for r in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        idx = np.argpartition(-scores, k - 1)
        t = time.perf_counter() - t0
        if r >= args.warmup:
            times.append(t)
        kept = idx[:k]
        del idx
    median = statistics.median(times)
    print(json.dumps({"impl": "numpy-argpartition", "n": args.n, "keep": args.keep,
                      "median_s": round(median, 6),
                      "gb_per_s": round(args.n * 4 / median / 1e9, 3),
                      "threads": 1, "kept": int(kept.size), "numpy": np.__version__}))


if __name__ == "__main__":
    main()
