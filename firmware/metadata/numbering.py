"""Number and symbol of a document ("số và ký hiệu"): parsing and formatting.

Two conventions coexist and the kiosk must tell them apart, because the register matches on
number + symbol and the archival metadata stores them separately:

* Party (Hướng dẫn 36-HD/VPTW): ``64-CV/TW`` = number, hyphen, type code, slash, body;
* State (Decree 30/2020/NĐ-CP): ``12/QĐ-UBND`` = number, slash, type code, hyphen, body;
  letters carry no type code (``45/UBND-VP``: body, hyphen, drafting unit); legal documents
  carry the year (``30/2020/NĐ-CP``).

The *symbol* is everything after the number and its separator ("CV/TW", "QĐ-UBND").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from firmware.metadata.types import LETTER_CODE, TypeRegistry, registry
from firmware.store.textfold import fold, nfc

_PART = r"[^\W_][\w.]*"  # a code: letters/digits, may contain dots ("QĐ", "BNV.VP")
_PARTY_RE = re.compile(rf"^(\d{{1,6}})-({_PART})/({_PART}(?:-{_PART})*)$")
_STATE_YEAR_RE = re.compile(rf"^(\d{{1,6}})/((?:19|20)\d\d)/({_PART})-({_PART}(?:-{_PART})*)$")
_STATE_RE = re.compile(rf"^(\d{{1,6}})/({_PART})-({_PART}(?:-{_PART})*)$")
_SYMBOL_RE = re.compile(r"^[\w./-]+$")


@dataclass(frozen=True)
class NumberSymbol:
    """A parsed "số và ký hiệu"."""

    number: str  # digits as printed ("64", "05")
    symbol: str  # "CV/TW", "QĐ-UBND", "UBND-VP", "2020/NĐ-CP"
    kind: str  # "party" | "state"
    type_code: str  # "CV", "QĐ"...; letters without a code get "CV"
    body: str  # issuing body abbreviation ("TW", "UBND")

    @property
    def text(self) -> str:
        return format_number_symbol(self.number, self.symbol, self.kind)


def clean(text: str) -> str:
    """Drop spaces around separators and a leading "Số"/"Số:" label."""
    text = nfc(text).strip()
    # Folding keeps one character per NFC letter, so positions carry over ("Số:", "SỐ", "So").
    m = re.match(r"^s[o06]\s*[:;.]?\s*", fold(text))
    if m:
        text = text[m.end() :]
    text = re.sub(r"\s*([-/])\s*", r"\1", text)
    return text.strip(" .,;:")


def parse_number_symbol(text: str, types: TypeRegistry | None = None) -> NumberSymbol | None:
    """Parse "64-CV/TW", "Số: 12/QĐ-UBND", "45/UBND-VP", "30/2020/NĐ-CP"; None if neither.

    Type codes are looked up OCR-tolerantly ("QD" is "QĐ") and returned in their canonical
    spelling, so a symbol read as "QD-UBND" comes back as "QĐ-UBND".
    """
    types = types or registry()
    t = clean(text)
    m = _PARTY_RE.match(t)
    if m:
        number, code, body = m.groups()
        known = types.code(code)
        code = known.code if known else code
        return NumberSymbol(number, f"{code}/{body}", "party", code, body)
    m = _STATE_YEAR_RE.match(t)
    if m:
        number, year, code, body = m.groups()
        known = types.code(code)
        code = known.code if known else code
        return NumberSymbol(number, f"{year}/{code}-{body}", "state", code, body)
    m = _STATE_RE.match(t)
    if m:
        number, first, rest = m.groups()
        known = types.code(first)
        if known is not None and known.code != LETTER_CODE:
            return NumberSymbol(number, f"{known.code}-{rest}", "state", known.code, rest)
        # A letter: the first part is the body, the rest the drafting unit.
        return NumberSymbol(number, f"{first}-{rest}", "state", LETTER_CODE, first)
    return None


def symbol_kind(symbol: str) -> str:
    """Guess the convention from a symbol alone: "CV/TW" is Party, "QĐ-UBND" State."""
    if re.match(r"^(?:19|20)\d\d/", symbol):
        return "state"
    slash, hyphen = symbol.find("/"), symbol.find("-")
    if slash >= 0 and (hyphen < 0 or slash < hyphen):
        return "party"
    return "state"


def format_number_symbol(number: str | int, symbol: str, kind: str | None = None) -> str:
    """ "64" + "CV/TW" -> "64-CV/TW"; "12" + "QĐ-UBND" -> "12/QĐ-UBND"."""
    kind = kind or symbol_kind(symbol)
    return f"{number}-{symbol}" if kind == "party" else f"{number}/{symbol}"


def number_symbol_of(meta: dict[str, Any]) -> str:
    """A document's "số và ký hiệu" from its metadata, whole ("49-QĐ/UBKTTU"), however it
    was stored: whole in ``number_symbol``, typed whole in ``number``, or split into
    ``number`` and ``symbol`` (the validated form). Every screen and the register use this,
    so no reader shows "49" for a number typed with its symbol."""
    if meta.get("number_symbol"):
        return str(meta["number_symbol"])
    number, symbol = str(meta.get("number") or ""), str(meta.get("symbol") or "")
    if number and symbol:
        return format_number_symbol(number, symbol, meta.get("kind"))
    return number


def valid_symbol(symbol: str) -> bool:
    return bool(_SYMBOL_RE.match(symbol)) and any(ch.isalpha() for ch in symbol)
