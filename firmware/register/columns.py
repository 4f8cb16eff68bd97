"""Which column of a register file holds which field: Vietnamese headers, with or without
diacritics, as offices actually write them, plus explicit ``field=Header`` overrides.

Registers are kept in Excel by hand, so the header row is rarely the first row (a title
"SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" and blank lines sit above it) and headers vary ("Số, ký hiệu",
"Số và ký hiệu văn bản", "So ky hieu"). The header row is the first of the top rows that
names the required columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware.register.errors import RegisterFileError
from firmware.register.keys import header_key

#: field -> (Vietnamese label, English label, header aliases as folded words).
FIELDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "entry_no": (
        "Số đến / số thứ tự",
        "entry number",
        ("so den", "so thu tu", "stt", "tt", "so tt", "so vao so", "so dang ky", "so di"),
    ),
    "number_symbol": (
        "Số, ký hiệu",
        "number and symbol",
        (
            "so ky hieu",
            "so va ky hieu",
            "so ky hieu van ban",
            "so va ky hieu van ban",
            "so hieu",
            "so ky hieu vb",
            "so van ban",
        ),
    ),
    "number": ("Số", "number", ("so",)),
    "symbol": ("Ký hiệu", "symbol", ("ky hieu", "ky hieu van ban")),
    "date": (
        "Ngày văn bản",
        "document date",
        (
            "ngay van ban",
            "ngay thang van ban",
            "ngay thang nam van ban",
            "ngay ban hanh",
            "ngay thang",
            "ngay vb",
            "ngay ky",
        ),
    ),
    "received_date": ("Ngày đến", "date received", ("ngay den", "ngay nhan")),
    "issuer": (
        "Cơ quan ban hành",
        "issuing body",
        (
            "co quan ban hanh",
            "co quan to chuc ban hanh",
            "noi gui",
            "noi gui van ban",
            "tac gia",
            "noi ban hanh",
            "don vi ban hanh",
            "co quan gui",
        ),
    ),
    "subject": (
        "Trích yếu",
        "subject",
        (
            "trich yeu",
            "trich yeu noi dung",
            "ten loai va trich yeu noi dung",
            "ten loai va trich yeu",
            "noi dung",
        ),
    ),
    "doc_type": (
        "Loại văn bản",
        "document type",
        ("loai van ban", "ten loai", "ten loai van ban", "the loai"),
    ),
    "confidentiality": ("Độ mật", "confidentiality", ("do mat", "muc do mat", "do mat van ban")),
    "party_org_code": (
        "Mã tổ chức đảng",
        "Party organization code",
        ("ma to chuc dang", "ma to chuc"),
    ),
    "party_member_code": ("Mã đảng viên", "Party member code", ("ma dang vien",)),
    "notes": ("Ghi chú", "notes", ("ghi chu",)),
}

HEADER_SEARCH_ROWS = 30


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for field, (vi, en, aliases) in FIELDS.items():
        for alias in (*aliases, header_key(vi), header_key(en), header_key(field)):
            table.setdefault(alias, field)
    return table


ALIASES = _alias_table()


def parse_overrides(pairs: list[str] | None) -> dict[str, str]:
    """``["number_symbol=Số hiệu VB", "date=Ngày"]`` -> {field: header}; bad pairs raise."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        field, sep, header = pair.partition("=")
        field = field.strip()
        if not sep or not header.strip():
            raise RegisterFileError(
                "bad_mapping",
                f"column mapping {pair!r} must look like field=Header",
                f"Cách ghép cột «{pair}» phải có dạng trường=Tên cột",
            )
        if field not in FIELDS:
            raise RegisterFileError(
                "bad_mapping",
                f"unknown field {field!r} in --map (fields: {', '.join(FIELDS)})",
                f"Không có trường «{field}» (các trường: {', '.join(FIELDS)})",
            )
        out[field] = header.strip()
    return out


@dataclass(frozen=True)
class ColumnMap:
    """Where each field sits in the rows (0-based), and which headers were not used."""

    header_line: int
    columns: dict[str, int]
    headers: dict[str, str]  # field -> the header as written in the file
    ignored: list[str]

    def pick(self, row: list[Any] | tuple[Any, ...]) -> dict[str, Any]:
        n = len(row)
        return {f: row[i] for f, i in self.columns.items() if i < n}


def _map_row(row: list[Any] | tuple[Any, ...], overrides: dict[str, str]) -> dict[str, int]:
    keys = [header_key(c) if c is not None else "" for c in row]
    found: dict[str, int] = {}
    wanted = {header_key(h): f for f, h in overrides.items()}
    for i, k in enumerate(keys):
        if k in wanted:
            found[wanted[k]] = i
    for i, k in enumerate(keys):
        field = ALIASES.get(k)
        if field and field not in found and field not in overrides and i not in found.values():
            found[field] = i
    return found


def _complete(found: dict[str, int]) -> bool:
    return "date" in found and ("number_symbol" in found or "number" in found)


def missing_message(found: dict[str, int], overrides: dict[str, str]) -> RegisterFileError:
    need = []
    if "date" not in found:
        need.append("date")
    if "number_symbol" not in found and "number" not in found:
        need.append("number_symbol")
    vi = ", ".join(f"«{FIELDS[f][0]}»" for f in need)
    en = ", ".join(f"{FIELDS[f][1]} ({f})" for f in need)
    missing_overrides = [f"{f}={h}" for f, h in overrides.items() if f not in found]
    extra_en = (
        f"; --map headers not found: {', '.join(missing_overrides)}" if missing_overrides else ""
    )
    extra_vi = (
        f"; không thấy cột đã ghép: {', '.join(missing_overrides)}" if missing_overrides else ""
    )
    return RegisterFileError(
        "missing_columns",
        f"the file has no column for {en}{extra_en}; name the header with --map field=Header",
        f"Tệp thiếu cột {vi}{extra_vi}. Hãy đặt tên cột cho đúng hoặc ghép cột bằng "
        "--map trường=Tên cột.",
    )


def find_header(rows: list[tuple[int, list[Any]]], overrides: dict[str, str]) -> ColumnMap:
    """The first row among ``rows`` (line, cells) that names the required columns."""
    best: dict[str, int] = {}
    for line, row in rows[:HEADER_SEARCH_ROWS]:
        found = _map_row(row, overrides)
        if _complete(found):
            used = set(found.values())
            ignored = [
                str(c).strip() for i, c in enumerate(row) if i not in used and str(c or "").strip()
            ]
            headers = {f: str(row[i]).strip() for f, i in found.items()}
            return ColumnMap(line, found, headers, ignored)
        if len(found) > len(best):
            best = found
    raise missing_message(best, overrides)
