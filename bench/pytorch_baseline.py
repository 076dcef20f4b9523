#!/usr/bin/python3
"""PyTorch side of the model benchmark: times the reference GPT-2 (tests/python/gpt2_reference.py)
and the reference Llama family (tests/python/llama_reference.py, Hugging Face's eager modeling
code in its own words: repeat_kv, matmul attention with a causal mask, RMSNorm in float32).

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/pytorch_baseline.py \
        --shape tiny|gpt2-small|smollm-135m|tinyllama-1.1b --mode train|score --reps N --warmup W --threads 2

Modes (random weights, std 0.02, and random token batches, fixed seeds):
  train  forward + batch mean loss + backward + AdamW step (lr 1e-4)
  score  forward under torch.no_grad() + per-token losses, the first quarter of every sequence
         being prompt (label -100)
The model uses torch's fused LayerNorm / GELU kernels (same math as the reference ops).
Prints ONE JSON line on stdout with the median time per rep and tokens per second.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import gpt2_reference as ref  # noqa: E402
import llama_reference as llama_ref  # noqa: E402

SHAPES = {
    "tiny": dict(vocab_size=512, n_layer=4, n_head=4, n_embd=256, n_positions=256,
                 batch=8, seq=256),
    "gpt2-small": dict(vocab_size=50257, n_layer=12, n_head=12, n_embd=768, n_positions=1024,
                       batch=4, seq=128),
}
LLAMA_SHAPES = {
    "smollm-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                        num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
                        batch=4, seq=128),
    "tinyllama-1.1b": dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                           num_attention_heads=32, num_key_value_heads=4, tie_word_embeddings=False,
                           batch=4, seq=128),
}


def llama_model(name: str, seed: int):
    """(config, params, per_token_losses, batch_mean_loss) of a Llama shape, random weights."""
    shape = dict(LLAMA_SHAPES[name])
    shape.pop("batch"), shape.pop("seq")
    config = llama_ref.make_config("llama", max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-6,
                                   bos_token_id=None, eos_token_id=0, **shape)
    return (config, llama_ref.init_params(config, std=0.02, seed=seed), llama_ref.per_token_losses,
            llama_ref.batch_mean_loss)


def gpt2_model(name: str, seed: int):
    shape = SHAPES[name]
    config = ref.make_config(shape["n_layer"], shape["n_head"], shape["n_embd"],
                             shape["vocab_size"], shape["n_positions"])
    return (config, ref.init_params(config, std=0.02, seed=seed),
            lambda p, c, i, l: ref.per_token_losses(p, c, i, l, fused=True),
            lambda p, c, i, l: ref.batch_mean_loss(p, c, i, l, fused=True))
LR = 1e-4
IGNORE = ref.IGNORE_INDEX


def loaded_blas() -> str:
    """Path of the BLAS library mapped into this process (Debian's torch links libblas.so.3,
    which the alternatives system points at netlib's reference BLAS unless OpenBLAS is installed)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    return ", ".join(sorted(paths)) or "none"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES) + sorted(LLAMA_SHAPES), default="tiny")
    ap.add_argument("--mode", choices=["train", "score"], default="train")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: the parameters cast to bfloat16 (the model then computes in bf16, as "
                         "transformers' torch_dtype=torch.bfloat16 does)")
    args = ap.parse_args()
    if args.reps < 1 or args.warmup < 0 or args.threads < 1:
        ap.error("--reps and --threads must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    blas = loaded_blas()
    if "openblas" not in blas.lower() and "mkl" not in blas.lower():
        print(f"warning: torch is using {blas} (not OpenBLAS/MKL); matmuls will be very slow",
              file=sys.stderr)
    shape = SHAPES.get(args.shape) or LLAMA_SHAPES[args.shape]
    B, T = shape["batch"], shape["seq"]
    config, params, per_token_losses, batch_mean_loss = (
        gpt2_model if args.shape in SHAPES else llama_model)(args.shape, args.seed)
    if args.dtype == "bf16":
        params = type(params)((k, v.to(torch.bfloat16)) for k, v in params.items())
    for t in params.values():
        t.requires_grad_(args.mode == "train")

    gen = torch.Generator().manual_seed(args.seed + 1)
    input_ids = torch.randint(0, config["vocab_size"], (B, T), generator=gen)  # (B, T)
    labels = input_ids.clone()                                                 # (B, T)
    if args.mode == "score":
        labels[:, : T // 4] = IGNORE  # the prompt: first quarter of each sequence

    if args.mode == "train":
        opt = torch.optim.AdamW(list(params.values()), lr=LR, betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=0.0)

        def rep() -> None:
            opt.zero_grad(set_to_none=True)
            loss = batch_mean_loss(params, config, input_ids, labels)
            loss.backward()
            opt.step()
    else:
        def rep() -> None:
            with torch.no_grad():
                losses = per_token_losses(params, config, input_ids, labels)
            if not bool(torch.isfinite(losses[:, T // 4:]).all()):
                raise RuntimeError("non-finite loss")

    for _ in range(args.warmup):
        rep()
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        rep()
        times.append(time.perf_counter() - t0)

    median = statistics.median(times)
    print(json.dumps({
        "impl": "pytorch",
        "shape": args.shape,
        "mode": args.mode,
        "batch": B,
        "seq": T,
        "reps": args.reps,
        "median_s": median,
        "tokens_per_s": B * T / median,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "torch": torch.__version__,
        "threads": args.threads,
        "dtype": args.dtype,
    }))


if __name__ == "__main__":
    main()
