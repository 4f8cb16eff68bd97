"""Reading a register file row by row: CSV in any encoding an office PC produces, or XLSX.

The kind of file is told by its content, not its name (an ``.csv`` saved by Excel may be
anything). CSV text is UTF-8 (with or without the BOM Excel writes), UTF-16 (Excel's
"Unicode text") or Windows-1258, the Vietnamese ANSI code page of older Windows PCs.
cp1258 writes most tone marks as separate combining characters ("a" + U+0301), so every
text is normalised to NFC: otherwise "Hà Nội" from one PC would not equal "Hà Nội" from
another. XLSX is streamed with openpyxl's read-only mode, so a 50,000-row workbook never
sits in memory as a whole. A workbook is a ZIP, and a few MB of it can inflate to gigabytes
(openpyxl keeps the whole shared-strings part in memory): before openpyxl opens it, the
members' declared uncompressed sizes are checked (Python's zipfile never yields more than
a member declares, so the declaration bounds what is read), and rows are read to at most
:data:`MAX_COLUMNS` cells whatever the sheet's declared dimension.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware.register.errors import RegisterFileError

MAX_FILE_BYTES = 200 * 1024 * 1024
#: Uncompressed bytes of a whole workbook, and of its shared-strings part (held in memory).
MAX_XLSX_UNCOMPRESSED = 256 * 1024 * 1024
MAX_SHARED_STRINGS = 48 * 1024 * 1024
#: No register has more columns than this; a sheet declaring XFD (16384) is not padded.
MAX_COLUMNS = 64
MAX_XLSX_MEMBERS = 10_000
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"  # legacy .xls (and .doc)


def decode_text(data: bytes) -> tuple[str, str]:
    """(NFC text, encoding name) of a CSV file's bytes; RegisterFileError if unreadable."""
    if data.startswith(codecs.BOM_UTF8):
        text, enc = data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, enc = data.decode("utf-16"), "utf-16"
    else:
        try:
            text, enc = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                text, enc = data.decode("cp1258"), "cp1258"
            except UnicodeDecodeError as exc:
                raise RegisterFileError(
                    "unknown_encoding",
                    f"the text is neither UTF-8 nor Windows-1258 (byte 0x{data[exc.start]:02x} "
                    f"at offset {exc.start}); save it again as 'CSV UTF-8'",
                    "Không nhận ra bảng mã của tệp (không phải UTF-8 hay Windows-1258). "
                    "Hãy lưu lại tệp dưới dạng «CSV UTF-8».",
                ) from None
    if "\x00" in text:
        raise RegisterFileError(
            "not_text",
            "the file holds binary data, not CSV text",
            "Tệp không phải văn bản CSV.",
        )
    return unicodedata.normalize("NFC", text), enc


@dataclass
class Table:
    """Rows of a register file as (line number, cells), with what was learnt reading it."""

    kind: str  # "csv" | "xlsx"
    encoding: str  # csv: detected encoding; xlsx: "xlsx"
    total: int | None  # number of rows if known up front (progress), else None
    rows: Iterator[tuple[int, list[Any]]]
    info: dict[str, Any] = field(default_factory=dict)
    _close: Any = None

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


def _csv_table(data: bytes) -> Table:
    text, enc = decode_text(data)
    sample = text[: 64 * 1024]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    total = text.count("\n") + (0 if text.endswith("\n") else 1)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        start = 1
        try:
            for cells in reader:
                yield start, cells
                start = reader.line_num + 1
        except csv.Error as exc:
            raise RegisterFileError(
                "bad_csv",
                f"line {reader.line_num}: the CSV structure is broken ({exc})",
                f"Dòng {reader.line_num}: tệp CSV bị hỏng cấu trúc (thiếu dấu ngoặc kép?).",
            ) from None

    return Table("csv", enc, total, rows(), {"delimiter": dialect.delimiter})


def _too_big_xlsx(what: str, size: int, limit: int) -> RegisterFileError:
    mb = lambda n: f"{n / 2**20:.0f} MB"  # noqa: E731
    return RegisterFileError(
        "xlsx_too_big",
        f"the Excel workbook inflates to {mb(size)} ({what}), more than the {mb(limit)} a "
        "register may have; save it again as CSV UTF-8 or split it",
        f"Tệp Excel khi giải nén quá lớn ({mb(size)}, tối đa {mb(limit)}); có thể tệp bị "
        "hỏng hoặc cố ý gây hại. Hãy lưu lại thành CSV UTF-8 hoặc chia nhỏ sổ.",
    )


def check_xlsx_sizes(path: Path) -> None:
    """Refuse a workbook whose ZIP members declare more than a register can need."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise RegisterFileError(
            "bad_xlsx",
            f"the Excel workbook cannot be read ({exc})",
            "Không đọc được tệp Excel (tệp hỏng hoặc không phải .xlsx).",
        ) from None
    if len(infos) > MAX_XLSX_MEMBERS:
        raise _too_big_xlsx(f"{len(infos)} parts", 0, MAX_XLSX_UNCOMPRESSED)
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise _too_big_xlsx("all parts", total, MAX_XLSX_UNCOMPRESSED)
    for info in infos:
        if info.filename.lower().endswith("sharedstrings.xml") and (
            info.file_size > MAX_SHARED_STRINGS
        ):
            raise _too_big_xlsx("shared strings", info.file_size, MAX_SHARED_STRINGS)


def _xlsx_table(path: Path) -> Table:
    import zipfile

    from openpyxl import load_workbook

    check_xlsx_sizes(path)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise RegisterFileError(
            "bad_xlsx",
            f"the Excel workbook cannot be read ({exc})",
            "Không đọc được tệp Excel (tệp hỏng hoặc không phải .xlsx).",
        ) from None
    ws = wb.worksheets[0]
    # a read-only sheet's size is None when its file declares none (the stubs say int)
    total: int | None = ws.max_row if isinstance(ws.max_row, int) else None
    if isinstance(ws.max_column, int) and ws.max_column > MAX_COLUMNS:
        # A declared A1:XFD1048576 would pad every row to 16384 cells: read what is there.
        ws.reset_dimensions()
        total = None
    cols = min(ws.max_column, MAX_COLUMNS) if isinstance(ws.max_column, int) else MAX_COLUMNS

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for i, cells in enumerate(ws.iter_rows(values_only=True, max_col=cols), start=1):
            yield i, list(cells)

    return Table("xlsx", "xlsx", total, rows(), {"sheet": ws.title}, wb.close)


def open_table(path: Path | str) -> Table:
    """Open ``path`` as a table of rows; RegisterFileError when it is no register file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise RegisterFileError(
            "unreadable",
            f"cannot read {path.name}: {exc.strerror or exc}",
            f"Không đọc được tệp {path.name}.",
        ) from None
    if size == 0:
        raise RegisterFileError("empty_file", f"{path.name} is empty", f"Tệp {path.name} trống.")
    if size > MAX_FILE_BYTES:
        raise RegisterFileError(
            "file_too_big",
            f"{path.name} is larger than {MAX_FILE_BYTES // 2**20} MB",
            f"Tệp {path.name} quá lớn (trên {MAX_FILE_BYTES // 2**20} MB).",
        )
    if head.startswith(_ZIP):
        return _xlsx_table(path)
    if head.startswith(_OLE):
        raise RegisterFileError(
            "legacy_xls",
            "old Excel 97-2003 (.xls) files are not read; save it as .xlsx or CSV UTF-8",
            "Tệp Excel đời cũ (.xls) không đọc được; hãy lưu lại thành .xlsx hoặc CSV UTF-8.",
        )
    return _csv_table(path.read_bytes())
