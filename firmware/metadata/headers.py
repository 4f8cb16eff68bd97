"""Repairs of the issuing body's header lines after OCR, from what is known of body names.

The issuing body is printed in capitals on one to three lines (the superior body above).
OCR damages it in three ways the vocabulary can undo:

* words run together ("TINHNGHEAN"): split where the pieces are known syllables;
* marks lost ("DANG BO", "XA DA TON"): phrases and single words of the lexicon first, then
  the Vietnamese word list (:mod:`firmware.metadata.wordlist`);
* a line break read in the middle of a name ("ỦY BAN NHÂN" / "DÂN XÃ TÂN HƯNG"): the break
  is moved to the end of the known phrase it cut ("ỦY BAN NHÂN DÂN" / "XÃ TÂN HƯNG").
"""

from __future__ import annotations

import re
from functools import lru_cache

from firmware.metadata.lexicon import PHRASES, WORDS, restore_caps
from firmware.metadata.wordlist import restorer
from firmware.store.textfold import fold

#: Phrases a line break never falls inside (body names of the lexicon, in folded words).
_UNBREAKABLE_EXTRA = ("ban chap hanh", "dang bo", "uy ban nhan dan", "hoi dong nhan dan")


@lru_cache(maxsize=1)
def _phrases() -> list[tuple[str, ...]]:
    out = {tuple(fold(p).replace("-", " ").split()) for p in PHRASES.split("|") if p.strip()}
    out |= {tuple(p.split()) for p in _UNBREAKABLE_EXTRA}
    return sorted((p for p in out if len(p) >= 2), key=len, reverse=True)


@lru_cache(maxsize=1)
def _syllable_folds() -> frozenset[str]:
    words = {fold(w) for w in WORDS.split()}
    words |= {fold(w) for p in PHRASES.split("|") for w in p.split()}
    words |= set(restorer().by_fold)
    return frozenset(w for w in words if w.isalpha())


def split_joined(token: str) -> list[str]:
    """ "TINHNGHEAN" -> ["TINH", "NGHE", "AN"] when every piece is a known syllable
    (fewest pieces, each of two letters or more); other tokens come back whole."""
    if len(token) < 5 or not token.isalpha() or not token.isupper():
        return [token]
    low = fold(token)
    if low in _syllable_folds():
        return [token]
    n = len(low)
    best: list[list[int] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        here = best[i]
        if here is None:
            continue
        for j in range(i + 2, min(n, i + 7) + 1):
            if low[i:j] in _syllable_folds():
                cand = [*here, j]
                there = best[j]
                if there is None or len(cand) < len(there):
                    best[j] = cand
    cuts = best[n]
    if not cuts or len(cuts) < 2:
        return [token]
    out, start = [], 0
    for end in cuts:
        out.append(token[start:end])
        start = end
    return out


#: Marks OCR reads from specks beside a word of a capitals line (ASCII and typographic).
_CRUMBS = "_~^`'\".,;:|!ˆ*’‘“”´‚„«»·"


def clean_tokens(text: str) -> list[str]:
    """Tokens of a capitals line without OCR crumbs: "THƯ_" -> "THƯ", "THƯ’" -> "THƯ" (a
    typographic quote read from a speck: the word itself was dropped before, issue 16),
    "ˆ" dropped, lower-case debris after the capitals dropped, run-together words split."""
    out: list[str] = []
    for raw in text.split():
        tok = raw.strip(_CRUMBS)
        shaped = tok == "-" or re.fullmatch(r"\(?[\w.]+\)?", tok or "-")
        if shaped and tok and (tok == "-" or any(c.isalpha() or c.isdigit() for c in tok)):
            out.extend(split_joined(tok))
    # trailing words wholly in lower case after capitals are debris ("... TRUNG ƯƠNG ok");
    # a capital word with a letter read small ("THư") is a word of the name
    while len(out) > 1 and out[-1].isalpha() and out[-1].islower():
        out.pop()
    return [t.upper() if sum(c.isupper() for c in t) * 2 >= len(t) else t for t in out]


#: Letters OCR reads for a bold capital "Đ" ("BANG BỘ", "PANG BỘ" for "ĐẢNG BỘ").
_D_LOOKALIKES = "BPOÐ"


def _fix_initial_d(tokens: list[str]) -> list[str]:
    """ "BANG BỘ" -> "ĐANG BỘ" (marks follow) when, with a "Đ" first, the word and the one
    after it begin a known phrase and the two words as read are not a known pair."""
    out = list(tokens)
    for k in range(len(tokens) - 1):
        tok = tokens[k]
        if len(tok) < 3 or tok[0] not in _D_LOOKALIKES:
            continue
        if (fold(tok), fold(tokens[k + 1])) in _folded_pairs():
            continue
        head = ("d" + fold(tok)[1:], fold(tokens[k + 1]))
        if any(p[:2] == head for p in _phrases()):
            out[k] = "Đ" + tok[1:]
    return out


@lru_cache(maxsize=1)
def _folded_pairs() -> frozenset[tuple[str, str]]:
    pairs = {(fold(a), fold(b)) for a, b in restorer().bi}
    pairs |= {p[i : i + 2] for p in _phrases() for i in range(len(p) - 1)}  # type: ignore[misc]
    return frozenset(pairs)


def restore_line(text: str, extra: tuple[str, ...] = ()) -> tuple[str, float]:
    """A capitals line cleaned and with its marks back; (text, share of known words)."""
    tokens = _fix_initial_d(clean_tokens(text))
    line, share = restore_caps(" ".join(tokens), extra)
    fixed = restorer().restore_tokens(line.split())
    return " ".join(fixed), share


def fix_breaks(lines: list[str]) -> list[str]:
    """Move a line break read inside a known phrase to the end of that phrase."""
    lines = [ln for ln in lines if ln.strip()]
    for k in range(len(lines) - 1):
        upper, lower = lines[k].split(), lines[k + 1].split()
        joined = [fold(w) for w in upper + lower]
        cut = len(upper)
        for phrase in _phrases():
            n = len(phrase)
            for start in range(max(0, cut - n + 1), cut):
                if tuple(joined[start : start + n]) == phrase and start + n > cut:
                    end = start + n
                    if end < len(joined):  # the lower line keeps at least one word
                        words = upper + lower
                        lines[k], lines[k + 1] = " ".join(words[:end]), " ".join(words[end:])
                    break
            else:
                continue
            break
    return lines
