#!/usr/bin/python3
"""Regenerate the GPT-2 test fixtures under tests/data/gpt2_tiny/ (deterministic, rerunnable).

    /usr/bin/python3 tests/python/make_fixtures.py

Writes:
  model/                   tiny GPT-2 with random weights, F32, plain GPT-2 key names
  model_bf16_prefixed/     the same weights rounded to BF16, keys prefixed with "transformer."
  model_f16/               the same weights rounded to F16
  data.jsonl               4 pre-tokenized examples {"input_ids", "labels"}
  expected_losses.json     per-token losses of each example under each model, and the batch mean
  expected_grads.safetensors  F32 gradients of the batch mean loss w.r.t. every param of model/
  adamw_trajectory.json, adamw_trajectory_wd0.json   5 AdamW steps from model/ (wd 0.01, 0.0)
  adamw_final/             model/ after the weight_decay 0.01 run (F32)
See tests/python/README.md for the conventions.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_reference as ref  # noqa: E402

SEED = 1234
OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "data", "gpt2_tiny"))

CONFIG = ref.make_config(n_layer=2, n_head=4, n_embd=32, vocab_size=97, n_positions=32,
                         layer_norm_epsilon=1e-5, bos_token_id=96, eos_token_id=96,
                         tokclean_tokenizer="none")

# Standard deviations of the random weights, chosen so that attention is far from uniform,
# logits are O(1) and the per-token losses lie around 3-6.
WTE_STD = 0.15         # also the LM head: logits ~ sqrt(C) * 0.15 * |ln_f out| ~ O(1)
WPE_STD = 0.1
ATTN_STD = 0.2         # c_attn: q.k / sqrt(hs) has a std around 1
MATRIX_STD = 0.1       # c_proj, c_fc, mlp.c_proj
BIAS_STD = 0.05
LN_STD = 0.1           # LayerNorm weight 1 + N(0, 0.1^2), bias N(0, 0.1^2)

# lengths, and how many leading "prompt" positions have label -100
LENGTHS = [9, 16, 5, 12]
PROMPT = [3, 5, 0, 4]
LAST_IGNORED = 3       # example whose last label is -100 as well

ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
STEPS = 5
BATCH_SIZE = 2


def random_params(gen: torch.Generator) -> "OrderedDict[str, torch.Tensor]":
    """Random tiny-GPT-2 parameters in canonical order (every tensor from the same generator)."""
    params = OrderedDict()
    for name, shape in ref.param_shapes(CONFIG).items():
        if name == "wte.weight":
            t = torch.randn(shape, generator=gen) * WTE_STD
        elif name == "wpe.weight":
            t = torch.randn(shape, generator=gen) * WPE_STD
        elif name.endswith("attn.c_attn.weight"):
            t = torch.randn(shape, generator=gen) * ATTN_STD
        elif len(shape) == 2:
            t = torch.randn(shape, generator=gen) * MATRIX_STD
        elif name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            t = 1.0 + torch.randn(shape, generator=gen) * LN_STD
        elif name.endswith(("ln_1.bias", "ln_2.bias", "ln_f.bias")):
            t = torch.randn(shape, generator=gen) * LN_STD
        else:  # linear biases
            t = torch.randn(shape, generator=gen) * BIAS_STD
        params[name] = t.to(torch.float32).contiguous()
    return params


def random_examples(gen: torch.Generator) -> list:
    V = CONFIG["vocab_size"]
    examples = []
    for i, (n, prompt) in enumerate(zip(LENGTHS, PROMPT)):
        ids = torch.randint(0, V, (n,), generator=gen).tolist()
        if i in (0, 1):
            ids[-1] = CONFIG["eos_token_id"]  # some examples end with EOS
        labels = [ref.IGNORE_INDEX if j < prompt else t for j, t in enumerate(ids)]
        if i == LAST_IGNORED:
            labels[-1] = ref.IGNORE_INDEX
        examples.append({"input_ids": ids, "labels": labels})
    return examples


def leaf_copy(params):
    return OrderedDict((k, v.detach().clone().requires_grad_(True)) for k, v in params.items())


def adamw_run(params, examples, weight_decay: float):
    """5 AdamW steps over batches of 2 in file order (wrapping); returns (record, final params)."""
    p = leaf_copy(params)
    opt = torch.optim.AdamW(list(p.values()), weight_decay=weight_decay, **ADAMW)
    step_losses = []
    for step in range(STEPS):
        idx = [(step * BATCH_SIZE + k) % len(examples) for k in range(BATCH_SIZE)]
        ids, lab = ref.pad_batch([examples[i] for i in idx])
        opt.zero_grad(set_to_none=True)
        loss = ref.batch_mean_loss(p, CONFIG, ids, lab)
        loss.backward()
        opt.step()
        step_losses.append(float(loss.item()))
    final = OrderedDict((k, v.detach().clone()) for k, v in p.items())
    record = OrderedDict(
        lr=ADAMW["lr"], betas=list(ADAMW["betas"]), eps=ADAMW["eps"],
        weight_decay=weight_decay, batch_size=BATCH_SIZE, steps=STEPS,
        pad_id=0, step_losses=step_losses,
        final_losses=ref.example_losses(final, CONFIG, examples),
    )
    return record, final


def write_json(path, obj):
    """One top-level key per line, each list row on one line (floats via repr: full precision)."""
    lines = []
    for key, value in obj.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ",\n    ".join(json.dumps(row) for row in value)
            text = "[\n    " + rows + "\n  ]"
        else:
            text = json.dumps(value)
        lines.append(f"  {json.dumps(key)}: {text}")
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # reproducible reductions
    gen = torch.Generator().manual_seed(SEED)
    params = random_params(gen)
    examples = random_examples(gen)

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    # -- model directories, and the weights exactly as each stores them ----------------------
    variants = [("model", "F32", ""), ("model_bf16_prefixed", "BF16", ref.PREFIX),
                ("model_f16", "F16", "")]
    stored = {}
    for name, dtype, prefix in variants:
        ref.save_model_dir(os.path.join(OUT, name), CONFIG, params, dtype=dtype, prefix=prefix)
        stored[name] = OrderedDict((k, ref.round_to_dtype(v, dtype)) for k, v in params.items())

    # -- data ------------------------------------------------------------------------------
    with open(os.path.join(OUT, "data.jsonl"), "w") as f:
        for e in examples:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")

    # -- expected losses ---------------------------------------------------------------------
    expected = OrderedDict()
    for name, _, _ in variants:
        expected[name] = ref.example_losses(stored[name], CONFIG, examples)
    ids, lab = ref.pad_batch(examples)                                   # (4, 16)
    p = leaf_copy(params)
    loss = ref.batch_mean_loss(p, CONFIG, ids, lab)
    expected["batch_mean_loss"] = float(loss.item())
    expected["batch_target_tokens"] = int(((lab[:, 1:] != ref.IGNORE_INDEX)).sum())
    write_json(os.path.join(OUT, "expected_losses.json"), expected)

    # -- expected gradients of the batch mean loss ----------------------------------------
    loss.backward()
    grads = OrderedDict((k, v.grad.detach().clone()) for k, v in p.items())
    ref.write_safetensors(os.path.join(OUT, "expected_grads.safetensors"), grads, "F32")

    # -- AdamW trajectories ----------------------------------------------------------------
    rec, final = adamw_run(params, examples, weight_decay=0.01)
    write_json(os.path.join(OUT, "adamw_trajectory.json"), rec)
    ref.save_model_dir(os.path.join(OUT, "adamw_final"), CONFIG, final, dtype="F32")
    rec0, _ = adamw_run(params, examples, weight_decay=0.0)
    write_json(os.path.join(OUT, "adamw_trajectory_wd0.json"), rec0)

    # -- summary ---------------------------------------------------------------------------
    flat = [v for row in expected["model"] for v in row if v is not None]
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"wrote {OUT} ({total} bytes)")
    print(f"  params: {sum(v.numel() for v in params.values())}  "
          f"target tokens in batch: {expected['batch_target_tokens']}")
    print(f"  per-token losses (model): min {min(flat):.3f} max {max(flat):.3f}")
    print(f"  batch_mean_loss: {expected['batch_mean_loss']!r}")
    print(f"  adamw wd=0.01 step losses: {[round(x, 5) for x in rec['step_losses']]}")
    print(f"  adamw wd=0    step losses: {[round(x, 5) for x in rec0['step_losses']]}")


if __name__ == "__main__":
    main()
