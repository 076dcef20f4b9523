#!/usr/bin/python3
"""Regenerate the LoRA test fixtures under tests/data/lora/ (deterministic, rerunnable).

    /usr/bin/python3 tests/python/make_lora_fixtures.py

An independent implementation of PEFT's LoRA math (peft/tuners/lora/layer.py, Linear.forward:
result = base(x) + lora_B(lora_A(dropout(x))) * scaling, scaling = lora_alpha / r, or
lora_alpha / sqrt(r) with use_rslora) on the Llama-family reference (llama_reference.py), over
the base models of tests/data/llama/<case>/model and their data.jsonl. One subdirectory per case:
  adapter/                    adapter_config.json + adapter_model.safetensors (PEFT's layout:
                              base_model.model.<module>.lora_A.weight (r, in), lora_B.weight (out, r));
                              A random, B random too (PEFT starts B at zero, which would make the
                              losses the base's and A's gradient zero: no test)
  expected_losses.json        per-token losses of base + adapter, each example alone
  expected_grads.safetensors  gradients of the batch mean loss of the 4 examples w.r.t. every A and B
  adamw_trajectory.json       5 AdamW steps (lr 1e-3, wd 0.01, batches of 2 in file order) on the
                              adapter alone, the base frozen
  adamw_final/                the adapter after those steps
Dropout is 0 in these runs (the comparison needs the same masks); its statistics are tested in C++.
Before writing, the script checks its LoRA forward against the merged model W + s·B·A, and a
float64 gradient against central finite differences.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_CORETYPE", "Sandybridge")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from collections import OrderedDict  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_reference as common  # noqa: E402
import llama_reference as ref  # noqa: E402
from make_fixtures import write_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA = os.path.normpath(os.path.join(HERE, "..", "data", "llama"))
OUT = os.path.normpath(os.path.join(HERE, "..", "data", "lora"))

ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
WEIGHT_DECAY = 0.01
STEPS = 5
BATCH_SIZE = 2
PAD_ID = 0

PROJ = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
        "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}

# case -> (base case under tests/data/llama, r, lora_alpha, use_rslora, target_modules, seed)
CASES = OrderedDict()
CASES["llama_all_linear"] = ("llama_scaled", 4, 8.0, False, "all-linear", 11)
CASES["qwen2_bias_subset"] = ("qwen2_tied_bias", 3, 5.0, False, ["k_proj", "o_proj", "up_proj"], 12)
CASES["qwen3_rslora"] = ("qwen3_head_dim", 4, 6.0, True, ["q_proj", "v_proj", "gate_proj", "down_proj"], 13)


def targets_of(spec):
    return list(PROJ) if spec == "all-linear" else list(spec)


def adapter_keys(config, targets):
    """module path -> (in, out) for every adapted module, in layer order."""
    out = OrderedDict()
    for layer in range(int(config["num_hidden_layers"])):
        for name in PROJ:
            if name in targets:
                out[f"model.layers.{layer}.{PROJ[name]}.{name}"] = None
    return out


def random_adapter(config, params, targets, r, gen):
    """A (r, in) Kaiming-uniform bound 1/sqrt(in) as PEFT; B (out, r) normal, std 0.3 / sqrt(r)."""
    adapter = OrderedDict()
    for path in adapter_keys(config, targets):
        w = params[path + ".weight"]
        out_f, in_f = w.shape
        bound = 1.0 / math.sqrt(in_f)
        adapter[f"base_model.model.{path}.lora_A.weight"] = (torch.rand(r, in_f, generator=gen) * 2 - 1) * bound
        adapter[f"base_model.model.{path}.lora_B.weight"] = torch.randn(out_f, r, generator=gen) * (0.3 / math.sqrt(r))
    return adapter


class LoraLinear:
    """llama_reference.linear with PEFT's LoRA term on the adapted weights (found by identity)."""

    def __init__(self):
        self.by_weight = {}
        self.scaling = 1.0

    def __call__(self, x, w, b=None):
        y = x @ w.t()
        if b is not None:
            y = y + b
        ab = self.by_weight.get(id(w))
        if ab is not None:
            a, bb = ab
            y = y + (x @ a.t()) @ bb.t() * self.scaling   # lora_B(lora_A(dropout(x))) * scaling
        return y


LORA = LoraLinear()
ref.linear = LORA  # attention() and mlp() look `linear` up at call time


def bind(params, adapter, scaling):
    LORA.by_weight = {}
    LORA.scaling = scaling
    for key in adapter:
        if key.endswith(".lora_A.weight"):
            path = key[len("base_model.model."):-len(".lora_A.weight")]
            LORA.by_weight[id(params[path + ".weight"])] = (adapter[key], adapter[key.replace("lora_A", "lora_B")])


def scaling_of(r, alpha, rslora):
    return alpha / math.sqrt(r) if rslora else alpha / r


def merged(params, adapter, scaling):
    out = OrderedDict((k, v.clone()) for k, v in params.items())
    for key in adapter:
        if key.endswith(".lora_A.weight"):
            path = key[len("base_model.model."):-len(".lora_A.weight")]
            b = adapter[key.replace("lora_A", "lora_B")]
            out[path + ".weight"] = out[path + ".weight"] + (b @ adapter[key]) * scaling
    return out


def losses(params, adapter, config, examples, scaling):
    bind(params, adapter, scaling)
    return ref.example_losses(params, config, examples)


