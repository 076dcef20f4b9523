"""Independent PyTorch reference implementation of GPT-2 for tokclean's tests.

Everything here is written with plain torch ops so that it can be read side by side with the
C++ implementation:

* Hugging Face GPT-2 model directories (``config.json`` + ``model.safetensors``), with the
  safetensors format read and written by hand (no ``safetensors`` / ``transformers`` package).
* The GPT-2 forward pass (pre-LayerNorm blocks, causal multi-head attention, tanh GELU, tied
  LM head), in the dtype of the parameters (float32 normally; float64 for finite differences).
* Per-token cross-entropy losses with the Hugging Face label shift, and the batch mean loss that
  training minimises.

Conventions
-----------
* Parameters are a ``dict`` name -> tensor using the GPT-2 key names *without* the
  ``transformer.`` prefix. Linear weights are stored [in, out] (Hugging Face ``Conv1D``),
  so a linear layer is ``y = x @ W + b``.
* ``config`` is a plain ``dict`` with at least n_layer, n_head, n_embd, vocab_size, n_positions
  and layer_norm_epsilon.
* Batches are right-padded; the label -100 marks a position that is not a target.
  Entry [b, j] of the per-token losses is the loss of predicting ``labels[b, j]`` from the
  logits at position j-1; it is NaN where j == 0 or labels[b, j] == -100.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
PREFIX = "transformer."
# Keys that Hugging Face checkpoints may carry but that are not parameters of the model.
# (Matched on whole dotted components: "h.0.attn.bias" is ignored, "h.0.attn.c_attn.bias" is not.)
_IGNORED_SUFFIXES = (("attn", "bias"), ("attn", "masked_bias"))
_IGNORED_KEYS = ("lm_head.weight",)  # the head is tied to wte

Params = Dict[str, torch.Tensor]


# ----------------------------------------------------------------------------------------------
# Parameter names and shapes


def param_shapes(config: dict) -> "OrderedDict[str, Tuple[int, ...]]":
    """All parameter names (unprefixed) with their shapes, in canonical (file) order."""
    V, T, C, L = (config["vocab_size"], config["n_positions"], config["n_embd"],
                  config["n_layer"])
    shapes: "OrderedDict[str, Tuple[int, ...]]" = OrderedDict()
    shapes["wte.weight"] = (V, C)
    shapes["wpe.weight"] = (T, C)
    for i in range(L):
        h = f"h.{i}."
        shapes[h + "ln_1.weight"] = (C,)
        shapes[h + "ln_1.bias"] = (C,)
        shapes[h + "attn.c_attn.weight"] = (C, 3 * C)  # [in, out]
        shapes[h + "attn.c_attn.bias"] = (3 * C,)
        shapes[h + "attn.c_proj.weight"] = (C, C)
        shapes[h + "attn.c_proj.bias"] = (C,)
        shapes[h + "ln_2.weight"] = (C,)
        shapes[h + "ln_2.bias"] = (C,)
        shapes[h + "mlp.c_fc.weight"] = (C, 4 * C)
        shapes[h + "mlp.c_fc.bias"] = (4 * C,)
        shapes[h + "mlp.c_proj.weight"] = (4 * C, C)
        shapes[h + "mlp.c_proj.bias"] = (C,)
    shapes["ln_f.weight"] = (C,)
    shapes["ln_f.bias"] = (C,)
    return shapes


def init_params(config: dict, std: float = 0.02, seed: int = 0) -> Params:
    """GPT-2 style initialisation: matrices N(0, std^2), biases 0, LayerNorm weights 1."""
    gen = torch.Generator().manual_seed(seed)
    params: Params = OrderedDict()
    for name, shape in param_shapes(config).items():
        if len(shape) == 2:
            params[name] = torch.randn(shape, generator=gen) * std
        elif name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            params[name] = torch.ones(shape)
        else:
            params[name] = torch.zeros(shape)
    return params


# ----------------------------------------------------------------------------------------------
# bfloat16 / float16 conversion (explicit, so the rounding rule is visible)


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest, ties to even."""
    bits = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    is_nan = np.isnan(np.asarray(x, dtype=np.float32))
    rounding_bias = ((bits >> 16) & 1) + 0x7FFF
    out = ((bits + rounding_bias) >> 16).astype(np.uint16)
    out[is_nan] = 0x7FC0  # canonical quiet NaN
    return out


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32 (exact: bf16 is the top half of f32)."""
    return (np.asarray(bits, dtype=np.uint16).astype("<u4") << 16).view("<f4")


def round_to_dtype(t: torch.Tensor, dtype: str) -> torch.Tensor:
    """Round a float32 tensor through the storage dtype and back to float32."""
    a = t.detach().cpu().to(torch.float32).numpy()
    if dtype == "F32":
        r = a.copy()
    elif dtype == "F16":
        r = a.astype("<f2").astype(np.float32)
    elif dtype == "BF16":
        r = bf16_bits_to_f32(f32_to_bf16_bits(a))
    else:
        raise ValueError(f"unsupported dtype {dtype!r}")
    return torch.from_numpy(np.ascontiguousarray(r, dtype=np.float32))


# ----------------------------------------------------------------------------------------------
# safetensors, by hand


def _encode(a: np.ndarray, dtype: str) -> bytes:
    if dtype == "F32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(a.astype("<f2")).tobytes()  # numpy rounds to nearest even
    if dtype == "BF16":
        return np.ascontiguousarray(f32_to_bf16_bits(a), dtype="<u2").tobytes()
    raise ValueError(f"unsupported dtype {dtype!r}")


def write_safetensors(path: str, tensors: "Dict[str, torch.Tensor]", dtype: str = "F32") -> None:
    """Write tensors (float32 in memory) to a safetensors file, every tensor stored as `dtype`.

    Layout: u64 little-endian header length N, N bytes of JSON header (padded with spaces to a
    multiple of 8), then the tensors' raw little-endian bytes packed in header order.
    """
    header: "OrderedDict[str, object]" = OrderedDict()
    header["__metadata__"] = {"format": "pt"}
    blobs: List[bytes] = []
    offset = 0
    for name, t in tensors.items():
        a = t.detach().cpu().to(torch.float32).numpy()
        blob = _encode(a, dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path: str) -> "Tuple[OrderedDict[str, torch.Tensor], Dict[str, str]]":
    """Read a safetensors file; returns (name -> float32 tensor, name -> stored dtype)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    data = memoryview(raw)[8 + n:]
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    dtypes: Dict[str, str] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        buf = data[begin:end]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(buf, dtype="<u2"))
        else:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dt!r}")
        count = int(np.prod(shape)) if shape else 1
        if a.size != count:
            raise ValueError(f"{path}: tensor {name!r}: {a.size} values for shape {list(shape)}")
        out[name] = torch.from_numpy(np.array(a, dtype=np.float32).reshape(shape))
        dtypes[name] = dt
    return out, dtypes


