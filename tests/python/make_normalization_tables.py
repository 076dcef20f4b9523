#!/usr/bin/python3
"""Regenerate the Unicode normalization tables and test vectors (deterministic, rerunnable).

    /usr/bin/python3 tests/python/make_normalization_tables.py

Writes
  include/tokclean/data/detail/normalization_tables.hpp  the data of NFC, NFD, NFKC and NFKD
      (include/tokclean/data/unicode_normalization.hpp), and
  tests/data/unicode_normalization/vectors.jsonl          what tests/test_unicode_normalization.cpp
      checks: every code point that some form changes, then seeded random strings.

The oracle is this Python's unicodedata (Debian 12's python3 3.11: Unicode 14.0.0, the version
of unicode_tables.hpp); the Unicode version is written into the header and checked by the test.
Everything is derived from unicodedata.normalize and unicodedata.combining, not from the raw
decomposition fields, so the tables say what Python computes:

  * canonical combining classes (ranges of equal class);
  * full decompositions: NFD(c) for every c that NFD changes, and NFKD(c) where that differs
    from NFD(c) (Hangul syllables are left to the algorithm of Unicode 3.12);
  * primary composites: (a, b) -> c for each c whose canonical decomposition mapping is the
    pair a b and which NFC keeps (NFC(c) == c, i.e. not in Full_Composition_Exclusion), checked
    to satisfy NFC(a + b) == c; Hangul LV / LVT are algorithmic;
  * per code point flags (a two-stage table): ccc != 0, NFD_QC=No, NFKD_QC=No, NFC_QC=No,
    NFC_QC=Maybe, NFKC_QC=No, NFKC_QC=Maybe. X_QC=No is "X(c) != c"; Maybe is "second
    character of a primary composite" (including the Hangul V and T jamo).

The script asserts the facts the C++ relies on (e.g. that a character with ccc 0 and quick check
Yes starts with a starter that composes with nothing before it, so text can be cut there).
"""

from __future__ import annotations

import json
import os
import random
import sys
import unicodedata

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "include", "tokclean", "data", "detail", "normalization_tables.hpp")
VECTORS = os.path.join(ROOT, "tests", "data", "unicode_normalization", "vectors.jsonl")

FORMS = ("NFC", "NFD", "NFKC", "NFKD")
S_BASE, S_COUNT = 0xAC00, 11172
L_BASE, V_BASE, T_BASE = 0x1100, 0x1161, 0x11A7
L_COUNT, V_COUNT, T_COUNT = 19, 21, 28

# Flag bits (keep in sync with the enum in the header text below).
CCC_NONZERO, NFD_NO, NFKD_NO, NFC_NO, NFC_MAYBE, NFKC_NO, NFKC_MAYBE = (1 << i for i in range(7))
BLOCK = 64  # code points per block of the two-stage table


def norm(form, s):
    return unicodedata.normalize(form, s)


def code_points():
    return [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def is_hangul_syllable(c):
    return S_BASE <= c < S_BASE + S_COUNT


def ccc(c):
    return unicodedata.combining(chr(c))


def composition_pairs():
    """{(a, b): c} for the primary composites (not Hangul)."""
    pairs = {}
    for c in code_points():
        d = unicodedata.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) != 2 or norm("NFC", chr(c)) != chr(c):
            continue  # singletons and Full_Composition_Exclusion
        a, b = parts
        assert norm("NFC", chr(a) + chr(b)) == chr(c), hex(c)
        assert ccc(a) == 0 and ccc(c) == 0, hex(c)  # the first of a pair and the composite are starters
        assert (a, b) not in pairs
        pairs[(a, b)] = c
    # Cross-check from the other side: every excluded canonical pair fails to compose.
    for c in code_points():
        d = unicodedata.decomposition(chr(c))
        if d and not d.startswith("<") and len(d.split()) == 2 and norm("NFC", chr(c)) != chr(c):
            a, b = (int(x, 16) for x in d.split())
            assert norm("NFC", chr(a) + chr(b)) != chr(c), hex(c)
    return pairs


