"""How numbers and sizes are written wherever a person reads them: the kiosk's screens, its
doctor report and the hub's admin page show the same disk as the same figure.

Vietnamese writes the decimal comma and groups thousands with a dot ("71,9 GB", "1.234
trang"). Sizes are in SI units (1 GB = 10^9 bytes), as disks are sold and as ``df -H``
counts: the hub's fleet table once said 81,3 GB for a disk the kiosk called 75,8 GB.
"""

from __future__ import annotations

UNITS = {"GB": 10**9, "MB": 10**6, "kB": 10**3}


def number(value: float, lang: str = "vi", digits: int = 1) -> str:
    """71.94 -> "71,9" (vi) or "71.9" (en); thousands grouped by "." (vi) or "," (en)."""
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.translate(str.maketrans(",.", ".,"))
    return text


def size(n_bytes: float, unit: str | None = None, lang: str = "vi") -> str:
    """Bytes with one decimal: "71,9 GB"; ``unit`` (GB, MB, kB) or the largest that gives
    at least 1 (below 1 kB: whole bytes)."""
    if unit is None:
        unit = next((u for u, scale in UNITS.items() if n_bytes >= scale), None)
        if unit is None:
            return f"{int(n_bytes)} B"
    return f"{number(n_bytes / UNITS[unit], lang)} {unit}"
