#!/usr/bin/env python3
"""Writes the demo's SFT task to examples/data/demo/ (deterministic; rerun to regenerate).

    python3 examples/data/make_demo_task.py [OUT_DIR]    # default: examples/data/demo
    python3 examples/data/make_demo_task.py OUT_DIR --word-length 8 --wrong 0.2 --junk 0.3 --junk-length 6 16
                                             # another mix (bench/RESULTS.md's second task)

The task: "Q: Uppercase <word>\\nA: " -> "<WORD>. <phrase>" + EOS, on random five-letter
words: the answer comes first, at the same positions in every clean response, and a pleasantry
closes it.
Every response byte has a known kind, so the cleaner's choices can be checked:
  B  boilerplate: the ". " after the answer and the closing chat phrase ("Hope this helps!",
     ...) that the base model already knows from pre-training;
  I  informative: the bytes of the correct answer;
  J  junk: a span of random characters inserted into the response (a corrupted sample);
  W  wrong answer: the answer bytes of a wrong response (another word, or the word not
     uppercased: a careless annotator);
  E  the EOS token that closes every response (an ordinary response token, as in the paper);
  P  prompt (not a target).

Files (one JSON object per line):
  pretrain.jsonl  {"text"}: chit-chat Q/A lines with the same phrases, lines answered by a
                  code of random letters and digits, lines answered by repeating a word of
                  the question as it is, and plain sentences: teaches the base model the
                  format and the boilerplate after any answer, every byte the task uses, and
                  that an answer may be a word of random letters, but never the task (no line
                  pairs a word with its upper case);
  warmup.jsonl    {"prompt","completion"}: a small clean set (the reference's warm-up);
  pool.jsonl      {"prompt","completion"}: the noisy SFT pool to clean;
  pool_kinds.jsonl {"kinds": "PPP...BBBIIIIBE"}: one letter per token of the tokenized pool
                  example (byte tokenizer: one per byte, then E for the EOS);
  heldout.jsonl   {"prompt","completion"}: clean held-out examples for evaluation;
  heldout_kinds.jsonl {"kinds"}: their token kinds (the demo scores the answers, kind I, alone).
"""
import argparse
import json
import random
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parent / "demo"))
ap.add_argument("--word-length", type=int, default=5, help="letters of each question's word (the answer's bytes)")
ap.add_argument("--wrong", type=float, default=0.35, help="share of pool responses with a wrong answer")
ap.add_argument("--junk", type=float, default=0.35, help="share of pool responses with a junk span")
ap.add_argument("--junk-length", type=int, nargs=2, default=[3, 8], help="shortest and longest junk span")
ARGS = ap.parse_args()
OUT = Path(ARGS.out)
rng = random.Random(4242)