def compute_flags(pairs):
    seconds = {b for (_, b) in pairs} | set(range(V_BASE, V_BASE + V_COUNT)) | set(range(T_BASE + 1, T_BASE + T_COUNT))
    flags = [0] * 0x110000
    for c in code_points():
        ch = chr(c)
        f = 0
        if ccc(c):
            f |= CCC_NONZERO
        if norm("NFD", ch) != ch:
            f |= NFD_NO
        if norm("NFKD", ch) != ch:
            f |= NFKD_NO
        if norm("NFC", ch) != ch:
            f |= NFC_NO
        elif c in seconds:
            f |= NFC_MAYBE
        if norm("NFKC", ch) != ch:
            f |= NFKC_NO
        elif c in seconds:
            f |= NFKC_MAYBE
        flags[c] = f
    return flags


def check_boundaries(flags):
    """A character with ccc 0 and quick check Yes (a 'boundary') must decompose to a starter
    that is Yes in the same form: nothing before it reorders past it or composes with it."""
    for c in code_points():
        f = flags[c]
        for no, maybe, dform in ((NFC_NO, NFC_MAYBE, "NFD"), (NFKC_NO, NFKC_MAYBE, "NFKD"),
                                 (NFD_NO, 0, "NFD"), (NFKD_NO, 0, "NFKD")):
            if f & (CCC_NONZERO | no | maybe):
                continue
            first = ord(norm(dform, chr(c))[0])
            assert ccc(first) == 0 and not flags[first] & (no | maybe | CCC_NONZERO), (hex(c), dform)
    # Maybe characters never decompose (so composition only needs the flag of the character).
    for c in code_points():
        if flags[c] & NFC_MAYBE:
            assert not flags[c] & (NFD_NO | NFKD_NO), hex(c)


def row_lines(items, per_row, indent="    "):
    lines, row = [], []
    for x in items:
        row.append(x)
        if len(row) == per_row:
            lines.append(indent + " ".join(row))
            row = []
    if row:
        lines.append(indent + " ".join(row))
    return "\n".join(lines)


def ccc_ranges():
    out = []
    for c in code_points():
        k = ccc(c)
        if not k:
            continue
        if out and out[-1][1] == c - 1 and out[-1][2] == k:
            out[-1][1] = c
        else:
            out.append([c, c, k])
    return out


def decompositions():
    """(canonical, compat, pool): entries (cp, offset, length) into a shared pool of code
    points. canonical: NFD(c) != c (no Hangul syllables); compat: NFKD(c) != NFD(c)."""
    pool, where = [], {}

    def place(seq):
        key = tuple(seq)
        if key not in where:
            where[key] = len(pool)
            pool.extend(key)
        return where[key]

    canonical, compat = [], []
    for c in code_points():
        if is_hangul_syllable(c):
            continue
        d = [ord(x) for x in norm("NFD", chr(c))]
        k = [ord(x) for x in norm("NFKD", chr(c))]
        if d != [c]:
            canonical.append((c, place(d), len(d)))
        if k != d:
            compat.append((c, place(k), len(k)))
    assert len(pool) < 65536 and max(n for _, _, n in canonical + compat) < 256
    return canonical, compat, pool


