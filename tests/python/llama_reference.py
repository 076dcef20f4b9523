"""Independent PyTorch reference implementation of the Llama family for tokclean's tests.

Covers the Hugging Face model types ``llama``, ``mistral``, ``qwen2`` and ``qwen3`` (the
``*ForCausalLM`` models), written with plain torch ops so that it can be read side by side with
the C++ implementation:

* Model directories as Hugging Face writes them: ``config.json`` and either ``model.safetensors``
  or shards ``model-0000k-of-0000n.safetensors`` + ``model.safetensors.index.json``. The
  safetensors format, BF16/F16 rounding, the label-shifted loss and batching come from
  ``gpt2_reference`` (shared, not repeated).
* The forward pass: token embedding (no position embedding, no scaling), pre-RMSNorm decoder
  layers (RoPE attention with grouped-query heads, SwiGLU MLP), final RMSNorm, LM head (its own
  matrix, or the embedding when ``tie_word_embeddings``), in the dtype of the parameters
  (float32 normally; float64 for finite differences).

Semantics (those of transformers' modeling_{llama,mistral,qwen2,qwen3}.py, configuration_*.py
and modeling_rope_utils.py; tests/python/README.md has the same list in prose):

* RMSNorm(x) = w * (x * rsqrt(mean(x^2) + eps)), over the last dim, computed in float32 at least.
* Attention: q = x Wq^T (+bq), k = x Wk^T (+bk), v = x Wv^T (+bv), split into heads of
  ``head_dim`` columns (head h: columns [h*hd, (h+1)*hd)); qwen3 RMS-normalises each q and k head
  vector (weights q_norm / k_norm, size hd) *before* RoPE; RoPE on q and k; query head h uses
  key/value head h // (num_heads / num_kv_heads) (consecutive query heads share a KV head);
  scores * head_dim**-0.5, causal mask, softmax, weighted sum of v, heads concatenated, o_proj
  (never a bias).
* Config defaults are those of the config class of each model type when a field is absent
  (see the accessors below): e.g. qwen3's head_dim 128, mistral's num_key_value_heads 8 and
  sliding_window 4096, qwen2/qwen3's num_key_value_heads 32; rope_theta 10000; rms_norm_eps 1e-6;
  tie_word_embeddings false. transformers 5's ``rope_parameters`` is read as well.
* RoPE, "rotate_half" layout: dims j and j + hd/2 form a pair rotated by angle pos * inv_freq[j],
  j < hd/2: out[j] = x[j] cos - x[j+hd/2] sin, out[j+hd/2] = x[j+hd/2] cos + x[j] sin.
  inv_freq[j] = 1 / rope_theta^(2j/hd), all in float32 (the exponent 2j/hd too); optionally
  rescaled by the "llama3" rule (`rope_inv_freq`). The angles pos * inv_freq and their cos/sin
  are float32 as well, whatever the model's dtype. Positions are 0..T-1 for every sequence of a
  right-padded batch.
* Sliding windows: mistral's ``sliding_window`` (null: none), qwen2/qwen3's only with
  ``use_sliding_window`` true; not implemented (`forward` refuses a sequence longer than a window
  that applies).
* MLP: down(silu(gate(x)) * up(x)), silu(g) = g * sigmoid(g); no biases anywhere but qwen2's
  q/k/v projections.

Conventions
-----------
* Parameters are a ``dict`` HF name -> tensor, e.g. ``model.layers.0.self_attn.q_proj.weight``.
  Linear weights have nn.Linear's layout [out, in]: ``y = x @ W.T + b``.
* ``config`` is the ``config.json`` dictionary.
* Batches are right-padded; the label -100 marks a position that is not a target. Entry [b, j]
  of the per-token losses is the loss of predicting ``labels[b, j]`` from the logits at position
  j-1; it is NaN where j == 0 or labels[b, j] == -100 (``gpt2_reference.shifted_nll``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_reference as common  # noqa: E402  (safetensors, dtype rounding, loss, batching)

IGNORE_INDEX = common.IGNORE_INDEX
MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                 "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
TORCH_DTYPE_NAMES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
# Buffers that old checkpoints carry and that are not parameters.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)

Params = Dict[str, torch.Tensor]


# ----------------------------------------------------------------------------------------------
# Config accessors (each default is the one of the transformers config class)


def model_type(config: dict) -> str:
    mt = config.get("model_type")
    if mt not in MODEL_TYPES:
        raise ValueError(f"model_type {mt!r} is not one of {MODEL_TYPES}")
    return mt


def num_heads(config: dict) -> int:
    return int(config["num_attention_heads"])


# Defaults of the config classes (transformers 4.5x) for fields a config.json may omit.
_DEFAULT_KV_HEADS = {"llama": None, "mistral": 8, "qwen2": 32, "qwen3": 32}  # None: = heads
_DEFAULT_HEAD_DIM = {"llama": None, "mistral": None, "qwen2": None, "qwen3": 128}  # None: C/H


def num_kv_heads(config: dict) -> int:
    """num_key_value_heads. null means num_attention_heads (plain multi-head); absent means the
    config class default: llama num_attention_heads, mistral 8, qwen2 / qwen3 32."""
    if "num_key_value_heads" in config:
        kv = config["num_key_value_heads"]
    else:
        kv = _DEFAULT_KV_HEADS[model_type(config)]
    return num_heads(config) if kv is None else int(kv)


def head_dim(config: dict) -> int:
    """head_dim when given (may differ from hidden/heads); null -> hidden_size // heads; absent
    -> the class default (qwen3: 128, the others hidden_size // heads). qwen2's config class has
    no head_dim, but its attention reads one from config.json when present (getattr)."""
    if "head_dim" in config:
        hd = config["head_dim"]
    else:
        hd = _DEFAULT_HEAD_DIM[model_type(config)]
    return int(hd) if hd else int(config["hidden_size"]) // num_heads(config)


def tied(config: dict) -> bool:
    """tie_word_embeddings; all four config classes default it to false."""
    return bool(config.get("tie_word_embeddings", False))


def has_qkv_bias(config: dict) -> bool:
    """qwen2 always has q/k/v biases (o_proj none); llama/mistral/qwen3 none (attention_bias)."""
    return model_type(config) == "qwen2"


def has_qk_norm(config: dict) -> bool:
    """qwen3 RMS-normalises each query/key head before RoPE."""
    return model_type(config) == "qwen3"


def rms_norm_eps(config: dict) -> float:
    return float(config.get("rms_norm_eps", 1e-6))


def sliding_window(config: dict, layer: int = 0) -> Optional[int]:
    """The attention window of decoder layer `layer`, or None (full causal attention).

    mistral: ``sliding_window`` for every layer; absent means MistralConfig's default 4096, null
    means none. qwen2 / qwen3: only with ``use_sliding_window`` (default false), and then only for
    the layers i >= ``max_window_layers`` (default 28) - unless ``layer_types`` names each layer.
    The window itself is not implemented here: `forward` refuses sequences longer than it.
    """
    mt = model_type(config)
    if mt == "mistral":
        w = config.get("sliding_window", 4096)
    elif mt in ("qwen2", "qwen3") and config.get("use_sliding_window", False):
        w = config.get("sliding_window", 4096)
        types = config.get("layer_types")
        if types is not None:
            if types[layer] != "sliding_attention":
                w = None
        elif layer < int(config.get("max_window_layers", 28)):
            w = None
    else:
        w = None
    return None if w is None else int(w)


def rope_theta(config: dict) -> float:
    """rope_theta (default 10000), or transformers 5's rope_parameters["rope_theta"]."""
    if config.get("rope_theta") is not None:
        return float(config["rope_theta"])
    rp = config.get("rope_parameters")
    if isinstance(rp, dict) and rp.get("rope_theta") is not None:
        return float(rp["rope_theta"])
    return 10000.0


def rope_scaling(config: dict) -> Tuple[str, dict]:
    """(rope_type, rope_scaling dict): "default" when rope_scaling is absent or null.

    The type is read from "rope_type", or from the older key "type" when that is absent. Without
    rope_scaling, transformers 5's rope_parameters (which holds rope_type and the scaling fields
    next to rope_theta) is used.
    """
    rs = config.get("rope_scaling")
    if rs is None:
        rs = config.get("rope_parameters")
        if not isinstance(rs, dict):
            return "default", {}
    rt = rs.get("rope_type", rs.get("type", "default"))
    return rt, rs


def check_config(config: dict) -> None:
    """Reject what this reference does not implement (rather than compute something else)."""
    mt = model_type(config)
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {config.get('hidden_act')!r} is not silu")
    # attention_bias exists in LlamaConfig and Qwen3Config (bias on q, k, v *and* o); mistral and
    # qwen2 ignore the field (mistral: no biases; qwen2: q/k/v biases always, o none).
    if mt in ("llama", "qwen3") and config.get("attention_bias", False):
        raise ValueError("attention_bias true is not supported")
    if mt == "llama" and config.get("mlp_bias", False):
        raise ValueError("mlp_bias true is not supported")
    if num_heads(config) % num_kv_heads(config) != 0:
        raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
    if head_dim(config) % 2 != 0:
        raise ValueError("head_dim must be even for RoPE")
    rt, _ = rope_scaling(config)
    if rt not in ("default", "llama3"):
        raise ValueError(f"rope_scaling type {rt!r} is not supported (default, llama3)")
    if float(config.get("partial_rotary_factor", 1.0)) != 1.0:
        raise ValueError("partial_rotary_factor != 1 is not supported")
    if mt not in MODEL_TYPES:  # pragma: no cover (model_type() raised already)
        raise AssertionError


# ----------------------------------------------------------------------------------------------
# Parameter names and shapes


def param_shapes(config: dict) -> "OrderedDict[str, Tuple[int, ...]]":
    """All parameter names (HF) with their shapes, in module order (the order of state_dict)."""
    check_config(config)
    V, C, I, L = (int(config["vocab_size"]), int(config["hidden_size"]),
                  int(config["intermediate_size"]), int(config["num_hidden_layers"]))
    H, KV, hd = num_heads(config), num_kv_heads(config), head_dim(config)
    shapes: "OrderedDict[str, Tuple[int, ...]]" = OrderedDict()
    shapes["model.embed_tokens.weight"] = (V, C)
    for i in range(L):
        a = f"model.layers.{i}.self_attn."
        for proj, rows in (("q_proj", H * hd), ("k_proj", KV * hd), ("v_proj", KV * hd)):
            shapes[a + proj + ".weight"] = (rows, C)              # [out, in]
            if has_qkv_bias(config):
                shapes[a + proj + ".bias"] = (rows,)
        shapes[a + "o_proj.weight"] = (C, H * hd)
        if has_qk_norm(config):
            shapes[a + "q_norm.weight"] = (hd,)
            shapes[a + "k_norm.weight"] = (hd,)
        m = f"model.layers.{i}.mlp."
        shapes[m + "gate_proj.weight"] = (I, C)
        shapes[m + "up_proj.weight"] = (I, C)
        shapes[m + "down_proj.weight"] = (C, I)
        shapes[f"model.layers.{i}.input_layernorm.weight"] = (C,)
        shapes[f"model.layers.{i}.post_attention_layernorm.weight"] = (C,)
    shapes["model.norm.weight"] = (C,)
    if not tied(config):
        shapes["lm_head.weight"] = (V, C)
    return shapes


def is_norm_weight(name: str) -> bool:
    return name.endswith(("layernorm.weight", "norm.weight"))


def init_params(config: dict, std: float = 0.02, seed: int = 0) -> Params:
    """HF-style initialisation: matrices N(0, std^2), biases 0, RMSNorm weights 1."""
    gen = torch.Generator().manual_seed(seed)
    params: Params = OrderedDict()
    for name, shape in param_shapes(config).items():
        if len(shape) == 2:
            params[name] = torch.randn(shape, generator=gen) * std
        elif is_norm_weight(name):
            params[name] = torch.ones(shape)
        else:
            params[name] = torch.zeros(shape)
    return params


# ----------------------------------------------------------------------------------------------
# Model directories (Hugging Face layout)


def make_config(model_type_: str, *, vocab_size: int, hidden_size: int, intermediate_size: int,
                num_hidden_layers: int, num_attention_heads: int, num_key_value_heads: int,
                max_position_embeddings: int, rope_theta, rms_norm_eps: float,
                tie_word_embeddings: bool, bos_token_id, eos_token_id,
                head_dim_: Optional[int] = None, rope_scaling_: Optional[dict] = None,
                sliding_window_: Optional[int] = None, torch_dtype: str = "float32",
                **extra) -> dict:
    """A config.json dictionary with the fields transformers (4.5x) writes for `model_type_`.

    llama: head_dim, attention_bias, mlp_bias, pretraining_tp, rope_scaling. mistral: head_dim,
    sliding_window, no rope_scaling field. qwen2: no head_dim, no attention_bias (the q/k/v biases
    are implied), use_sliding_window / sliding_window / max_window_layers, rope_scaling. qwen3:
    head_dim, attention_bias, the sliding-window fields, rope_scaling.
    """
    if model_type_ not in MODEL_TYPES:
        raise ValueError(f"model_type {model_type_!r}")
    hd = head_dim_ if head_dim_ is not None else hidden_size // num_attention_heads
    cfg = dict(
        architectures=[ARCHITECTURES[model_type_]],
        model_type=model_type_,
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        hidden_act="silu",
        max_position_embeddings=max_position_embeddings,
        initializer_range=0.02,
        rms_norm_eps=rms_norm_eps,
        use_cache=True,
        rope_theta=rope_theta,
        attention_dropout=0.0,
        tie_word_embeddings=tie_word_embeddings,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        torch_dtype=torch_dtype,
        transformers_version="4.51.3",
    )
    if model_type_ == "llama":
        cfg.update(head_dim=hd, attention_bias=False, mlp_bias=False, pretraining_tp=1,
                   rope_scaling=rope_scaling_)
    elif model_type_ == "mistral":
        if rope_scaling_ is not None:
            raise ValueError("MistralConfig has no rope_scaling")
        cfg.update(head_dim=hd, sliding_window=sliding_window_)
    elif model_type_ == "qwen2":
        if head_dim_ is not None and head_dim_ != hidden_size // num_attention_heads:
            raise ValueError("Qwen2Config has no head_dim")
        cfg.update(use_sliding_window=False, sliding_window=sliding_window_,
                   max_window_layers=num_hidden_layers, rope_scaling=rope_scaling_)
    else:  # qwen3
        cfg.update(head_dim=hd, attention_bias=False, use_sliding_window=False,
                   sliding_window=None, max_window_layers=num_hidden_layers,
                   rope_scaling=rope_scaling_)
    cfg.update(extra)
    check_config(cfg)
    return cfg


def write_config(path: str, config: dict) -> None:
    """config.json as transformers writes it: indent 2, keys sorted, trailing newline."""
    with open(path, "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _check_shapes(params: Params, config: dict) -> "OrderedDict[str, Tuple[int, ...]]":
    shapes = param_shapes(config)
    for name, shape in shapes.items():
        if name not in params:
            raise ValueError(f"missing parameter {name}")
        if tuple(params[name].shape) != shape:
            raise ValueError(f"parameter {name}: shape {list(params[name].shape)}, "
                             f"expected {list(shape)}")
    extra = sorted(set(params) - set(shapes))
    if extra:
        raise ValueError(f"unexpected parameters {extra}")
    return shapes


def sorted_by_name(tensors: Params) -> "OrderedDict[str, torch.Tensor]":
    """Tensors in name order, as the `safetensors` package lays out a single-dtype file."""
    return OrderedDict((k, tensors[k]) for k in sorted(tensors))


def shard_names(n: int) -> List[str]:
    return [f"model-{k:05d}-of-{n:05d}.safetensors" for k in range(1, n + 1)]


def save_model_dir(path: str, config: dict, params: Params, dtype: str = "F32",
                   num_shards: int = 1) -> None:
    """Write config.json and the weights (every tensor stored as `dtype`).

    num_shards == 1: model.safetensors. Otherwise the parameters, in module order, are cut into
    `num_shards` contiguous runs of about equal byte size (as save_pretrained fills shards up to a
    size limit); each shard file lists its tensors in name order; model.safetensors.index.json
    holds {"metadata": {"total_size": bytes of all tensor data}, "weight_map": {name: file}}.
    A tied model has no lm_head.weight.
    """
    os.makedirs(path, exist_ok=True)
    write_config(os.path.join(path, "config.json"), config)
    shapes = _check_shapes(params, config)
    names = list(shapes)
    if num_shards == 1:
        common.write_safetensors(os.path.join(path, SINGLE_FILE),
                                 sorted_by_name({k: params[k] for k in names}), dtype)
        return
    width = {"F32": 4, "BF16": 2, "F16": 2}[dtype]
    nbytes = [params[k].numel() * width for k in names]
    total = sum(nbytes)
    files = shard_names(num_shards)
    weight_map: Dict[str, str] = {}
    before = 0
    for k, name in enumerate(names):
        # shard of a tensor: where the first byte of it falls among n equal parts of the total
        weight_map[name] = files[min(num_shards - 1, before * num_shards // total)]
        before += nbytes[k]
    for fname in files:
        part = {k: params[k] for k in names if weight_map[k] == fname}
        if not part:
            raise ValueError(f"shard {fname} would be empty")
        common.write_safetensors(os.path.join(path, fname), sorted_by_name(part), dtype)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(path, INDEX_FILE), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


def load_model_dir(path: str) -> Tuple[dict, Params, Dict[str, str]]:
    """Load a directory; returns (config, params as float32 in module order, name -> stored dtype).

    Reads model.safetensors, or the shards named by model.safetensors.index.json. Ignores
    rotary_emb.inv_freq buffers and, when tied, an lm_head.weight.
    """
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    index_path = os.path.join(path, INDEX_FILE)
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        files = sorted(set(index["weight_map"].values()))
    else:
        index, files = None, [SINGLE_FILE]
    found: Params = {}
    dtypes: Dict[str, str] = {}
    for fname in files:
        tensors, dts = common.read_safetensors(os.path.join(path, fname))
        for name, t in tensors.items():
            if index is not None and index["weight_map"].get(name) != fname:
                raise ValueError(f"{path}: {name} is in {fname}, the index says "
                                 f"{index['weight_map'].get(name)}")
            if name in found:
                raise ValueError(f"{path}: {name} appears twice")
            found[name], dtypes[name] = t, dts[name]
    for name in list(found):
        if name.endswith(_IGNORED_SUFFIXES) or (name == "lm_head.weight" and tied(config)):
            del found[name]
    shapes = _check_shapes(found, config)
    return config, OrderedDict((k, found[k]) for k in shapes), dtypes


# ----------------------------------------------------------------------------------------------
# RoPE


def rope_inv_freq(config: dict) -> torch.Tensor:
    """(head_dim/2,) float32 inverse frequencies, as transformers computes them (in float32).

    default: inv_freq[j] = 1 / theta^(2j / hd).
    llama3 (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings = L0):
      wavelen = 2 pi / inv_freq[j]; long = L0 / low_freq_factor; short = L0 / high_freq_factor
      wavelen > long            -> inv_freq / factor                     (low frequencies)
      wavelen < short           -> inv_freq                               (high frequencies)
      short <= wavelen <= long  -> (1 - s) * inv_freq / factor + s * inv_freq,
                                   s = (L0 / wavelen - low_freq_factor)
                                       / (high_freq_factor - low_freq_factor)
    """
    hd = head_dim(config)
    theta = rope_theta(config)
    exponent = torch.arange(0, hd, 2, dtype=torch.int64).to(torch.float32) / hd   # (hd/2,)
    inv_freq = 1.0 / (theta ** exponent)                                          # float32
    rope_type, rs = rope_scaling(config)
    if rope_type == "default":
        return inv_freq
    if rope_type != "llama3":
        raise ValueError(f"rope type {rope_type!r} is not supported")
    factor = float(rs["factor"])
    low, high = float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
    old_len = float(rs["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv_freq                                               # float32
    long_wavelen, short_wavelen = old_len / low, old_len / high
    s = (old_len / wavelen - low) / (high - low)
    blended = (1 - s) * inv_freq / factor + s * inv_freq
    out = torch.where(wavelen < short_wavelen, inv_freq, blended)
    return torch.where(wavelen > long_wavelen, inv_freq / factor, out)


def rope_cos_sin(config: dict, T: int, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    """(T, hd) cos and sin of the angles pos * inv_freq[j mod hd/2], computed in float32."""
    inv_freq = rope_inv_freq(config)                                      # (hd/2,)
    pos = torch.arange(T, dtype=torch.float32)                            # (T,)
    angle = pos[:, None] * inv_freq[None, :]                              # (T, hd/2)
    angle = torch.cat([angle, angle], dim=-1)                             # (T, hd): j, j+hd/2
    return angle.cos().to(dtype), angle.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (j, j + hd/2) of x (..., T, hd) by the angles of cos/sin (T, hd)."""
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    partner = torch.cat([-second, first], dim=-1)                         # "rotate_half"
    return x * cos + partner * sin


# ----------------------------------------------------------------------------------------------
# Forward pass


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """w * x / sqrt(mean(x^2) + eps) over the last dim; float32 at least, like transformers."""
    wide = x.to(torch.float32) if x.dtype in (torch.float16, torch.bfloat16) else x
    normed = wide * torch.rsqrt(wide.pow(2).mean(dim=-1, keepdim=True) + eps)
    return w * normed.to(x.dtype)


def linear(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor] = None) -> torch.Tensor:
    """nn.Linear: x @ W.T (+ b), W stored [out, in]."""
    y = x @ w.t()
    return y if b is None else y + b


def attention(x: torch.Tensor, params: Params, layer: int, config: dict,
              cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Causal grouped-query self-attention including q/k/v/o_proj. x: (B, T, C) normalised."""
    B, T, C = x.shape
    H, KV, hd = num_heads(config), num_kv_heads(config), head_dim(config)
    p = f"model.layers.{layer}.self_attn."
    q = linear(x, params[p + "q_proj.weight"], params.get(p + "q_proj.bias"))   # (B, T, H*hd)
    k = linear(x, params[p + "k_proj.weight"], params.get(p + "k_proj.bias"))   # (B, T, KV*hd)
    v = linear(x, params[p + "v_proj.weight"], params.get(p + "v_proj.bias"))   # (B, T, KV*hd)
    q = q.view(B, T, H, hd)
    k = k.view(B, T, KV, hd)
    v = v.view(B, T, KV, hd)
    if has_qk_norm(config):  # qwen3: every head vector normalised over its hd entries
        q = rms_norm(q, params[p + "q_norm.weight"], rms_norm_eps(config))
        k = rms_norm(k, params[p + "k_norm.weight"], rms_norm_eps(config))
    q = apply_rope(q.transpose(1, 2), cos, sin)                           # (B, H, T, hd)
    k = apply_rope(k.transpose(1, 2), cos, sin)                           # (B, KV, T, hd)
    v = v.transpose(1, 2)                                                 # (B, KV, T, hd)
    group = H // KV
    k = k.repeat_interleave(group, dim=1)                                 # (B, H, T, hd)
    v = v.repeat_interleave(group, dim=1)                                 # head h -> h // group
    att = (q @ k.transpose(-2, -1)) * (hd ** -0.5)                        # (B, H, T, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()   # key <= query
    att = att.masked_fill(~causal, float("-inf"))
    att = torch.softmax(att, dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, H * hd)                   # (B, T, H*hd)
    return linear(y, params[p + "o_proj.weight"])                         # (B, T, C)


def mlp(x: torch.Tensor, params: Params, layer: int) -> torch.Tensor:
    """SwiGLU: down(silu(gate(x)) * up(x)). x: (B, T, C)."""
    p = f"model.layers.{layer}.mlp."
    g = linear(x, params[p + "gate_proj.weight"])                         # (B, T, I)
    u = linear(x, params[p + "up_proj.weight"])                           # (B, T, I)
    return linear(g * torch.sigmoid(g) * u, params[p + "down_proj.weight"])  # (B, T, C)


def forward(params: Params, config: dict, input_ids: torch.Tensor) -> torch.Tensor:
    """input_ids: (B, T) int64; returns logits (B, T, V) in the params' dtype."""
    check_config(config)
    B, T = input_ids.shape
    for i in range(int(config["num_hidden_layers"])):
        window = sliding_window(config, i)
        if window is not None and T > window:
            raise ValueError(f"sequence length {T} exceeds sliding_window {window} of layer {i} "
                             "(not implemented)")
    eps = rms_norm_eps(config)
    emb = params["model.embed_tokens.weight"]
    x = emb[input_ids]                                                    # (B, T, C)
    cos, sin = rope_cos_sin(config, T, x.dtype)                           # (T, hd) each
    for i in range(int(config["num_hidden_layers"])):
        p = f"model.layers.{i}."
        x = x + attention(rms_norm(x, params[p + "input_layernorm.weight"], eps),
                          params, i, config, cos, sin)
        x = x + mlp(rms_norm(x, params[p + "post_attention_layernorm.weight"], eps), params, i)
    x = rms_norm(x, params["model.norm.weight"], eps)                     # (B, T, C)
    head = emb if tied(config) else params["lm_head.weight"]              # (V, C)
    return x @ head.t()                                                   # (B, T, V)


# ----------------------------------------------------------------------------------------------
# Losses (the label shift and the reductions are gpt2_reference's)


def per_token_losses(params: Params, config: dict, input_ids: torch.Tensor,
                     labels: torch.Tensor) -> torch.Tensor:
    """(B, T) cross-entropies of predicting labels[b, j] from position j-1; NaN if not scored."""
    return common.scored_or_nan(*common.shifted_nll(forward(params, config, input_ids), labels))


def batch_mean_loss(params: Params, config: dict, input_ids: torch.Tensor,
                    labels: torch.Tensor) -> torch.Tensor:
    """Training loss: mean of the per-token losses over every scored entry of the batch."""
    return common.mean_over_scored(*common.shifted_nll(forward(params, config, input_ids),
                                                       labels))


def example_losses(params: Params, config: dict,
                   examples: Sequence[dict]) -> List[List[Optional[float]]]:
    """Per-token losses of each example scored alone (its own length), NaN -> None."""
    out = []
    with torch.no_grad():
        for e in examples:
            ids, lab = common.pad_batch([e])
            out.append(common.losses_to_json(per_token_losses(params, config, ids, lab)[0].tolist()))
    return out
