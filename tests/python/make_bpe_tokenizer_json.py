#!/usr/bin/python3
"""Write tests/data/gpt2_bpe/tokenizer.json from vocab.json + merges.txt beside it.

    /usr/bin/python3 tests/python/make_bpe_tokenizer_json.py

The Hugging Face `tokenizers` format of GPT-2 (what `gpt2/tokenizer.json` on the Hub holds):
a BPE model with the vocabulary and the merges as "a b" strings in rank order, the byte-level
pre-tokenizer / post-processor / decoder, and <|endoftext|> (id 50256) as an added special
token. Run make_bpe_vectors.mjs first: it copies vocab.json and merges.txt. Deterministic.
"""

from __future__ import annotations

import json
import os

DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                                    "gpt2_bpe"))


def main():
    with open(os.path.join(DIR, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(DIR, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    # Like OpenAI's encoder.py: the first line is "#version: 0.2", the last one is empty.
    assert lines[0].startswith("#version") and lines[-1] == "", "unexpected merges.txt layout"
    merges = lines[1:-1]
    assert all(len(m.split(" ")) == 2 for m in merges)
    eos = vocab["<|endoftext|>"]
    assert eos == 50256 == len(vocab) - 1

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eos, "content": "<|endoftext|>", "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": True,
                          "special": True}],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": dict(byte_level, add_prefix_space=True, trim_offsets=False),
        "decoder": dict(byte_level, add_prefix_space=True),
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": merges},
    }
    out = os.path.join(DIR, "tokenizer.json")
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out}: {len(vocab)} tokens, {len(merges)} merges")


if __name__ == "__main__":
    main()
