#!/usr/bin/python3
"""Regenerate the Llama-family test fixtures under tests/data/llama/ (deterministic, rerunnable).

    /usr/bin/python3 tests/python/make_llama_fixtures.py

One subdirectory per case (llama_scaled, llama_tied, mistral_one_kv, qwen2_tied_bias,
qwen3_head_dim), each with:
  model/                      Hugging Face model directory (config.json + safetensors weights)
  data.jsonl                  4 pre-tokenized examples {"input_ids", "labels"}
  expected_losses.json        per-token losses of each example alone; batch mean loss of the 4
  expected_grads.safetensors  F32 gradients of that batch mean loss w.r.t. every parameter
  adamw_trajectory.json       5 AdamW steps (lr 1e-3, wd 0.01) from model/
  adamw_final/                model/ after those steps, F32, single file
The conventions are those of the GPT-2 fixtures (make_fixtures.py); see tests/python/README.md.

Before writing anything the script checks the reference (llama_reference.py) against an
independent second formulation written below (per-head loops, complex-number RoPE, additive
causal mask + F.softmax, F.cross_entropy), the llama3 RoPE bands, and float64 gradients against
central finite differences; after writing, it reloads every directory and recomputes the losses.
"""

from __future__ import annotations

import os

# Reproducible float32 reductions: one thread, and one fixed OpenBLAS kernel family. Debian's
# PyTorch does its matmuls in the system OpenBLAS, whose kernels (picked per CPU at load time)
# round differently; the Sandybridge kernels (AVX) run on any x86-64 CPU of the last decade.
# These must be set before torch (OpenBLAS) is loaded; an explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_CORETYPE", "Sandybridge")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from collections import OrderedDict  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_reference as common  # noqa: E402
import llama_reference as ref  # noqa: E402
from make_fixtures import write_json  # noqa: E402  (same JSON layout as the GPT-2 fixtures)

SEED = 4321  # torch.manual_seed; each case has its own generator seed (CASES)
OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "data", "llama"))

# Same data layout as the GPT-2 fixtures: lengths, leading prompt positions with label -100,
# the example whose last label is -100 too, examples ending with EOS.
LENGTHS = [9, 16, 5, 12]
PROMPT = [3, 5, 0, 4]
LAST_IGNORED = 3
ENDS_WITH_EOS = (0, 1)
STARTS_WITH_BOS = (0, 2)

ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
WEIGHT_DECAY = 0.01
STEPS = 5
BATCH_SIZE = 2
PAD_ID = 0

# Standard deviations of the random weights: attention far from uniform, logits O(1), losses
# spread around log V (not all ~log V), gradients not tiny.
STD = {
    "embed": 0.2,      # model.embed_tokens (also the head when tied)
    "lm_head": 0.2,
    "qk": 0.2,         # q_proj, k_proj: scores / sqrt(hd) with a std around 1
    "vo": 0.15,        # v_proj, o_proj
    "gate_up": 0.15,
    "down": 0.1,
    "bias": 0.1,       # qwen2 q/k/v biases
    "norm": 0.1,       # every RMSNorm weight (incl. qwen3 q_norm/k_norm): 1 + N(0, 0.1^2)
}

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 32}

# name -> (make_config arguments, stored dtype, number of shards, seed of the weights and data).
# The seeds are picked so that no parameter sits on a near-zero gradient that float32 rounding
# could flip in the AdamW run (check_case asserts that the float32 and float64 runs agree).
CASES = OrderedDict()
CASES["llama_scaled"] = (dict(
    model_type_="llama", vocab_size=100, hidden_size=32, intermediate_size=64,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    max_position_embeddings=64, rope_theta=100.0, rms_norm_eps=1e-5,
    tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
    rope_scaling_=LLAMA3_SCALING, torch_dtype="bfloat16"), "BF16", 2, 4321)
CASES["llama_tied"] = (dict(
    model_type_="llama", vocab_size=101, hidden_size=32, intermediate_size=48,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
    max_position_embeddings=32, rope_theta=10000.0, rms_norm_eps=1e-6,
    tie_word_embeddings=True, bos_token_id=0, eos_token_id=100), "F32", 1, 4321)