def batch_loss(params, adapter, config, examples, scaling):
    bind(params, adapter, scaling)
    ids, lab = common.pad_batch(examples, PAD_ID)
    return ref.batch_mean_loss(params, config, ids, lab)


def check_merge(params, adapter, config, examples, scaling):
    a = losses(params, adapter, config, examples, scaling)
    LORA.by_weight = {}
    b = ref.example_losses(merged(params, adapter, scaling), config, examples)
    worst = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb) if x is not None)
    assert worst < 1e-4, f"LoRA forward vs merged model: {worst}"


def check_finite_differences(params, adapter, config, examples, scaling):
    p64 = OrderedDict((k, v.double()) for k, v in params.items())
    a64 = OrderedDict((k, v.double().clone().requires_grad_(True)) for k, v in adapter.items())
    loss = batch_loss(p64, a64, config, examples, scaling)
    loss.backward()
    gen = torch.Generator().manual_seed(5)
    for key in list(a64)[:4]:
        t = a64[key]
        for _ in range(3):
            i = int(torch.randint(t.numel(), (1,), generator=gen))
            h = 1e-6
            with torch.no_grad():
                old = t.view(-1)[i].item()
                t.view(-1)[i] = old + h
                up = batch_loss(p64, a64, config, examples, scaling).item()
                t.view(-1)[i] = old - h
                down = batch_loss(p64, a64, config, examples, scaling).item()
                t.view(-1)[i] = old
            fd = (up - down) / (2 * h)
            assert abs(fd - t.grad.view(-1)[i].item()) < 1e-7 + 1e-5 * abs(fd), (key, i, fd, t.grad.view(-1)[i].item())


def adamw_run(params, adapter, config, examples, scaling):
    a = OrderedDict((k, v.clone().requires_grad_(True)) for k, v in adapter.items())
    opt = torch.optim.AdamW(list(a.values()), weight_decay=WEIGHT_DECAY, **ADAMW)
    step_losses = []
    for step in range(STEPS):
        idx = [(step * BATCH_SIZE + k) % len(examples) for k in range(BATCH_SIZE)]
        opt.zero_grad(set_to_none=True)
        loss = batch_loss(params, a, config, [examples[i] for i in idx], scaling)
        loss.backward()
        opt.step()
        step_losses.append(float(loss.item()))
    final = OrderedDict((k, v.detach().clone()) for k, v in a.items())
    record = OrderedDict(lr=ADAMW["lr"], betas=list(ADAMW["betas"]), eps=ADAMW["eps"],
                         weight_decay=WEIGHT_DECAY, batch_size=BATCH_SIZE, steps=STEPS, pad_id=PAD_ID,
                         step_losses=step_losses,
                         final_losses=losses(params, final, config, examples, scaling))
    return record, final


def write_adapter(path, adapter, r, alpha, rslora, targets, base):
    os.makedirs(path, exist_ok=True)
    cfg = OrderedDict(peft_type="LORA", task_type="CAUSAL_LM", base_model_name_or_path=base, r=r,
                      lora_alpha=alpha, lora_dropout=0.0, use_rslora=rslora,
                      target_modules=targets, bias="none", fan_in_fan_out=False, use_dora=False,
                      modules_to_save=None, init_lora_weights=True, inference_mode=True,
                      rank_pattern={}, alpha_pattern={}, layers_to_transform=None, revision=None)
    with open(os.path.join(path, "adapter_config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2) + "\n")
    common.write_safetensors(os.path.join(path, "adapter_model.safetensors"),
                             OrderedDict(sorted(adapter.items())), "F32")


def make_case(name, base_case, r, alpha, rslora, target_spec, seed):
    config, params, _ = ref.load_model_dir(os.path.join(LLAMA, base_case, "model"))
    with open(os.path.join(LLAMA, base_case, "data.jsonl")) as f:
        examples = [json.loads(line) for line in f if line.strip()]
    targets = targets_of(target_spec)
    gen = torch.Generator().manual_seed(seed)
    adapter = random_adapter(config, params, targets, r, gen)
    scaling = scaling_of(r, alpha, rslora)
    check_merge(params, adapter, config, examples, scaling)
    check_finite_differences(params, adapter, config, examples, scaling)

    out = os.path.join(OUT, name)
    shutil.rmtree(out, ignore_errors=True)
    write_adapter(os.path.join(out, "adapter"), adapter, r, alpha, rslora, target_spec, base_case)
    with open(os.path.join(out, "base_case"), "w") as f:
        f.write(base_case + "\n")
    write_json(os.path.join(out, "expected_losses.json"),
               OrderedDict(examples=losses(params, adapter, config, examples, scaling)))
    a = OrderedDict((k, v.clone().requires_grad_(True)) for k, v in adapter.items())
    batch_loss(params, a, config, examples, scaling).backward()
    common.write_safetensors(os.path.join(out, "expected_grads.safetensors"),
                             OrderedDict(sorted((k, v.grad) for k, v in a.items())), "F32")
    record, final = adamw_run(params, adapter, config, examples, scaling)
    write_json(os.path.join(out, "adamw_trajectory.json"), record)
    write_adapter(os.path.join(out, "adamw_final"), final, r, alpha, rslora, target_spec, base_case)
    print(f"{name}: {len(adapter)} tensors, scaling {scaling:.4f}, step losses "
          + " ".join(f"{x:.4f}" for x in record["step_losses"]))


def main():
    torch.manual_seed(0)
    for name, spec in CASES.items():
        make_case(name, *spec)


if __name__ == "__main__":
    main()
