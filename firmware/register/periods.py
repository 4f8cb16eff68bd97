"""Parsing of selection periods and directions, apart from the catalog.

The configuration validates ``[selection]`` with these at load time, so this module must
stay import-light (no catalog, no sqlite_utils/numpy): every ``sohoa`` command loads the
configuration.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["parse_directions", "parse_periods", "period_bound"]


def period_bound(text: str, end: bool) -> dt.date:
    """ "2020" -> 1 Jan (or 31 Dec), "2020-07-01" -> that day."""
    text = text.strip()
    if re.fullmatch(r"\d{4}", text):
        return dt.date(int(text), 12, 31) if end else dt.date(int(text), 1, 1)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a year (2020) nor a date (2020-07-01)") from None


def parse_periods(spec: str) -> list[tuple[dt.date | None, dt.date | None]]:
    """ "2015-2020; 2023" or "2020-07-01..2025-06-30" -> date ranges (empty: none)."""
    out: list[tuple[dt.date | None, dt.date | None]] = []
    for raw in re.split(r"[;,]", spec or ""):
        part = raw.strip()
        if not part:
            continue
        lo: dt.date | None
        hi: dt.date | None
        m = re.fullmatch(r"(\d{4})\s*-\s*(\d{4})", part)
        if m:
            lo, hi = period_bound(m.group(1), False), period_bound(m.group(2), True)
        elif ".." in part:
            a, _, b = part.partition("..")
            lo = period_bound(a, False) if a.strip() else None
            hi = period_bound(b, True) if b.strip() else None
        else:
            lo, hi = period_bound(part, False), period_bound(part, True)
        if lo and hi and lo > hi:
            raise ValueError(f"period {part!r} ends before it starts")
        out.append((lo, hi))
    return out


def parse_directions(spec: str) -> list[str | None]:
    dirs = [d.strip() for d in re.split(r"[;,]", spec or "") if d.strip()]
    for d in dirs:
        if d not in ("in", "out"):
            raise ValueError(f"direction {d!r} must be in or out")
    return [None] if not dirs or set(dirs) == {"in", "out"} else list(dirs)