CASES["mistral_one_kv"] = (dict(
    model_type_="mistral", vocab_size=113, hidden_size=32, intermediate_size=48,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
    max_position_embeddings=32, rope_theta=1000000.0, rms_norm_eps=1e-5,
    tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
    sliding_window_=None), "F32", 1, 4322)
# qwen2: 6 query heads share 2 KV heads (groups of 3), head_dim 6. sliding_window 8 with
# max_window_layers 1 but use_sliding_window false: the window must be ignored (it would change
# layer 1 for the 12- and 16-token examples), as in Qwen2.5 checkpoints' configs.
CASES["qwen2_tied_bias"] = (dict(
    model_type_="qwen2", vocab_size=120, hidden_size=36, intermediate_size=48,
    num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
    max_position_embeddings=32, rope_theta=1000000.0, rms_norm_eps=1e-6,
    tie_word_embeddings=True, bos_token_id=118, eos_token_id=119,
    sliding_window_=8, max_window_layers=1), "F32", 1, 4326)
CASES["qwen3_head_dim"] = (dict(
    model_type_="qwen3", vocab_size=96, hidden_size=32, intermediate_size=40,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim_=16,
    max_position_embeddings=40, rope_theta=1000000.0, rms_norm_eps=1e-6,
    tie_word_embeddings=False, bos_token_id=94, eos_token_id=95), "F32", 1, 4322)


# ----------------------------------------------------------------------------------------------
# Random weights and data


def random_params(config: dict, gen: torch.Generator) -> "OrderedDict[str, torch.Tensor]":
    """Random parameters in module order (every tensor from the same generator)."""
    params = OrderedDict()
    for name, shape in ref.param_shapes(config).items():
        leaf = name.split(".")[-2] if name.count(".") else name
        if ref.is_norm_weight(name):
            t = 1.0 + torch.randn(shape, generator=gen) * STD["norm"]
        elif name.endswith(".bias"):
            t = torch.randn(shape, generator=gen) * STD["bias"]
        elif name == "model.embed_tokens.weight":
            t = torch.randn(shape, generator=gen) * STD["embed"]
        elif name == "lm_head.weight":
            t = torch.randn(shape, generator=gen) * STD["lm_head"]
        elif leaf in ("q_proj", "k_proj"):
            t = torch.randn(shape, generator=gen) * STD["qk"]
        elif leaf in ("v_proj", "o_proj"):
            t = torch.randn(shape, generator=gen) * STD["vo"]
        elif leaf in ("gate_proj", "up_proj"):
            t = torch.randn(shape, generator=gen) * STD["gate_up"]
        elif leaf == "down_proj":
            t = torch.randn(shape, generator=gen) * STD["down"]
        else:
            raise AssertionError(f"no initialisation rule for {name}")
        params[name] = t.to(torch.float32).contiguous()
    return params


def random_examples(config: dict, gen: torch.Generator) -> list:
    V = config["vocab_size"]
    examples = []
    for i, (n, prompt) in enumerate(zip(LENGTHS, PROMPT)):
        ids = torch.randint(0, V, (n,), generator=gen).tolist()
        if i in STARTS_WITH_BOS:
            ids[0] = config["bos_token_id"]
        if i in ENDS_WITH_EOS:
            ids[-1] = config["eos_token_id"]
        labels = [ref.IGNORE_INDEX if j < prompt else t for j, t in enumerate(ids)]
        if i == LAST_IGNORED:
            labels[-1] = ref.IGNORE_INDEX
        examples.append({"input_ids": ids, "labels": labels})
    return examples


def leaf_copy(params, dtype=torch.float32):
    return OrderedDict((k, v.detach().to(dtype).clone().requires_grad_(True))
                       for k, v in params.items())


# ----------------------------------------------------------------------------------------------
# AdamW (as make_fixtures.adamw_run, for the Llama reference)


