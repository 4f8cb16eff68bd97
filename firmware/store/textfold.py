"""Folding Vietnamese text for search: clerks type "ha noi" and expect "Hà Nội".

SQLite's ``remove_diacritics`` does not fold "đ" (a letter of its own, not a diacritic),
so folding is done here, once, for both indexed text and queries.
"""

from __future__ import annotations

import unicodedata

_EXTRA = str.maketrans({"đ": "d", "Đ": "d", "ð": "d"})


def fold(text: str) -> str:
    """Lower-case, strip combining marks, map đ to d; keeps word boundaries intact."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped).lower()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
