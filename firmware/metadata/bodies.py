"""Abbreviations of issuing bodies in symbols ("64-CV/TW", "12/QĐ-UBND"), and the names of
bodies the kiosk already knows, to check and repair what OCR read.

OCR reads "Đ" as "D" in small bold capitals ("74-KH/DU" for "74-KH/ĐU"): a body code
whose folded form is exactly one known code is given that code's spelling. The list holds
the standard Party codes (Hướng dẫn 36-HD/VPTW: Trung ương, tỉnh/thành/huyện/quận/thị ủy,
đảng ủy, their boards) and the common State ones (Decree 30/2020/NĐ-CP appendix usage).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz import fuzz, process

from firmware.store.textfold import fold

PARTY_BODY_CODES = """
TW TU HU QU TXU TPU ĐU ĐUK ĐUQS ĐUCA BCS BCSĐ BTGTW BTCTW BDVTW BNCTW UBKTTW VPTW
BTGTU BTCTU BDVTU BNCTU UBKTTU VPTU BTGHU BTCHU BDVHU UBKTHU VPHU BTGQU BTCQU UBKTQU
UBKTĐU VPĐU ĐTN CB CĐ HNDT HPN MTTQ
"""
STATE_BODY_CODES = """
CP TTg VPCP BNV BTC BTP BYT BGDĐT BKHĐT BTTTT BXD BNNPTNT BVHTTDL BCA BQP
UBND HĐND SNV STC STP SYT SGDĐT SKHĐT STTTT SXD SNNPTNT SVHTTDL STNMT SCT SLĐTBXH
VP NC KTN VX TH VT TCCB TCKH KHTC QLĐT TNMT LĐTBXH GDĐT YT TP
"""


@lru_cache(maxsize=1)
def _by_fold() -> dict[str, str]:
    """Folded code -> its spelling, for codes whose folded form is unique."""
    seen: dict[str, set[str]] = {}
    for code in (PARTY_BODY_CODES + STATE_BODY_CODES).split():
        seen.setdefault(fold(code), set()).add(code)
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}


@lru_cache(maxsize=1)
def known_codes() -> frozenset[str]:
    """Every body code of the Party and State lists, as spelled."""
    return frozenset((PARTY_BODY_CODES + STATE_BODY_CODES).split())


def canonical_code(code: str) -> str:
    """ "DU" -> "ĐU", "HDND" -> "HĐND", "SGDDT" -> "SGDĐT"; unknown codes unchanged.

    Only letters OCR confuses are changed (D/Đ and case): the folded form must be equal.
    """
    hit = _by_fold().get(fold(code))
    return hit if hit is not None else code


def canonical_symbol(symbol: str) -> str:
    """Apply :func:`canonical_code` to each part of a symbol ("KH/DU" -> "KH/ĐU")."""
    out, part = [], ""
    for ch in symbol + "\0":
        if ch in "/-\0":
            out.append(canonical_code(part) if part else part)
            if ch != "\0":
                out.append(ch)
            part = ""
        else:
            part += ch
    return "".join(out)


def snap_issuer(text: str, known: Iterable[str], min_score: float = 90.0) -> str | None:
    """The known issuing body ``text`` names (register issuers, the Party organization
    list), compared without diacritics, case or the line separator; None if none is close.
    """
    names = [n for n in dict.fromkeys(known) if n and n.strip()]
    if not names or not text:
        return None

    def key(s: str) -> str:
        return " ".join(fold(s).replace(" - ", " ").replace("-", " ").split())

    hit = process.extractOne(key(text), [key(n) for n in names], scorer=fuzz.ratio)
    if hit is None or hit[1] < min_score:
        return None
    return names[hit[2]]