def adamw_run(config, params, examples, dtype=torch.float32):
    """5 AdamW steps over batches of 2 in file order (wrapping); returns (record, final params).

    One parameter group: every parameter (norm weights, biases, embeddings included) decays.
    """
    p = leaf_copy(params, dtype)
    opt = torch.optim.AdamW(list(p.values()), weight_decay=WEIGHT_DECAY, **ADAMW)
    step_losses = []
    for step in range(STEPS):
        idx = [(step * BATCH_SIZE + k) % len(examples) for k in range(BATCH_SIZE)]
        ids, lab = common.pad_batch([examples[i] for i in idx], PAD_ID)
        opt.zero_grad(set_to_none=True)
        loss = ref.batch_mean_loss(p, config, ids, lab)
        loss.backward()
        opt.step()
        step_losses.append(float(loss.item()))
    final = OrderedDict((k, v.detach().clone()) for k, v in p.items())
    record = OrderedDict(
        lr=ADAMW["lr"], betas=list(ADAMW["betas"]), eps=ADAMW["eps"],
        weight_decay=WEIGHT_DECAY, batch_size=BATCH_SIZE, steps=STEPS,
        pad_id=PAD_ID, step_losses=step_losses,
        final_losses=ref.example_losses(final, config, examples),
    )
    return record, final


# ----------------------------------------------------------------------------------------------
# Checks: a second, independent formulation of the forward pass


def alt_inv_freq(config: dict) -> torch.Tensor:
    """(head_dim/2,) float64 RoPE inverse frequencies computed element by element, with the
    llama3 bands as explicit branches. The exponent 2j/hd is rounded to float32 first, as
    transformers computes it in float32 (with hd = 6 or 12 that alone moves inv_freq by a few
    float32 ulps away from the exact 1/theta^(2j/hd))."""
    hd = ref.head_dim(config)
    theta = ref.rope_theta(config)
    out = []
    rt, rs = ref.rope_scaling(config)
    for j in range(hd // 2):
        f = 1.0 / theta ** float(np.float32(2 * j) / np.float32(hd))
        if rt == "llama3":
            wavelen = 2 * math.pi / f
            old = rs["original_max_position_embeddings"]
            lo, hi, factor = rs["low_freq_factor"], rs["high_freq_factor"], rs["factor"]
            if wavelen < old / hi:
                pass                                     # high frequency: unchanged
            elif wavelen > old / lo:
                f = f / factor                           # low frequency: divided
            else:
                s = (old / wavelen - lo) / (hi - lo)     # in between: smoothed
                f = (1 - s) * f / factor + s * f
        out.append(f)
    return torch.tensor(out, dtype=torch.float64)


def llama3_bands(config: dict) -> list:
    """'unchanged' / 'smoothed' / 'divided' for every frequency j < head_dim/2."""
    hd, theta = ref.head_dim(config), ref.rope_theta(config)
    _, rs = ref.rope_scaling(config)
    old = rs["original_max_position_embeddings"]
    bands = []
    for j in range(hd // 2):
        wavelen = 2 * math.pi * theta ** (2 * j / hd)
        if wavelen < old / rs["high_freq_factor"]:
            bands.append("unchanged")
        elif wavelen > old / rs["low_freq_factor"]:
            bands.append("divided")
        else:
            bands.append("smoothed")
    return bands


def alt_rms(x, w, eps):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) / x.shape[-1] + eps) * w


def alt_rope(x, cos, sin):
    """x (..., T, hd): multiply the complex numbers x[j] + i x[j + hd/2] by cos + i sin (T, hd/2)."""
    half = x.shape[-1] // 2
    z = torch.complex(x[..., :half].contiguous(), x[..., half:].contiguous())
    r = z * torch.complex(cos, sin)
    return torch.cat([r.real, r.imag], dim=-1)


