"""How the screens write dates, times and numbers: the way Vietnamese clerks read them.

Dates are dd/mm/yyyy in both languages (the catalog keeps ISO dates); numbers and sizes
come from :mod:`sohoa_common.numbers` (decimal comma, SI sizes), which the hub's admin
page uses too. Every template goes through these filters (registered in
:mod:`kiosk_ui.screens`), so no screen shows a raw "2022-02-17" or "71.9".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sohoa_common.numbers import number, size

__all__ = ["DATE_FORMAT", "number", "size", "vi_date", "vi_datetime"]

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