def two_stage(flags):
    limit = max(c for c in range(0x110000) if flags[c]) + 1
    limit = (limit + BLOCK - 1) // BLOCK * BLOCK
    blocks, index = {}, []
    for b in range(limit // BLOCK):
        key = tuple(flags[b * BLOCK:(b + 1) * BLOCK])
        index.append(blocks.setdefault(key, len(blocks)))
    assert len(blocks) <= 256
    data = [x for key, _ in sorted(blocks.items(), key=lambda kv: kv[1]) for x in key]
    return limit, index, data


def header(flags, pairs):
    version = unicodedata.unidata_version
    ranges = ccc_ranges()
    canonical, compat, pool = decompositions()
    limit, index, data = two_stage(flags)
    comp = sorted(pairs.items())
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    ccc_text = row_lines([f"{{0x{a:X}, 0x{b:X}, {k}}}," for a, b, k in ranges], 4)
    canon_text = row_lines([f"{{0x{c:X}, {o}, {n}}}," for c, o, n in canonical], 6)
    compat_text = row_lines([f"{{0x{c:X}, {o}, {n}}}," for c, o, n in compat], 6)
    pool_text = row_lines([f"0x{x:X}," for x in pool], 12)
    comp_text = row_lines([f"{{0x{a:X}, 0x{b:X}, 0x{c:X}}}," for (a, b), c in comp], 4)
    index_text = row_lines([f"{x}," for x in index], 32)
    data_text = row_lines([f"{x}," for x in data], BLOCK // 2)
    return f"""#pragma once
// The data of Unicode normalization (NFC, NFD, NFKC, NFKD; tokclean/data/unicode_normalization.hpp).
// GENERATED by tests/python/make_normalization_tables.py from Python {py}'s unicodedata
// (Unicode {version}); do not edit, rerun the script. Hangul syllables are algorithmic, not here.
// Lists are sorted by code point and searched by bisection; the flags are a two-stage table.
#include <cstdint>
#include <string_view>

namespace tokclean::detail::normalization {{

inline constexpr std::string_view version = "{version}";

// Per code point: what the quick checks need (X_no: X(c) != c; X_maybe: c is the second
// character of a primary composite, so it may compose with what precedes it).
enum Flag : std::uint8_t {{
    ccc_nonzero = 1,
    nfd_no = 2,
    nfkd_no = 4,
    nfc_no = 8,
    nfc_maybe = 16,
    nfkc_no = 32,
    nfkc_maybe = 64,
}};

// Canonical combining classes other than 0: {len(ranges)} ranges of one class each.
struct CccRange {{
    char32_t first;
    char32_t last;  // inclusive
    std::uint8_t ccc;
}};
inline constexpr CccRange ccc_ranges[] = {{
{ccc_text}
}};

// A full decomposition: `length` code points at `offset` of decomposition_pool.
struct Decomposition {{
    char32_t cp;
    std::uint16_t offset;
    std::uint8_t length;
}};

// NFD(c) for the {len(canonical)} code points it changes (Hangul syllables excepted).
inline constexpr Decomposition canonical_decompositions[] = {{
{canon_text}
}};

// NFKD(c) for the {len(compat)} code points where it differs from NFD(c).
inline constexpr Decomposition compat_decompositions[] = {{
{compat_text}
}};

inline constexpr char32_t decomposition_pool[] = {{
{pool_text}
}};

// The {len(comp)} primary composites (composition exclusions applied): first + second -> composite,
// sorted by (first, second).
struct Composition {{
    char32_t first;
    char32_t second;
    char32_t composite;
}};
inline constexpr Composition compositions[] = {{
{comp_text}
}};

// Flags of code point c: flag_data[flag_index[c / {BLOCK}] * {BLOCK} + c % {BLOCK}] for c < flag_limit, else 0.
inline constexpr char32_t flag_block = {BLOCK};
inline constexpr char32_t flag_limit = 0x{limit:X};
inline constexpr std::uint8_t flag_index[] = {{
{index_text}
}};
inline constexpr std::uint8_t flag_data[] = {{
{data_text}
}};

}}  // namespace tokclean::detail::normalization
"""


# ---------------------------------------------------------------- vectors

def vector_line(s, **extra):
    obj = dict(extra)
    obj["source"] = s
    for form in FORMS:
        t = norm(form, s)
        if t != s:
            obj[form.lower()] = t  # a form that is absent equals the source
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def pools(flags, pairs):
    cps = code_points()
    excluded = [c for c in cps if flags[c] & NFC_NO and flags[c] & NFD_NO and not flags[c] & CCC_NONZERO
                and len(norm("NFD", chr(c))) > 1]
    singletons = [c for c in cps if unicodedata.decomposition(chr(c)) and not unicodedata.decomposition(chr(c)).startswith("<")
                  and len(unicodedata.decomposition(chr(c)).split()) == 1]
    nonstarter_decomp = [0x0344, 0x0F73, 0x0F75, 0x0F81]
    marks = sorted({c for c in range(0x300, 0x370)} | {0x0591, 0x0596, 0x05B0, 0x05B4, 0x05BC, 0x05C1, 0x05C2,
                    0x0F71, 0x0F72, 0x0F74, 0x0F80, 0x093C, 0x094D, 0x0E38, 0x0E48, 0x1DCE, 0x1DFA, 0x20D0,
                    0x20D2, 0x20E1, 0x302A, 0x302B, 0x302E, 0x3099, 0x309A, 0x0CD5, 0x0CD6, 0x0B3E, 0x0B56,
                    0x0B57, 0x0DCF, 0x0DDF, 0x102E, 0x1B35, 0x110BA, 0x16FF0, 0x1E944})
    latin = ([ord(c) for c in "aeiouAEIOUnNcCsSzZgGkKrRwWyY"] + list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00))
             + list(range(0x391, 0x3CA)) + list(range(0x1F00, 0x1FFF)) + list(range(0x410, 0x450)))
    starters_that_compose = sorted({a for (a, _) in pairs if a >= 0x900})  # Indic, Kana, ...
    starter_seconds = sorted({b for (_, b) in pairs if ccc(b) == 0})  # e.g. U+0B3E, U+102E
    compat = ([*range(0xFB00, 0xFB07), *range(0xFF01, 0xFF5F), *range(0xFF61, 0xFFA0), 0xB2, 0xB3, 0xB9, 0xBC,
               0xBD, 0xBE, 0xAA, 0xBA, 0xA8, 0xAF, 0xB4, 0xB5, 0xB8, 0xA0, *range(0x2070, 0x209D),
               *range(0x2150, 0x2190), *range(0x2460, 0x24FF), *range(0x3300, 0x3400), 0x338F, 0xFDFA, 0xFDFB,
               0xFDFC, *range(0x2000, 0x200B), 0x2024, 0x2025, 0x2026, 0x2033, 0x2034, 0x2057, 0x1E9B,
               0x03D3, 0x03D4, 0x017F, 0x01C4, 0x01C5, 0x01C6, 0x0132, 0x0133, 0x3131, 0x3164, 0x318E,
               *range(0x1D400, 0x1D420), *range(0xFE70, 0xFE80), *range(0xFB50, 0xFB60), 0xFE30, 0xFE4D,
               0x2F00, 0x2FD5, 0x3200, 0x321E, 0x3250, 0x327E, 0x32FF, 0x1F100, 0x1F12B, 0x1F200, 0x1F250])
    cjk_compat = [*range(0xF900, 0xFADA), *range(0x2F800, 0x2FA1E)]
    cjk_compat = [c for c in cjk_compat if unicodedata.decomposition(chr(c))]
    other = [ord(c) for c in "漢字かなカナ한국어😀🎉Ωωабв€—“”"] + [0xFFFD, 0x10000, 0x1F600, 0xE000, 0xFFFF, 0x10FFFF]
    return dict(marks=marks, latin=latin, excluded=excluded, singletons=singletons,
                nonstarter_decomp=nonstarter_decomp, starters_that_compose=starters_that_compose,
                starter_seconds=starter_seconds, compat=compat, cjk_compat=cjk_compat, other=other)