def alt_forward(params, config, ids, inv_freq):
    """Logits (B, T, V): the same model as ref.forward, written differently. inv_freq: the
    (hd/2,) float32 RoPE inverse frequencies (checked separately against alt_inv_freq)."""
    B, T = ids.shape
    H, KV, hd = ref.num_heads(config), ref.num_kv_heads(config), ref.head_dim(config)
    eps = ref.rms_norm_eps(config)
    dt = params["model.embed_tokens.weight"].dtype
    emb = params["model.embed_tokens.weight"]
    x = F.embedding(ids, emb)
    angle = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)  # (T, hd/2) float32
    cos, sin = angle.cos().to(dt), angle.sin().to(dt)                # float32 values, as HF
    mask = torch.full((T, T), float("-inf"), dtype=dt).triu(1)       # 0 on/below the diagonal
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = alt_rms(x, params[p + "input_layernorm.weight"], eps)
        out = torch.zeros_like(x)
        for h in range(H):
            g = h * KV // H                                            # its key/value head
            rq, rk = slice(h * hd, (h + 1) * hd), slice(g * hd, (g + 1) * hd)
            def proj(name, rows):
                b = params.get(p + f"self_attn.{name}.bias")
                return F.linear(a, params[p + f"self_attn.{name}.weight"][rows],
                                None if b is None else b[rows])
            q, k, v = proj("q_proj", rq), proj("k_proj", rk), proj("v_proj", rk)  # (B, T, hd)
            if config["model_type"] == "qwen3":
                q = alt_rms(q, params[p + "self_attn.q_norm.weight"], eps)
                k = alt_rms(k, params[p + "self_attn.k_norm.weight"], eps)
            q, k = alt_rope(q, cos, sin), alt_rope(k, cos, sin)
            scores = torch.einsum("btd,bsd->bts", q, k) / math.sqrt(hd) + mask
            y = torch.einsum("bts,bsd->btd", F.softmax(scores, dim=-1), v)
            out = out + F.linear(y, params[p + "self_attn.o_proj.weight"][:, rq])
        x = x + out
        m = alt_rms(x, params[p + "post_attention_layernorm.weight"], eps)
        hmid = F.silu(F.linear(m, params[p + "mlp.gate_proj.weight"])) * \
            F.linear(m, params[p + "mlp.up_proj.weight"])
        x = x + F.linear(hmid, params[p + "mlp.down_proj.weight"])
    x = alt_rms(x, params["model.norm.weight"], eps)
    head = emb if config.get("tie_word_embeddings") else params["lm_head.weight"]
    return F.linear(x, head)


def alt_token_losses(params, config, ids, lab, inv_freq):
    logits = alt_forward(params, config, ids, inv_freq)
    B, T, V = logits.shape
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, V), lab[:, 1:].reshape(-1),
                          ignore_index=ref.IGNORE_INDEX, reduction="none").view(B, T - 1)
    return logits, nll, F.cross_entropy(logits[:, :-1].reshape(-1, V), lab[:, 1:].reshape(-1),
                                        ignore_index=ref.IGNORE_INDEX)