# ----------------------------------------------------------------------------------------------
# Model directories (Hugging Face layout)


def make_config(n_layer: int, n_head: int, n_embd: int, vocab_size: int, n_positions: int,
                layer_norm_epsilon: float = 1e-5, bos_token_id: Optional[int] = None,
                eos_token_id: Optional[int] = None, **extra) -> dict:
    """A complete GPT-2 config.json dictionary (loads in Hugging Face transformers)."""
    bos = vocab_size - 1 if bos_token_id is None else bos_token_id
    eos = vocab_size - 1 if eos_token_id is None else eos_token_id
    cfg = OrderedDict(
        model_type="gpt2",
        architectures=["GPT2LMHeadModel"],
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_ctx=n_positions,
        layer_norm_epsilon=layer_norm_epsilon,
        activation_function="gelu_new",
        bos_token_id=bos,
        eos_token_id=eos,
        tie_word_embeddings=True,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    cfg.update(extra)
    return dict(cfg)


def save_model_dir(path: str, config: dict, params: Params, dtype: str = "F32",
                   prefix: str = "") -> None:
    """Write `config.json` and `model.safetensors` (keys in canonical order, `prefix` added)."""
    os.makedirs(path, exist_ok=True)
    cfg = dict(config)
    cfg.setdefault("n_ctx", cfg["n_positions"])
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    tensors: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for name, shape in param_shapes(cfg).items():
        t = params[name]
        if tuple(t.shape) != shape:
            raise ValueError(f"parameter {name}: shape {list(t.shape)}, expected {list(shape)}")
        tensors[prefix + name] = t
    write_safetensors(os.path.join(path, "model.safetensors"), tensors, dtype)


def load_model_dir(path: str) -> Tuple[dict, Params]:
    """Load a GPT-2 directory; returns (config, params as float32, unprefixed, canonical order).

    Accepts F32/F16/BF16 tensors, keys with or without the `transformer.` prefix, and ignores
    the `attn.bias` / `attn.masked_bias` buffers and a (tied) `lm_head.weight`.
    """
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    if config.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"{path}/config.json: model_type {config.get('model_type')!r} is not gpt2")
    config.setdefault("n_positions", config.get("n_ctx"))
    config.setdefault("layer_norm_epsilon", 1e-5)
    raw, _ = read_safetensors(os.path.join(path, "model.safetensors"))
    found: Params = {}
    for key, t in raw.items():
        name = key[len(PREFIX):] if key.startswith(PREFIX) else key
        if tuple(name.split(".")[-2:]) in _IGNORED_SUFFIXES or name in _IGNORED_KEYS:
            continue
        found[name] = t
    params: Params = OrderedDict()
    for name, shape in param_shapes(config).items():
        if name not in found:
            raise ValueError(f"{path}/model.safetensors: missing tensor {name!r}")
        if tuple(found[name].shape) != shape:
            raise ValueError(f"{path}/model.safetensors: {name!r} has shape "
                             f"{list(found[name].shape)}, expected {list(shape)}")
        params[name] = found.pop(name)
    if found:
        raise ValueError(f"{path}/model.safetensors: unexpected tensors {sorted(found)}")
    return config, params


