#!/usr/bin/python3
"""Write the seed inputs of the fuzz targets into DIR/<target>/ (the committed corpus under
tests/fuzz/corpus/ grew from these by fuzzing and was minimised with -merge=1).

    /usr/bin/python3 tests/fuzz/make_seeds.py DIR

Inputs follow each target's layout (see the comment at the top of fuzz_<target>.cpp): a
flags or mode byte, then the file's bytes. Deterministic; standard library only.
"""

from __future__ import annotations

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def write(root: str, target: str, name: str, data: bytes) -> None:
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)


def safetensors(tensors: list[tuple[str, str, list[int], bytes]], metadata: dict | None = None) -> bytes:
    header: dict = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def f32(n: int, start: float = 0.0) -> bytes:
    return struct.pack(f"<{n}f", *[start + 0.25 * i for i in range(n)])


def tiny_gpt2(dtype: str = "F32", prefix: str = "") -> bytes:
    """A GPT-2 of vocab 8, 4 positions, width 4, one layer (the fuzz target's config)."""
    V, T, C = 8, 4, 4
    shapes = [("wte.weight", [V, C]), ("wpe.weight", [T, C])]
    for suffix, shape in [("ln_1.weight", [C]), ("ln_1.bias", [C]), ("attn.c_attn.weight", [C, 3 * C]),
                          ("attn.c_attn.bias", [3 * C]), ("attn.c_proj.weight", [C, C]), ("attn.c_proj.bias", [C]),
                          ("ln_2.weight", [C]), ("ln_2.bias", [C]), ("mlp.c_fc.weight", [C, 4 * C]),
                          ("mlp.c_fc.bias", [4 * C]), ("mlp.c_proj.weight", [4 * C, C]), ("mlp.c_proj.bias", [C])]:
        shapes.append(("h.0." + suffix, shape))
    shapes += [("ln_f.weight", [C]), ("ln_f.bias", [C])]
    tensors = []
    for name, shape in shapes:
        n = 1
        for d in shape:
            n *= d
        data = f32(n) if dtype == "F32" else struct.pack(f"<{n}H", *[0x3C00 + i for i in range(n)])
        tensors.append((prefix + name, dtype, shape, data))
    return safetensors(tensors, {"format": "pt"})