def random_string(rng, p):
    out = []
    target = rng.randint(1, 40)
    while len(out) < target:
        k = rng.random()
        if k < 0.15:  # ASCII
            out.extend(ord(c) for c in rng.choice(["a", "b", "Z", " ", "0", ".", "the ", "x", "\n", "~"]))
        elif k < 0.40:  # a letter and marks in a random order
            out.append(rng.choice(p["latin"]))
            marks = [rng.choice(p["marks"]) for _ in range(rng.randint(0, 4))]
            rng.shuffle(marks)
            out.extend(marks)
        elif k < 0.45:  # marks without a base (at the start, or after anything)
            out.extend(rng.choice(p["marks"]) for _ in range(rng.randint(1, 3)))
        elif k < 0.58:  # Hangul: jamo L V (T), syllables, syllable + T, compatibility jamo
            h = rng.random()
            if h < 0.4:
                out.append(L_BASE + rng.randrange(L_COUNT))
                out.append(V_BASE + rng.randrange(V_COUNT))
                if rng.random() < 0.6:
                    out.append(T_BASE + rng.randrange(1, T_COUNT))
            elif h < 0.6:
                out.append(S_BASE + rng.randrange(S_COUNT))
            elif h < 0.75:
                out.append(S_BASE + rng.randrange(L_COUNT * V_COUNT) * T_COUNT)  # an LV syllable
                out.append(T_BASE + rng.randrange(0, T_COUNT + 1))  # T, or just outside the T range
            elif h < 0.9:  # jamo out of order, and archaic ones that compose with nothing
                out.extend(rng.choice([0x1100, 0x1112, 0x1113, 0x1161, 0x1175, 0x1176, 0x11A7, 0x11A8, 0x11C2,
                                       0x11C3, 0x115F, 0x1160]) for _ in range(rng.randint(1, 4)))
            else:
                out.append(rng.choice([0x3131, 0x314F, 0x3164, 0xFFA0, 0xFFDA]))
        elif k < 0.72:
            out.append(rng.choice(p["compat"]))
            if rng.random() < 0.3:
                out.append(rng.choice([0x3099, 0x309A, 0xFF9E, 0xFF9F, 0x0301, 0x0308]))
        elif k < 0.77:
            out.append(rng.choice(p["cjk_compat"]))
        elif k < 0.82:
            out.append(rng.choice(p["singletons"]))
            if rng.random() < 0.3:
                out.append(rng.choice(p["marks"]))
        elif k < 0.88:
            out.append(rng.choice(p["excluded"] + p["nonstarter_decomp"]))
            if rng.random() < 0.4:
                out.append(rng.choice(p["marks"]))
        elif k < 0.94:  # starters that compose with a following starter or mark (Indic, Kana)
            out.append(rng.choice(p["starters_that_compose"]))
            out.extend(rng.choice(p["starter_seconds"] + p["marks"]) for _ in range(rng.randint(0, 2)))
        else:
            out.append(rng.choice(p["other"]))
    return "".join(chr(c) for c in out)


