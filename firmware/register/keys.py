"""Normalized keys that let a scanned document find its line in the register.

The register is typed by a clerk ("64-CV/TW", "Số 05/QĐ-UBND"); the scanned document's
number comes from OCR, which confuses O with 0, l and I with 1, drops spaces and loses
diacritics ("QD" for "QĐ"). Both sides are reduced to the same canonical form: folded
(no diacritics, đ -> d), upper case, letters and digits only, each OCR look-alike mapped to
one representative, leading zeros of the number dropped. Equal keys are an exact match;
near keys are scored by :mod:`firmware.register.matching`.
"""

from __future__ import annotations

import re

from firmware.metadata.numbering import clean
from firmware.store.textfold import fold

#: OCR look-alikes mapped to one representative (digits win: numbers matter most).
_LOOKALIKES = str.maketrans({"O": "0", "Q": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2"})
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def number_symbol_key(text: str) -> str:
    """ "Số: 05/QĐ-UBND", "5/QD-UBND", "5 / QĐ - UBND" and "S/QD-UBND" share one key."""
    if not text:
        return ""
    key = _NOT_ALNUM.sub("", fold(clean(text)).upper()).translate(_LOOKALIKES)
    return key.lstrip("0") or ("0" if key else "")


def text_key(text: str) -> str:
    """Folded words of a subject or issuer, for similarity scores."""
    return " ".join(fold(text or "").split())


def header_key(text: str) -> str:
    """A column header reduced to folded words: "Số, ký hiệu" -> "so ky hieu"."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", fold(str(text or ""))).split())