PHRASES = ["Hope this helps!", "Happy to help!", "Glad to assist.", "Anything else?", "Enjoy!"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"
JUNK_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#$%&*+=~^"
TOPICS = {
    "weather": ["it is sunny", "it will rain", "it is cold today", "the wind is strong"],
    "animals": ["cats like to sleep", "dogs love to run", "owls hunt at night", "bees make honey"],
    "food": ["bread is baked", "soup is warm", "apples are sweet", "tea is ready"],
    "places": ["the park is open", "the market is busy", "the river is wide", "the school is near"],
}
QUESTIONS = ["what about {t}", "tell me about {t}", "any news on {t}", "say something on {t}"]


def word():
    return "".join(rng.choice(LETTERS) for _ in range(ARGS.word_length))


def pretrain_line():
    if rng.random() < 0.7:  # a chat line: the format and phrases of the task's responses
        topic = rng.choice(list(TOPICS))
        q = rng.choice(QUESTIONS).format(t=topic)
        return f"Q: {q}\nA: {rng.choice(TOPICS[topic]).capitalize()}. {rng.choice(PHRASES)}"
    sentence = " ".join(rng.choice(TOPICS[rng.choice(list(TOPICS))]) for _ in range(2))
    return sentence[0].upper() + sentence[1:] + "."


# The code lines draw from their own stream, so that adding them left the SFT files as they were.
code_rng = random.Random(4343)
CODE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def code_line():
    """A chat line answered by a code. Without them the base saw upper-case letters only at the
    start of a sentence, and its loss on the boilerplate after an upper-case answer was a median
    4.2 nats a byte (the reference's: 0.0): the phrases it was meant to know scored as
    informative."""
    code = "".join(code_rng.choice(CODE_CHARS) for _ in range(code_rng.randint(3, 8)))
    q = code_rng.choice(["what is the code for {t}", "which ticket is for {t}", "give me a tag for {t}"])
    return f"Q: {q.format(t=code_rng.choice(list(TOPICS)))}\nA: {code}. {code_rng.choice(PHRASES)}"


# The copy lines draw from a third stream, and replace only lines that are not code lines.
copy_rng = random.Random(4444)
COPY_QUESTIONS = ["Repeat {w}", "Say {w} back to me", "Echo the word {w}", "Please repeat after me: {w}",
                  "Copy this: {w}", "{w}? Say it again"]


def copy_line():
    """A chat line answered by repeating a word or code of the question, as it is (never in
    another case). Without them, the base was sure that a chit-chat sentence follows "A: " and
    paid 9-10 nats for each byte of any word there (right answer, wrong answer or junk alike),
    so a wrong answer scored positive, above the boilerplate, wherever a reference gave it
    more than about e^-9 of probability (fixed-model cleaning kept 26% of the wrong answers,
    the later self-evolving chunks about 90%). With them it expects some word of
    random letters after "A: " and pays 4-6 nats a byte (about the price of a random letter),
    like a pre-trained LM facing a request it cannot do. They do not teach the 3-layer base to
    copy (it does not repeat the word), nor the task."""
    chars = LETTERS if copy_rng.random() < 0.5 else CODE_CHARS
    w = "".join(copy_rng.choice(chars) for _ in range(copy_rng.randint(3, 8)))
    q = copy_rng.choice(COPY_QUESTIONS).format(w=w)
    return f"Q: {q}\nA: {w}. {copy_rng.choice(PHRASES)}"


def example(noisy):
    """(prompt, completion, kinds of the completion bytes)."""
    w = word()
    prompt = f"Q: Uppercase {w}\nA: "
    phrase = rng.choice(PHRASES)
    answer, answer_kind = w.upper(), "I"
    junk = ""
    if noisy:
        r = rng.random()
        if r < ARGS.wrong:  # a wrong answer
            answer = word().upper() if rng.random() < 0.5 else w
            answer_kind = "W"
        elif r < ARGS.wrong + ARGS.junk:  # a junk span in the response
            junk = "".join(rng.choice(JUNK_CHARS) for _ in range(rng.randint(*ARGS.junk_length)))
    if junk and rng.random() < 0.5:  # before the answer (shifting it) or after it
        parts = [(junk + " ", "J"), (answer, answer_kind), (". " + phrase, "B")]
    elif junk:
        parts = [(answer, answer_kind), (" " + junk, "J"), (". " + phrase, "B")]
    else:
        parts = [(answer, answer_kind), (". " + phrase, "B")]
    completion = "".join(p for p, _ in parts)
    kinds = "".join(k * len(p) for p, k in parts)
    return prompt, completion, kinds


def write(name, rows):
    (OUT / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def main():
    OUT.mkdir(exist_ok=True)
    write("pretrain.jsonl", [{"text": code_line() if code_rng.random() < 0.15 else
                               copy_line() if copy_rng.random() < 0.15 else line}
                              for line in (pretrain_line() for _ in range(6000))])
    write("warmup.jsonl", [{"prompt": p, "completion": c} for p, c, _ in (example(False) for _ in range(300))])
    pool = [example(True) for _ in range(3000)]
    write("pool.jsonl", [{"prompt": p, "completion": c} for p, c, _ in pool])
    write("pool_kinds.jsonl", [{"kinds": "P" * len(p) + k + "E"} for p, c, k in pool])
    heldout = [example(False) for _ in range(400)]
    write("heldout.jsonl", [{"prompt": p, "completion": c} for p, c, _ in heldout])
    write("heldout_kinds.jsonl", [{"kinds": "P" * len(p) + k + "E"} for p, c, k in heldout])


if __name__ == "__main__":
    main()