def check_case(name, config, params, examples, fd_entries=6):
    """Reference vs second formulation, llama3 inverse frequencies, float64 gradients vs
    central finite differences.

    RoPE inverse frequencies: the reference's float32 values within 1 float32 ulp of the float64
    formula. Forward (given those float32 inverse frequencies): float64 logits, per-token losses
    and batch loss within 1e-10; float32 within 1e-5 (two summation orders; observed <= 5e-6 on
    logits of magnitude ~5).
    """
    report = {}
    inv_ref = ref.rope_inv_freq(config)
    inv_alt = alt_inv_freq(config)
    ulp = torch.from_numpy(np.spacing(inv_ref.numpy())).double()
    worst_ulp = float(((inv_ref.double() - inv_alt).abs() / ulp).max())
    assert worst_ulp <= 1.0, (name, "inv_freq", worst_ulp)
    report["inv_freq: max |ref - float64 formula| in float32 ulps"] = worst_ulp
    if ref.rope_scaling(config)[0] == "llama3":
        bands = llama3_bands(config)
        assert {"unchanged", "smoothed", "divided"} <= set(bands), (name, bands)
        report["llama3_bands"] = bands
    ids, lab = common.pad_batch(examples, PAD_ID)
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-10)):
        p = OrderedDict((k, v.to(dtype)) for k, v in params.items())
        with torch.no_grad():
            logits_ref = ref.forward(p, config, ids)
            nll_ref, mask = common.shifted_nll(logits_ref, lab)
            loss_ref = common.mean_over_scored(nll_ref, mask)
            logits_alt, nll_alt, loss_alt = alt_token_losses(p, config, ids, lab, inv_ref)
        d_logits = float((logits_ref - logits_alt).abs().max())
        d_nll = float((nll_ref[:, 1:] * mask[:, 1:] - nll_alt).abs().max())
        d_loss = abs(float(loss_ref) - float(loss_alt))
        assert max(d_logits, d_nll, d_loss) < tol, (name, dtype, d_logits, d_nll, d_loss)
        report[f"max|ref-alt| {str(dtype)[6:]}"] = max(d_logits, d_nll, d_loss)
    # each example alone == its row of the padded batch (right padding changes nothing)
    with torch.no_grad():
        batch = common.scored_or_nan(*common.shifted_nll(ref.forward(params, config, ids), lab))
    for b, e in enumerate(examples):
        alone = ref.example_losses(params, config, [e])[0]
        row = batch[b, :len(alone)].tolist()
        for u, v in zip(alone, row):
            assert (u is None) == math.isnan(v), (name, b)
            assert u is None or abs(u - v) < 1e-5, (name, b, u, v)
    # gradients: float64 autograd vs central differences; float32 autograd vs float64
    p64 = leaf_copy(params, torch.float64)
    loss = ref.batch_mean_loss(p64, config, ids, lab)
    loss.backward()
    g64 = OrderedDict((k, v.grad.detach().clone()) for k, v in p64.items())
    p32 = leaf_copy(params)
    ref.batch_mean_loss(p32, config, ids, lab).backward()
    worst32 = max(float((p32[k].grad.double() - g64[k]).abs().max()) /
                  max(float(g64[k].abs().max()), 1e-12) for k in g64)
    assert worst32 < 1e-4, (name, "float32 grads", worst32)
    report["float32 grads vs float64 (rel. to max|g|)"] = worst32
    gen = torch.Generator().manual_seed(7)
    names = list(g64)
    picks = [n for n in names if n.endswith(("q_norm.weight", ".bias", "k_proj.weight",
                                             "model.norm.weight", "lm_head.weight"))][:3]
    picks += [names[int(i)] for i in torch.randint(0, len(names), (fd_entries,), generator=gen)]
    picks.append("model.embed_tokens.weight")
    worst = 0.0
    base = OrderedDict((k, v.detach().to(torch.float64)) for k, v in params.items())
    for n in picks:
        t = base[n]
        if n == "model.embed_tokens.weight":   # a token that occurs in the data
            flat = examples[1]["input_ids"][3] * t.shape[1] + 1
        else:
            flat = int(torch.randint(0, t.numel(), (1,), generator=gen))
        h = 1e-6
        vals = []
        for sign in (1, -1):
            q = OrderedDict(base)
            tt = t.clone().view(-1)
            tt[flat] += sign * h
            q[n] = tt.view(t.shape)
            with torch.no_grad():
                vals.append(float(ref.batch_mean_loss(q, config, ids, lab)))
        fd = (vals[0] - vals[1]) / (2 * h)
        an = float(g64[n].view(-1)[flat])
        err = abs(fd - an) / max(abs(an), 1e-3)
        assert err < 1e-6, (name, n, flat, fd, an)
        worst = max(worst, err)
    report[f"finite differences ({len(picks)} entries), worst rel. error"] = worst
    # AdamW normalises each gradient entry: one near zero turns float rounding into an update of
    # up to ~lr. The float32 run (the fixture) must agree with a float64 run.
    rec32, final32 = adamw_run(config, params, examples)
    rec64, final64 = adamw_run(config, params, examples, torch.float64)
    d_final = max(float((final32[k].double() - final64[k]).abs().max()) for k in final32)
    d_steps = max(abs(a - b) for a, b in zip(rec32["step_losses"], rec64["step_losses"]))
    assert d_final < 1e-5 and d_steps < 1e-5, (name, "adamw float32 vs float64", d_final, d_steps)
    report["adamw_final float32 vs float64 run, max abs"] = d_final
    return report