# ----------------------------------------------------------------------------------------------
# Forward pass


def layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float,
               fused: bool = False) -> torch.Tensor:
    """LayerNorm over the last dim with the biased variance: (x - mean) / sqrt(var + eps) * w + b."""
    if fused:
        return F.layer_norm(x, (x.shape[-1],), w, b, eps)
    mean = x.mean(dim=-1, keepdim=True)                       # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)        # (..., 1)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu_tanh(x: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if fused:
        return F.gelu(x, approximate="tanh")
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(x: torch.Tensor, params: Params, layer: int, n_head: int) -> torch.Tensor:
    """Causal multi-head self-attention including c_attn and c_proj. x: (B, T, C)."""
    B, T, C = x.shape
    hs = C // n_head
    p = f"h.{layer}.attn."
    qkv = x @ params[p + "c_attn.weight"] + params[p + "c_attn.bias"]   # (B, T, 3C)
    q, k, v = qkv.split(C, dim=-1)                                       # 3 x (B, T, C)
    # head h takes the consecutive columns [h*hs, (h+1)*hs) of q, k and v
    q = q.view(B, T, n_head, hs).transpose(1, 2)                         # (B, H, T, hs)
    k = k.view(B, T, n_head, hs).transpose(1, 2)                         # (B, H, T, hs)
    v = v.view(B, T, n_head, hs).transpose(1, 2)                         # (B, H, T, hs)
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))              # (B, H, T, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # (T, T) key <= query
    att = att.masked_fill(~causal, float("-inf"))
    att = torch.softmax(att, dim=-1)                                     # (B, H, T, T)
    y = att @ v                                                          # (B, H, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C)                               # (B, T, C)
    return y @ params[p + "c_proj.weight"] + params[p + "c_proj.bias"]   # (B, T, C)


def mlp(x: torch.Tensor, params: Params, layer: int, fused: bool = False) -> torch.Tensor:
    """c_fc -> GELU(tanh) -> c_proj. x: (B, T, C)."""
    p = f"h.{layer}.mlp."
    h = x @ params[p + "c_fc.weight"] + params[p + "c_fc.bias"]          # (B, T, 4C)
    h = gelu_tanh(h, fused)                                              # (B, T, 4C)
    return h @ params[p + "c_proj.weight"] + params[p + "c_proj.bias"]   # (B, T, C)


def forward(params: Params, config: dict, input_ids: torch.Tensor,
            fused: bool = False) -> torch.Tensor:
    """GPT-2 forward. input_ids: (B, T) int64; returns logits (B, T, V) in the params' dtype.

    `fused=True` swaps the hand-written LayerNorm/GELU for torch's fused kernels (same math);
    the benchmark uses it so the PyTorch baseline is not handicapped.
    """
    B, T = input_ids.shape
    if T > config["n_positions"]:
        raise ValueError(f"sequence length {T} exceeds n_positions {config['n_positions']}")
    eps = config["layer_norm_epsilon"]
    pos = torch.arange(T, device=input_ids.device)                       # (T,)
    x = params["wte.weight"][input_ids] + params["wpe.weight"][pos]      # (B, T, C)
    for i in range(config["n_layer"]):
        h = f"h.{i}."
        a = layer_norm(x, params[h + "ln_1.weight"], params[h + "ln_1.bias"], eps, fused)
        x = x + attention(a, params, i, config["n_head"])                # (B, T, C)
        m = layer_norm(x, params[h + "ln_2.weight"], params[h + "ln_2.bias"], eps, fused)
        x = x + mlp(m, params, i, fused)                                 # (B, T, C)
    x = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"], eps, fused)  # (B, T, C)
    return x @ params["wte.weight"].t()                                  # (B, T, V) tied head


