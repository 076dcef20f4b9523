#!/usr/bin/env python3
"""Writes demo_text.jsonl: short, regular English facts that a tiny byte-level model learns
within a few hundred steps, so `tokclean demo` shows the loss falling. Deterministic."""
import json
import random
from pathlib import Path

rng = random.Random(20261126)
colours = ["red", "blue", "green", "yellow", "black", "white"]
animals = ["cat", "dog", "fox", "owl", "bee", "cow"]
places = ["garden", "kitchen", "forest", "river", "market", "school"]

lines = []
for _ in range(400):
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randrange(10, 50), rng.randrange(10, 50)
        text = f"{a} plus {b} is {a + b}."
    elif kind == 1:
        text = f"The {rng.choice(colours)} {rng.choice(animals)} sleeps in the {rng.choice(places)}."
    else:
        n = rng.randrange(2, 9)
        text = f"Count to {n}: " + ", ".join(str(i) for i in range(1, n + 1)) + "."
    lines.append(json.dumps({"text": text}))

Path(__file__).with_name("demo_text.jsonl").write_text("\n".join(lines) + "\n")
