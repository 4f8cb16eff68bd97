"""The reference list of Party organization and member codes ("mã tổ chức đảng", "mã đảng
viên") that sealed metadata and register rows are checked against.

Until the fleet configuration supplies it, the list is a CSV file named by ``[metadata]
party_codes_file``: a header row with a code column ("code" / "Mã") and a kind column
("kind" / "Loại": ``org`` or ``member``, or "tổ chức" / "đảng viên"), optionally a name.
The file is read once and again only when it changes (sealing consults it every time).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from firmware.errors import KioskError
from firmware.store.textfold import fold

_CODE_HEADERS = {"code", "ma", "ma so"}
_KIND_HEADERS = {"kind", "loai", "loai ma"}
_NAME_HEADERS = {"name", "ten"}
_ORG = {"org", "organization", "to chuc", "to chuc dang", "tcd"}
_MEMBER = {"member", "dang vien", "dv"}


class PartyCodesError(KioskError):
    """The reference list cannot be read; messages in both languages."""

    def __init__(self, message_en: str, message_vi: str):
        super().__init__("party_codes_unreadable", message_en, message_vi, status=503)


@dataclass(frozen=True)
class PartyCodes:
    """Known codes by kind; ``names`` maps a code to its name when the list gives one."""

    orgs: frozenset[str]
    members: frozenset[str]
    names: dict[str, str]
    source: str

    def problem(self, field: str, code: str) -> tuple[str, str] | None:
        """(vi, en) message when ``code`` is not on the list for ``field``, else None."""
        if field == "party_org_code":
            if code.upper() in self.orgs:
                return None
            return (
                f"Mã tổ chức đảng {code} không có trong danh sách mã tham chiếu; "
                "hãy kiểm tra lại mã trên văn bản.",
                f"Party organization code {code!r} is not in the reference list ({self.source})",
            )
        if code.upper() in self.members:
            return None
        return (
            f"Mã đảng viên {code} không có trong danh sách mã tham chiếu; "
            "hãy kiểm tra lại mã trên văn bản.",
            f"Party member code {code!r} is not in the reference list ({self.source})",
        )


def _key(text: str) -> str:
    return " ".join(fold(text or "").replace("_", " ").split())


def parse_party_codes(text: str, source: str = "") -> PartyCodes:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise PartyCodesError(f"{source}: the list is empty", "Danh sách mã trống.")
    head = [_key(h) for h in rows[0]]
    try:
        ci = next(i for i, h in enumerate(head) if h in _CODE_HEADERS)
        ki = next(i for i, h in enumerate(head) if h in _KIND_HEADERS)
    except StopIteration:
        raise PartyCodesError(
            f"{source}: the header must name a code column (code/Mã) and a kind column (kind/Loại)",
            "Danh sách mã phải có cột «Mã» và cột «Loại» (tổ chức / đảng viên).",
        ) from None
    ni = next((i for i, h in enumerate(head) if h in _NAME_HEADERS), None)
    orgs: set[str] = set()
    members: set[str] = set()
    names: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        code = row[ci].strip().upper() if ci < len(row) else ""
        kind = _key(row[ki]) if ki < len(row) else ""
        if not code:
            continue
        if kind in _ORG:
            orgs.add(code)
        elif kind in _MEMBER:
            members.add(code)
        else:
            raise PartyCodesError(
                f"{source}:{line}: kind {row[ki]!r} is neither org nor member",
                f"Dòng {line} của danh sách mã: loại «{row[ki]}» không phải tổ chức hay đảng viên.",
            )
        if ni is not None and ni < len(row) and row[ni].strip():
            names[code] = row[ni].strip()
    return PartyCodes(frozenset(orgs), frozenset(members), names, source)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> PartyCodes:
    from firmware.register.errors import RegisterFileError
    from firmware.register.reader import decode_text

    try:
        text, _ = decode_text(Path(path).read_bytes())
    except RegisterFileError as exc:
        raise PartyCodesError(exc.message_en, exc.message_vi) from None
    return parse_party_codes(text, Path(path).name)


def load_party_codes(path: str | Path) -> PartyCodes:
    """The list in ``path`` (cached until the file changes); PartyCodesError if unreadable."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise PartyCodesError(
            f"the Party code list {p} cannot be read: {exc.strerror or exc}",
            "Không đọc được danh sách mã tổ chức đảng / đảng viên; hãy báo cán bộ kỹ thuật.",
        ) from None
    return _load(str(p), st.st_mtime_ns, st.st_size)
