#!/usr/bin/env python3
"""PyTorch side of the GPU benchmark (bench/gpu/bench_gpu.cu is tokclean's side).

    python3 bench/gpu/pytorch_gpu.py [--batch 16] [--score-batch 32] [--seq 1024] [--steps 20]
        [--warmup 3] [--modes fp32,tf32,bf16] [--tasks train,score] [--compile] [--peak-tflops X]

The same GPT-2 small (12 layers, 12 heads, d 768, vocab 50257, tied LM head, tanh GELU), the
same random tokens and tasks as bench_gpu:
  train  forward + mean loss + backward + clip_grad_norm_(1.0) + AdamW (fused) step
  score  forward under torch.no_grad() + per-token losses, first quarter of each row prompt
Modes: fp32 (TF32 off everywhere), tf32 (torch.backends.*.allow_tf32), bf16 (autocast to
bfloat16 over float32 weights: PyTorch's mixed precision). Attention is
F.scaled_dot_product_attention(is_causal=True), which picks flash/cuDNN/efficient kernels.
Prints one JSON line per (mode, task), with the FLOP count and MFU of bench_gpu.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, L, H, C, NPOS = 50257, 12, 12, 768, 1024
IGNORE = -100

# Dense peak TFLOP/s per mode (datasheets, no sparsity), as in bench_gpu.cu.
PEAKS = [("H100 PCIe", 51.0, 378.0, 756.0), ("H100 NVL", 60.0, 418.0, 835.0),
         ("H100", 67.0, 494.0, 989.0), ("H200", 67.0, 494.0, 989.0), ("A100", 19.5, 156.0, 312.0)]


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(C, eps=1e-5), nn.LayerNorm(C, eps=1e-5)
        self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, T, C)
        B, T, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(NPOS, C)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # ids (B, T) -> logits (B, T, V)
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()  # tied LM head


def step_flops(B: int, T: int, targets: int, train: bool) -> float:
    """bench_gpu's convention: matmuls, causal attention pairs, LM head over targets only."""
    pairs = B * T * (T + 1) / 2
    fwd = B * T * 2 * L * 12 * C * C + L * pairs * 4 * C + 2 * targets * C * V
    return 3 * fwd if train else fwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--score-batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--modes", default="fp32,tf32,bf16")
    ap.add_argument("--tasks", default="train,score")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--peak-tflops", type=float, default=0.0)
    args = ap.parse_args()
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(dev)
    torch.manual_seed(0)

    for mode in args.modes.split(","):
        tf32 = mode == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "bf16")
        for task in args.tasks.split(","):
            train = task == "train"
            B, T = (args.batch if train else args.score_batch), args.seq
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
            model = Gpt2().to(dev)
            run = torch.compile(model) if args.compile else model
            gen = torch.Generator(device=dev).manual_seed(1)
            ids = torch.randint(0, V, (B, T), device=dev, generator=gen)  # (B, T)
            labels = ids.clone()                                           # (B, T)
            if not train:
                labels[:, : T // 4] = IGNORE
            # Hugging Face's shift: position j's loss predicts labels[j] from logits[j - 1].
            targets = labels[:, 1:].reshape(-1)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True) if train else None

            def step() -> float:
                if train:
                    opt.zero_grad(set_to_none=True)
                    with amp:
                        logits = run(ids)
                    loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, V), targets, ignore_index=IGNORE)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    return loss.item()
                with torch.no_grad(), amp:
                    logits = run(ids)
                    losses = F.cross_entropy(logits[:, :-1].float().reshape(-1, V), targets, ignore_index=IGNORE,
                                             reduction="none")
                return losses.sum().item()

            times = []
            loss = 0.0
            for r in range(args.warmup + args.steps):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                loss = step()
                torch.cuda.synchronize()
                if r >= args.warmup:
                    times.append(time.perf_counter() - t0)
            median = statistics.median(times)
            n_targets = int((targets != IGNORE).sum())
            tflops = step_flops(B, T, n_targets, train) / median * 1e-12
            peak = args.peak_tflops or next((p[1 + ("fp32", "tf32", "bf16").index(mode)] for p in PEAKS if p[0] in name), 0.0)
            print(json.dumps({
                "impl": "pytorch-compile" if args.compile else "pytorch", "device": name, "mode": mode, "task": task,
                "batch": B, "seq": T, "steps": args.steps, "median_s": median, "tokens_per_s": B * T / median,
                "tflops": tflops, "mfu": tflops / peak if peak else 0.0, "peak_tflops": peak,
                "loss": loss if train else loss / max(n_targets, 1),
                "peak_mem_gib": torch.cuda.max_memory_allocated(dev) / 2**30, "torch": torch.__version__,
            }), flush=True)
            del model, run, opt
    return


if __name__ == "__main__":
    main()