def byte_level_vocab() -> dict[str, int]:
    """GPT-2's bytes_to_unicode() characters as the first 256 tokens."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(0x100 + n)
            n += 1
    return {chars[b]: b for b in range(256)}


def main() -> None:
    root = sys.argv[1]

    # ---- jsonl -------------------------------------------------------------------------
    with open(os.path.join(DATA, "gpt2_tiny", "data.jsonl"), "rb") as f:
        write(root, "jsonl", "fixture_tokenized", b"\x00" + f.read())
    formats = (
        b'{"text": "hello world"}\n'
        b'{"prompt": "Q: 2+2?", "completion": " 4"}\n'
        b'{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}, '
        b'{"role": "assistant", "content": "yo \\u00e9\\ud83d\\ude00"}]}\n'
    )
    write(root, "jsonl", "formats_byte", b"\x01" + formats)
    write(root, "jsonl", "formats_bpe", b"\x02" + formats)
    write(root, "jsonl", "formats_small_vocab", b"\x03" + formats)
    write(root, "jsonl", "formats_maxlen8_strict", bytes([1 | (3 << 2) | 32]) + formats)
    write(root, "jsonl", "tokenized_all_fields", b"\x10" +
          b'{"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "attention_mask": [1, 1, 1], "scores": [null, 0.5, -1e-3]}\r\n'
          b'\n  \n{"input_ids": [1]}')
    write(root, "jsonl", "truncated_last_line", b"\x01" + b'{"text": "a"}\n{"text": "b')
    write(root, "jsonl", "not_utf8", b"\x01" + b'{"text": "caf\xe9"}\n')
    # Found by fuzzing: a number beyond a double escaped as the JSON library's exception.
    write(root, "jsonl", "found_number_overflow", b"\x00" + b'{"input_ids": [1e400]}\n')
    write(root, "jsonl", "prose_bpe", b"\x02" +
          b'{"text": "The cat sat on the mat. It\'s 12:30 -- isn\'t it?\\n\\tIndented line."}\n'
          b'{"prompt": "Translate: Guten Morgen", "completion": " Good morning <|endoftext|>"}\n')

    # ---- safetensors -------------------------------------------------------------------
    write(root, "safetensors", "tiny_gpt2_f32", tiny_gpt2())
    write(root, "safetensors", "tiny_gpt2_f16_prefixed", tiny_gpt2("F16", "transformer."))
    write(root, "safetensors", "mixed_dtypes", safetensors([
        ("a", "BF16", [2], b"\x80\x3f\x00\x40"), ("e", "F32", [0, 3], b""), ("i", "I64", [1], b"\x01" + b"\x00" * 7),
        ("s", "F32", [], f32(1))]))
    write(root, "safetensors", "empty_header", safetensors([]))

    # ---- config ------------------------------------------------------------------------
    for name in ("model", "model_f16", "model_bf16_prefixed"):
        with open(os.path.join(DATA, "gpt2_tiny", name, "config.json"), "rb") as f:
            write(root, "config", "fixture_" + name, b"\x00" + f.read())
    write(root, "config", "byte_tokenizer", b"\x00" + json.dumps({
        "n_layer": 2, "n_head": 4, "n_embd": 128, "vocab_size": 257, "n_positions": 128,
        "tokclean_tokenizer": "byte", "eos_token_id": 256, "n_inner": None, "layer_norm_epsilon": 1e-5}).encode())
    write(root, "config", "hf_gpt2", b"\x01" + json.dumps({
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
        "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": None,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "vocab_size": 50257, "scale_attn_weights": True, "tie_word_embeddings": True}).encode())

    # ---- tokenizer ---------------------------------------------------------------------
    vocab = byte_level_vocab()
    for tok in ("ab", "abc", "Ġa", "<|endoftext|>"):
        vocab[tok] = len(vocab)
    merges = "#version: 0.2\na b\nab c\nĠ a\n"
    write(root, "tokenizer", "vocab_merges", b"\x01" + json.dumps(vocab).encode() + b"\xff" +
          merges.encode() + b"\xff" + "abc a ab é".encode())
    model_vocab = {k: v for k, v in vocab.items() if k != "<|endoftext|>"}
    tj = {"version": "1.0", "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
          "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "vocab": model_vocab, "merges": ["a b", ["ab", "c"], "Ġ a"]}}
    write(root, "tokenizer", "tokenizer_json", b"\x00" + json.dumps(tj).encode() + b"\xff" + b"abc  a\n\n")
    with open(os.path.join(DATA, "gpt2_bpe", "vectors.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    picked = [t for t in texts if 0 < len(t.encode()) < 300][:40:4]
    for i, t in enumerate(picked):
        write(root, "tokenizer", f"encode_{i}", b"\x02" + t.encode())
    write(root, "tokenizer", "encode_invalid_utf8", b"\x02" + b"ab\xff\xc3 \xed\xa0\x80x's 12")


    # ---- llama_dir: Llama-family config.json (mode 0) and the shard index (mode 1) --------
    llama = os.path.join(DATA, "llama")
    for case in sorted(os.listdir(llama)):
        with open(os.path.join(llama, case, "model", "config.json"), "rb") as f:
            write(root, "llama_dir", "config_" + case, b"\x00" + f.read())
    with open(os.path.join(llama, "llama_scaled", "model", "model.safetensors.index.json"), "rb") as f:
        write(root, "llama_dir", "index_llama_scaled", b"\x01" + f.read())
    write(root, "llama_dir", "config_rope_parameters", b"\x00" + json.dumps({
        "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 96,
        "num_attention_heads": 4, "num_key_value_heads": None, "vocab_size": 300, "max_position_embeddings": 64,
        "eos_token_id": [2, 3], "tokclean_tokenizer": "byte", "rope_parameters": {
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}).encode())
    write(root, "llama_dir", "index_escape", b"\x01" + json.dumps(
        {"metadata": {"total_size": 8}, "weight_map": {"a": "../x.safetensors", "b": "s.safetensors"}}).encode())

    # ---- hf_tokenizer: tokenizer.json ⟂ tokenizer_config.json ⟂ text (mode 0), regex ⟂ text (mode 1)
    cases = {}
    with open(os.path.join(DATA, "hf_tokenizers", "synthetic.jsonl"), encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            cases[case["case"]] = case
    configs = {"post_template": {"bos_token": "the", "eos_token": {"content": "12", "special": True}},
               "added_special": {"eos_token": "[tok]", "bos_token": {"content": "[sp]"}}}
    for name in ("bytelevel_regex", "bytelevel_prefix_space_no_regex", "split_regex_Isolated_true",
                 "split_string_Removed_false", "split_regex_MergedWithPrevious_true", "split_string_MergedWithNext_false",
                 "split_regex_Contiguous_true", "metaspace_always_true", "metaspace_first_false", "metaspace_never_true",
                 "digits_individual", "digits_runs", "normalizer_NFKC", "normalizer_llama2", "normalizer_replace_regex",
                 "added_special", "added_lstrip_rstrip", "added_single_word", "added_normalized", "added_longest_first",
                 "model_unk_fused", "model_byte_fallback", "model_ignore_merges", "post_template", "post_sequence",
                 "decoder_strip_replace"):
        case = cases[name]
        tj = json.dumps(case["tokenizer"], ensure_ascii=False, separators=(",", ":")).encode()
        config = json.dumps(configs[name]).encode() if name in configs else b""
        write(root, "hf_tokenizer", name, b"\x00" + tj + b"\xff" + config + b"\xff" + "\n".join(e["text"] for e in case["encode"]).encode())
    llama3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")
    qwen = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    text = "Hello world! It's 12345 --   isn't\r\n\n\tcafé 中文 😀 ▁a ſ K".encode() + b" \xff\xc3x"
    regexes = {"llama3": llama3, "qwen": qwen, "counted_lazy": r"a{2,3}?b{2}x{,2}.+?(?=b)", "classes":
               r"[^a-c\s]+|\P{L}+|[\p{N}\x41-\x{5A}]|\u6587|(?!a)\S*?z|[\t\n\r\f\v\0\-\]]"}
    for name, pattern in regexes.items():
        write(root, "hf_tokenizer", "regex_" + name, b"\x01" + pattern.encode() + b"\xff" + text)

    # ---- chat_template: template ⟂ JSON messages ----------------------------------------------
    templates = os.path.join(DATA, "chat_templates")
    conversations: dict[str, list] = {}
    with open(os.path.join(templates, "vectors.jsonl"), encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            if "rendered" not in case:  # raise_exception cases
                continue
            seen = conversations.setdefault(case["template"], [])
            # Two conversations per template: the first and the first with an assistant turn.
            roles = [m.get("role") for m in case["variables"]["messages"]]
            if not seen or (len(seen) == 1 and "assistant" in roles and seen[0] != case["variables"]["messages"]):
                seen.append(case["variables"]["messages"])
    for name in sorted(os.listdir(templates)):
        if not name.endswith(".jinja"):
            continue
        with open(os.path.join(templates, name), "rb") as f:
            source = f.read()
        stem = name[: -len(".jinja")]
        for k, messages in enumerate(conversations[stem]):
            write(root, "chat_template", f"{stem}_{k}", source + b"\xff" + json.dumps(messages).encode())
    write(root, "chat_template", "expressions", (
        "{%- set ns = namespace(n=0) -%}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
        "{{ loop.index }}/{{ loop.length }}{{ m['content'] | trim | tojson(indent=2) }}"
        "{% if loop.first %}{{ (m.content ~ '|') * 2 }}{% elif loop.last %}{{ m.content[1:-1:2] }}{% endif %}"
        "{% else %}none{% endfor %}{{ ns.n // 2 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ [1, 'a', none, true] }}"
        "{{ {'k': 'v'}.items() | list }} {{ 'a,b'.split(',') | join('-') }} {{ x is defined }} {{ strftime_now('%d %b %Y') }}"
        "{{- bos_token if add_generation_prompt else eos_token -}}").encode())


if __name__ == "__main__":
    main()
