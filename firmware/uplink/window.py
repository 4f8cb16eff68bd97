"""The optional daily upload window ("HH:MM-HH:MM", local time, may span midnight).

Offices with one shared line ask for uploads outside office hours; the window is checked
before every attempt, and an upload in flight when the window closes stops after its chunk.
"""

from __future__ import annotations

import datetime as dt
import re

_HHMM = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def _minutes(text: str) -> int:
    m = _HHMM.match(text)
    if not m:
        raise ValueError(f"{text.strip()!r} is not a time HH:MM (00:00-23:59)")
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_window(spec: str) -> tuple[int, int] | None:
    """``"18:00-07:00"`` -> (1080, 420) minutes after midnight; empty -> None (always open)."""
    if not spec.strip():
        return None
    parts = spec.split("-")
    if len(parts) != 2:
        raise ValueError(f'upload window {spec!r} must look like "HH:MM-HH:MM"')
    start, end = _minutes(parts[0]), _minutes(parts[1])
    if start == end:
        raise ValueError(f"upload window {spec!r} is empty (start equals end)")
    return start, end


def is_open(spec: str, now: dt.datetime) -> bool:
    window = parse_window(spec)
    if window is None:
        return True
    start, end = window
    minute = now.hour * 60 + now.minute
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def seconds_until_open(spec: str, now: dt.datetime) -> float:
    """0 when the window is open, else the seconds until it opens next."""
    window = parse_window(spec)
    if window is None or is_open(spec, now):
        return 0.0
    start = window[0]
    opening = now.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)
    if opening <= now:
        opening += dt.timedelta(days=1)
    return (opening - now).total_seconds()
