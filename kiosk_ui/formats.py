"""How the screens write dates, times and numbers: the way Vietnamese clerks read them.

Dates are dd/mm/yyyy in both languages (the catalog keeps ISO dates); Vietnamese writes
the decimal comma and groups thousands with a dot ("71,9 GB", "1.234 trang"). Every
template goes through these filters (registered in :mod:`kiosk_ui.screens`), so no screen
shows a raw "2022-02-17" or "71.9".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

DATE_FORMAT = "%d/%m/%Y"


def vi_date(value: Any) -> str:
    """ISO date or date-time -> "17/02/2022"; anything else is returned as text."""
    if value in (None, ""):
        return ""
    if isinstance(value, dt.date):
        return value.strftime(DATE_FORMAT)
    text = str(value)
    try:
        return dt.date.fromisoformat(text[:10]).strftime(DATE_FORMAT)
    except ValueError:
        return text


def vi_datetime(value: Any) -> str:
    """ISO date-time (UTC as stored) -> local "17/02/2022 14:05"."""
    if value in (None, ""):
        return ""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.strftime(f"{DATE_FORMAT} %H:%M")


def number(value: float, lang: str = "vi", digits: int = 1) -> str:
    """71.94 -> "71,9" (vi) or "71.9" (en); thousands grouped by "." (vi) or "," (en)."""
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.translate(str.maketrans(",.", ".,"))
    return text


def size(n_bytes: float, unit: str = "GB", lang: str = "vi") -> str:
    """Bytes in GB or MB with one decimal: "71,9 GB"."""
    scale = {"GB": 1024**3, "MB": 1024**2, "KB": 1024}[unit]
    return f"{number(n_bytes / scale, lang)} {unit}"
