"""One register row -> one entry, validated, or a :class:`RowError` saying why not.

The rules are those of the metadata model (dates, document types, confidentiality levels,
number and symbol, Party codes), reused rather than restated, so a register row and a
sealed document can never disagree about what a valid date or symbol is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

from firmware.metadata.model import parse_date
from firmware.metadata.numbering import format_number_symbol, parse_number_symbol
from firmware.metadata.party_codes import PartyCodes
from firmware.metadata.types import TypeRegistry
from firmware.register.errors import RowError
from firmware.register.keys import number_symbol_key, text_key
from firmware.routing import RoutingError, parse_level
from firmware.store.textfold import nfc

_EARLIEST = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class Entry:
    """A register entry as stored (``register_entries`` columns)."""

    line: int
    entry_no: str
    number: str
    symbol: str
    number_symbol: str
    ns_key: str
    dup_key: str
    date: str  # ISO
    year: int
    received_date: str | None
    doc_type: str
    issuer: str
    subject: str
    confidentiality: str
    party_org_code: str
    party_member_code: str
    notes: str


def cell_text(value: Any) -> str:
    """A cell as text: Excel's 12.0 is "12", dates ISO, whitespace collapsed, NFC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "x" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return " ".join(nfc(str(value)).split())


def register_date(value: Any, what_vi: str, what_en: str) -> dt.date | None:
    """A date cell (Excel date, dd/mm/yyyy, d/m/yyyy, yyyy-mm-dd) or None when empty."""
    d: dt.date | None
    if isinstance(value, dt.datetime):
        d = value.date()
    elif isinstance(value, dt.date):
        d = value
    else:
        text = cell_text(value)
        if not text:
            return None
        try:
            d = parse_date(text)
        except PydanticCustomError as exc:
            vi = (exc.context or {}).get("vi", exc.message())
            raise RowError(f"{what_en}: {exc.message()}", f"{what_vi}: {vi}") from None
        if d is None:
            return None
    if d > dt.date.today():
        raise RowError(f"{what_en} {d} is in the future", f"{what_vi} ở tương lai: {d:%d/%m/%Y}")
    if d < _EARLIEST:
        raise RowError(f"{what_en} {d} is before 1900", f"{what_vi} quá sớm: {d:%d/%m/%Y}")
    return d


def parse_entry(
    line: int,
    cells: dict[str, Any],
    types: TypeRegistry,
    party_codes: PartyCodes | None = None,
) -> Entry:
    """Validate one row's cells (field -> value); raise :class:`RowError`."""
    text = {k: cell_text(v) for k, v in cells.items()}
    date = register_date(cells.get("date"), "Ngày văn bản", "document date")
    if date is None:
        raise RowError("no document date", "Thiếu ngày văn bản")
    received = register_date(cells.get("received_date"), "Ngày đến", "date received")
    number, symbol = text.get("number", ""), text.get("symbol", "")
    shown = text.get("number_symbol", "")
    if not shown and number:
        shown = format_number_symbol(number, symbol) if symbol else number
    parsed = parse_number_symbol(shown, types) if shown else None
    if parsed is not None:
        number, symbol = parsed.number, parsed.symbol
        shown = parsed.text
    elif shown and not number:
        number = shown  # "Không số", a letter from a citizen...: kept as written
    subject = text.get("subject", "")
    if not shown and not subject:
        raise RowError("neither number/symbol nor subject", "Thiếu cả số, ký hiệu và trích yếu")
    doc_type = ""
    raw_type = text.get("doc_type", "")
    if raw_type:
        known = types.lookup(raw_type)
        doc_type = known.code if known else raw_type
    elif parsed is not None and types.code(parsed.type_code) is not None:
        doc_type = parsed.type_code
    try:
        level = parse_level(text.get("confidentiality") or None).value
    except RoutingError as exc:
        raise RowError(exc.message_en, exc.message_vi) from None
    codes = {}
    for field in ("party_org_code", "party_member_code"):
        code = text.get(field, "").upper()
        if code and party_codes is not None:
            problem = party_codes.problem(field, code)
            if problem:
                raise RowError(problem[1], problem[0])
        codes[field] = code
    key = number_symbol_key(shown)
    dup = f"{key}|{date.isoformat()}" if key else f"~{text_key(subject)[:120]}|{date.isoformat()}"
    return Entry(
        line=line,
        entry_no=text.get("entry_no", ""),
        number=number,
        symbol=symbol,
        number_symbol=shown,
        ns_key=key,
        dup_key=dup,
        date=date.isoformat(),
        year=date.year,
        received_date=received.isoformat() if received else None,
        doc_type=doc_type,
        issuer=text.get("issuer", ""),
        subject=subject,
        confidentiality=level,
        party_org_code=codes["party_org_code"],
        party_member_code=codes["party_member_code"],
        notes=text.get("notes", ""),
    )