# ----------------------------------------------------------------------------------------------
# Losses


def shifted_nll(logits: torch.Tensor, labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-token negative log-likelihoods of any causal LM's logits, with the HF label shift.

    logits: (B, T, V), labels: (B, T). Returns (nll, mask), both (B, T):
    nll[b, j] = -log softmax(logits[b, j-1])[labels[b, j]] where mask[b, j] is true
    (j >= 1 and labels[b, j] != -100), and 0 elsewhere.
    """
    B, T, V = logits.shape
    target = labels[:, 1:]                                               # (B, T-1)
    valid = target != IGNORE_INDEX                                       # (B, T-1)
    if bool(((target[valid] < 0) | (target[valid] >= V)).any()):
        raise ValueError("label out of range [0, vocab_size) and not -100")
    safe = torch.where(valid, target, torch.zeros_like(target))          # (B, T-1)
    logp = torch.log_softmax(logits[:, :-1, :], dim=-1)                  # (B, T-1, V)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)               # (B, T-1)
    nll = nll * valid.to(nll.dtype)                                      # zero where ignored
    first = torch.zeros(B, 1, dtype=nll.dtype, device=nll.device)        # position 0: no loss
    mask = torch.cat([torch.zeros(B, 1, dtype=torch.bool, device=valid.device), valid], dim=1)
    return torch.cat([first, nll], dim=1), mask                          # (B, T), (B, T)


def scored_or_nan(nll: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The per-token losses of `shifted_nll` with NaN where not scored."""
    return torch.where(mask, nll, torch.full_like(nll, float("nan")))


def mean_over_scored(nll: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Training loss: mean of the per-token losses over every scored entry of the batch."""
    count = int(mask.sum())
    if count == 0:
        raise ValueError("batch has no target tokens")
    return nll.sum() / count


def token_nll(params: Params, config: dict, input_ids: torch.Tensor, labels: torch.Tensor,
              fused: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-token negative log-likelihoods with the HF label shift (see `shifted_nll`)."""
    return shifted_nll(forward(params, config, input_ids, fused), labels)


def per_token_losses(params: Params, config: dict, input_ids: torch.Tensor,
                     labels: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """(B, T) cross-entropies of predicting labels[b, j] from position j-1; NaN if not scored."""
    return scored_or_nan(*token_nll(params, config, input_ids, labels, fused))


def batch_mean_loss(params: Params, config: dict, input_ids: torch.Tensor,
                    labels: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """Training loss: mean of the per-token losses over every scored entry of the batch."""
    return mean_over_scored(*token_nll(params, config, input_ids, labels, fused))


# ----------------------------------------------------------------------------------------------
# Batching helpers


def pad_batch(examples: Sequence[dict], pad_id: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Right-pad {"input_ids", "labels"} examples to one (B, Tmax) batch: pad id, label -100."""
    T = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)       # (B, T)
    lab = torch.full((len(examples), T), IGNORE_INDEX, dtype=torch.long)  # (B, T)
    for b, e in enumerate(examples):
        n = len(e["input_ids"])
        if len(e["labels"]) != n:
            raise ValueError(f"example {b}: {n} input_ids but {len(e['labels'])} labels")
        ids[b, :n] = torch.tensor(e["input_ids"], dtype=torch.long)
        lab[b, :n] = torch.tensor(e["labels"], dtype=torch.long)
    return ids, lab


def losses_to_json(row: Iterable[float]) -> List[Optional[float]]:
    """Python floats (full precision via repr in json) with NaN -> None."""
    return [None if math.isnan(v) else float(v) for v in row]


def example_losses(params: Params, config: dict, examples: Sequence[dict]) -> List[List[Optional[float]]]:
    """Per-token losses of each example scored alone (its own length), NaN -> None."""
    out = []
    with torch.no_grad():
        for e in examples:
            ids, lab = pad_batch([e])
            out.append(losses_to_json(per_token_losses(params, config, ids, lab)[0].tolist()))
    return out
