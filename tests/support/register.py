"""Register files for the tests, written by the tests themselves (CSV in the encodings
office PCs produce, XLSX through openpyxl)."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from firmware.register.demo import HEADER  # the columns office registers have

TITLE = "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN"
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def to_cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: base letters precomposed, tone marks combining."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            out.append(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
        out.append((base + "".join(c for c in parts if c in _TONES)).encode("cp1258"))
    return b"".join(out)


def csv_text(rows: list[list[Any]], header: list[str] = HEADER, title: bool = True) -> str:
    def cell(v: Any) -> str:
        s = str(v)
        return f'"{s}"' if ("," in s or '"' in s) else s

    lines = ([TITLE, ""] if title else []) + [",".join(cell(c) for c in header)]
    lines += [",".join(cell(c) for c in r) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def write_csv(path: Path, rows: list[list[Any]], encoding: str = "utf-8", **kw: Any) -> Path:
    text = csv_text(rows, **kw)
    if encoding == "cp1258":
        data = to_cp1258(text)
    elif encoding == "utf-8-sig":
        data = text.encode("utf-8-sig")
    else:
        data = text.encode(encoding)
    path.write_bytes(data)
    return path


def write_xlsx(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sổ đến")
    ws.append([TITLE])
    ws.append([])
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def sample_rows(n: int, start: int = 1, year0: int = 2020) -> list[list[Any]]:
    """``n`` plausible incoming letters, resolutions and decisions over five years."""
    kinds = [
        ("CV", "Công văn", "{i}-CV/TU"),
        ("NQ", "Nghị quyết", "{i}-NQ/TU"),
        ("QĐ", "Quyết định", "{i}/QĐ-UBND"),
    ]
    rows = []
    for i in range(start, start + n):
        code, name, fmt = kinds[i % 3]
        rows.append(
            [
                i,
                fmt.format(i=i),
                f"{i % 28 + 1}/{i % 12 + 1}/{year0 + i % 5}",
                "Tỉnh ủy Nam Định" if code != "QĐ" else "Ủy ban nhân dân tỉnh",
                f"V/v số hóa tài liệu lưu trữ đợt {i}",
                name,
                "Thường",
            ]
        )
    return rows