def vectors(flags, pairs):
    lines = []
    for c in code_points():
        ch = chr(c)
        if any(norm(f, ch) != ch for f in FORMS):
            lines.append(vector_line(ch))
    n_cp = len(lines)
    rng = random.Random(20240514)
    p = pools(flags, pairs)
    for _ in range(3000):
        lines.append(vector_line(random_string(rng, p), random=True))
    for _ in range(20):  # long runs of marks ("Zalgo" text): the sort of long runs
        s = [rng.choice(p["latin"])] + [rng.choice(p["marks"]) for _ in range(rng.randint(30, 300))]
        lines.append(vector_line("".join(map(chr, s)) + "x" + chr(rng.choice(p["marks"])), random=True))
    return lines, n_cp


def main():
    pairs = composition_pairs()
    flags = compute_flags(pairs)
    check_boundaries(flags)
    text = header(flags, pairs)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    lines, n_cp = vectors(flags, pairs)
    os.makedirs(os.path.dirname(VECTORS), exist_ok=True)
    with open(VECTORS, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {OUT}: Unicode {unicodedata.unidata_version}, {len(pairs)} compositions, {len(text)} bytes")
    print(f"wrote {VECTORS}: {n_cp} code points, {len(lines) - n_cp} random strings")


if __name__ == "__main__":
    main()