# ----------------------------------------------------------------------------------------------
# Writing


def tree_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def write_case(name, config, dtype, shards, params, examples):
    out = os.path.join(OUT, name)
    os.makedirs(out)
    ref.save_model_dir(os.path.join(out, "model"), config, params, dtype=dtype,
                       num_shards=shards)
    with open(os.path.join(out, "data.jsonl"), "w") as f:
        for e in examples:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")

    expected = OrderedDict()
    expected["model"] = ref.example_losses(params, config, examples)
    ids, lab = common.pad_batch(examples, PAD_ID)
    p = leaf_copy(params)
    loss = ref.batch_mean_loss(p, config, ids, lab)
    expected["batch_mean_loss"] = float(loss.item())
    expected["batch_target_tokens"] = int((lab[:, 1:] != ref.IGNORE_INDEX).sum())
    write_json(os.path.join(out, "expected_losses.json"), expected)

    loss.backward()
    grads = OrderedDict((k, v.grad.detach().clone()) for k, v in p.items())
    common.write_safetensors(os.path.join(out, "expected_grads.safetensors"), grads, "F32")

    rec, final = adamw_run(config, params, examples)
    write_json(os.path.join(out, "adamw_trajectory.json"), rec)
    final_config = dict(config, torch_dtype="float32")
    ref.save_model_dir(os.path.join(out, "adamw_final"), final_config, final, dtype="F32")
    return expected, rec


def reload_check(name, config, params, examples, expected):
    """The directories as written load back to the same weights and the same losses."""
    out = os.path.join(OUT, name)
    cfg, loaded, _ = ref.load_model_dir(os.path.join(out, "model"))
    assert cfg == json.loads(json.dumps(config)), name
    for k, v in params.items():
        assert torch.equal(loaded[k], v), (name, k)
    assert ref.example_losses(loaded, cfg, examples) == expected["model"], name
    with open(os.path.join(out, "data.jsonl")) as f:
        assert [json.loads(line) for line in f] == examples, name


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # reproducible reductions
    built = OrderedDict()
    for name, (kwargs, dtype, shards, seed) in CASES.items():
        config = ref.make_config(**kwargs)
        gen = torch.Generator().manual_seed(seed)
        params = random_params(config, gen)
        # the weights as stored: every loss, gradient and AdamW run starts from these
        params = OrderedDict((n, common.round_to_dtype(t, dtype)) for n, t in params.items())
        examples = random_examples(config, gen)
        built[name] = (config, dtype, shards, params, examples)

    print("checks (reference vs second formulation, finite differences):")
    for name, (config, _, _, params, examples) in built.items():
        for key, value in check_case(name, config, params, examples).items():
            print(f"  {name}: {key}: {value}")

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for name, (config, dtype, shards, params, examples) in built.items():
        expected, rec = write_case(name, config, dtype, shards, params, examples)
        reload_check(name, config, params, examples, expected)
        flat = [v for row in expected["model"] for v in row if v is not None]
        n = sum(v.numel() for v in params.values())
        print(f"{name}: {tree_bytes(os.path.join(OUT, name))} bytes, {n} params, {dtype} x "
              f"{shards} file(s); losses {min(flat):.3f}..{max(flat):.3f} "
              f"(log V = {math.log(config['vocab_size']):.3f}); batch_mean_loss "
              f"{expected['batch_mean_loss']!r}; adamw step losses "
              f"{[round(x, 5) for x in rec['step_losses']]}")
    print(f"wrote {OUT} ({tree_bytes(OUT)} bytes)")


if __name__ == "__main__":
    main()
