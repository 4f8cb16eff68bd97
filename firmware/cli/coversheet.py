"""``sohoa coversheet``: print QR cover sheets and batch separators as one A4 PDF.

Where the sheets' contents come from:

- ``--record CODE [--from-seq N] [--count K]``: documents of a record file (mã hồ sơ),
  sequence numbers N .. N+K-1 (without ``--from-seq`` the kiosk numbers them at sealing);
- ``--entry "64-CV/TW|10/04/2025|CV|V/v ...|Issuer|Mật"`` (repeatable): number and symbol,
  date, type, subject, then optionally issuing body and confidentiality;
- ``--csv FILE``: one sheet per line of a register-like table (the same column names,
  encodings and date forms as ``sohoa register import``);
- ``--register NAME --entries 12-40``: entries of a register already imported here;
- ``--separator --count K``: batch separator sheets 1..K.

``--register`` and ``--direction`` name the register on sheets made from ``--entry`` or
``--csv``; ``--record`` adds the record file (and sequences) to entry sheets.

Exit status: 0 every sheet printed; 2 some entries were skipped (each named on stderr, the
others printed); 1 nothing printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from firmware.cli.args import settings_from_args
from firmware.config import Settings
from firmware.coversheet.payload import (
    SUBJECT_CHARS,
    CoverSheet,
    PayloadError,
    SeparatorSheet,
    Sheet,
    shorten,
)
from firmware.errors import KioskError

MAX_SHEETS = 1000


def _usage(message_en: str, message_vi: str) -> KioskError:
    return KioskError("bad_arguments", message_en, message_vi, status=400)


def parse_range(spec: str) -> list[tuple[int, int]]:
    """ "12-40", "7", "3,5,9-12" -> inclusive ranges; KioskError when unreadable."""
    out: list[tuple[int, int]] = []
    for part in spec.replace(" ", "").split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise _usage(
                f"entry range {spec!r} must look like 12-40 or 3,5,9-12",
                f"Khoảng số đăng ký «{spec}» phải có dạng 12-40 hoặc 3,5,9-12",
            )
        a, b = int(lo), int(hi) if dash else int(lo)
        out.append((min(a, b), max(a, b)))
    return out


def parse_entry_spec(spec: str) -> dict[str, str]:
    """``number/symbol|date|type|subject[|issuer[|confidentiality]]`` -> field values."""
    names = ("number", "date", "doc_type", "subject", "issuer", "confidentiality")
    parts = [p.strip() for p in spec.split("|")]
    if len(parts) > len(names):
        raise _usage(
            f"--entry {spec!r} has {len(parts)} parts; at most {len(names)}: "
            "number/symbol|date|type|subject|issuer|confidentiality",
            f"--entry «{spec}» có quá nhiều phần (tối đa {len(names)}): "
            "số, ký hiệu|ngày|loại|trích yếu|cơ quan ban hành|độ mật",
        )
    return {n: v for n, v in zip(names, parts, strict=False) if v}


def _entry_sheet(values: dict[str, Any], args: argparse.Namespace, types: str) -> CoverSheet:
    vals = dict(values)
    if vals.get("subject"):
        vals["subject"] = shorten(vals["subject"], args.subject_chars)
    if args.register and "register" not in vals:
        vals["register"] = args.register
    if args.direction and "direction" not in vals:
        vals["direction"] = args.direction
    if args.record and "record_code" not in vals:
        vals["record_code"] = args.record
    return CoverSheet.build(types=types, **vals)


def _csv_entries(path: Path, types: str) -> list[tuple[str, dict[str, Any] | PayloadError]]:
    """(label, values or the reason the line is refused) per data line of the table."""
    try:
        from firmware.register.columns import find_header
        from firmware.register.errors import RowError
        from firmware.register.reader import open_table
        from firmware.register.rows import parse_entry
    except ModuleNotFoundError:
        raise KioskError(
            "register_unavailable",
            "reading tables needs the register module (firmware.register), absent here",
            "Máy chưa có chức năng sổ đăng ký để đọc bảng; hãy dùng --entry.",
            status=501,
        ) from None
    from firmware.metadata.types import registry

    table = open_table(path)
    try:
        head = []
        out: list[tuple[str, dict[str, Any] | PayloadError]] = []
        rows = iter(table.rows)
        for line, cells in rows:
            head.append((line, cells))
            if len(head) >= 30:
                break
        cmap = find_header(head, {})
        pending = [(ln, c) for ln, c in head if ln > cmap.header_line]
        for line, cells in [*pending, *rows]:
            if not any(str(c or "").strip() for c in cells):
                continue
            label = f"dòng {line} / line {line}"
            try:
                e = parse_entry(line, cmap.pick(cells), registry(types))
            except RowError as exc:
                out.append((label, PayloadError("fields", exc.message_en, exc.message_vi)))
                continue
            values: dict[str, Any] = {
                "entry": e.entry_no,
                "number": e.number_symbol,
                "date": e.date,
                "doc_type": e.doc_type,
                "issuer": e.issuer,
                "subject": e.subject,
                "confidentiality": e.confidentiality,
            }
            out.append((label, {k: v for k, v in values.items() if v}))
        return out
    finally:
        table.close()


def _register_entries(
    settings: Settings, name: str, spec: str
) -> list[tuple[str, dict[str, Any] | PayloadError]]:
    """Entries ``spec`` (entry numbers) of the imported register ``name``."""
    import sqlite3

    from firmware.store.catalog import Catalog
    from firmware.store.paths import DataPaths

    try:
        from firmware.register import matching
    except ModuleNotFoundError:
        raise KioskError(
            "register_unavailable",
            "this kiosk has no register module; give the entries with --csv FILE",
            "Máy chưa có sổ đăng ký; hãy cho danh sách văn bản bằng --csv TỆP.",
            status=501,
        ) from None
    ranges = parse_range(spec)
    path = DataPaths(Path(settings.data_dir)).catalog
    if not path.exists():
        raise KioskError(
            "no_register",
            f"no catalog at {path}: import the register first (sohoa register import)",
            "Chưa có sổ đăng ký trên máy; hãy nhập sổ trước (sohoa register import).",
        )
    cat = Catalog(path)
    try:
        try:
            rows = cat.db.execute(
                "SELECT e.id, e.entry_no FROM register_entries e "
                "JOIN registers r ON r.id = e.register_id WHERE r.name = ? ORDER BY e.line",
                [name],
            ).fetchall()
            names = [r[0] for r in cat.db.execute("SELECT name FROM registers ORDER BY name")]
        except sqlite3.OperationalError:
            rows, names = [], []
        if not rows:
            known = ", ".join(names) or "none / chưa có"
            raise KioskError(
                "no_register",
                f"no register named {name!r} with entries here (registers: {known})",
                f"Không có sổ «{name}» trên máy (các sổ: {known}).",
            )
        wanted = [
            (rid, no)
            for rid, no in rows
            if no.isdigit() and any(lo <= int(no) <= hi for lo, hi in ranges)
        ]
        if not wanted:
            raise KioskError(
                "no_entries",
                f"register {name!r} has no entry numbered {spec}",
                f"Sổ «{name}» không có số đăng ký {spec}.",
            )
        out: list[tuple[str, dict[str, Any] | PayloadError]] = []
        for rid, no in sorted(wanted, key=lambda r: int(r[1])):
            e = matching.entry(cat, rid)
            values = {
                "register": e["register"],
                "direction": e["direction"],
                "entry": no,
                "number": e["number_symbol"],
                "date": e["date"],
                "doc_type": e["doc_type"],
                "issuer": e["issuer"],
                "subject": e["subject"],
                "confidentiality": e["confidentiality"],
            }
            out.append((f"số {no} / entry {no}", {k: v for k, v in values.items() if v}))
        return out
    finally:
        cat.close()


def build_sheets(args: argparse.Namespace, settings: Settings) -> tuple[list[Sheet], list[str]]:
    """The sheets the arguments ask for, and one line per skipped entry."""
    types = settings.metadata.document_types
    count = args.count
    if not 1 <= count <= MAX_SHEETS:
        raise _usage(f"--count must be 1..{MAX_SHEETS}", f"--count phải từ 1 đến {MAX_SHEETS}")
    if args.separator:
        if args.entry or args.csv or args.entries or args.record:
            raise _usage(
                "--separator prints separators only; print cover sheets separately",
                "--separator chỉ in tờ tách lô; hãy in tờ bìa riêng",
            )
        return [SeparatorSheet(i) for i in range(1, count + 1)], []
    sources: list[tuple[str, dict[str, Any] | PayloadError]] = []
    if args.entries:
        if not args.register:
            raise _usage("--entries needs --register NAME", "--entries cần --register TÊN_SỔ")
        sources += _register_entries(settings, args.register, args.entries)
    for spec in args.entry or []:
        sources.append((f"--entry {spec}", parse_entry_spec(spec)))
    if args.csv:
        sources += _csv_entries(args.csv, types)
    sheets: list[Sheet] = []
    skipped: list[str] = []
    if not sources:
        if not args.record:
            raise _usage(
                "say what to print: --record, --entry, --csv, --register --entries or --separator",
                "Hãy chọn nội dung cần in: --record, --entry, --csv, --register --entries "
                "hoặc --separator",
            )
        seqs = [args.from_seq + i for i in range(count)] if args.from_seq else [None] * count
        for seq in seqs:
            sheets.append(CoverSheet.build(types=types, record_code=args.record, sequence=seq))
        return sheets, skipped
    seq = args.from_seq
    for label, values in sources:
        try:
            if isinstance(values, PayloadError):
                raise values
            if args.record and seq is not None:
                values = {**values, "sequence": seq}
            sheets.append(_entry_sheet(values, args, types))
            if seq is not None:
                seq += 1
        except PayloadError as exc:
            skipped.append(f"{label}: {exc.message_vi} / {exc.message_en}")
    if len(sheets) > MAX_SHEETS:
        raise _usage(
            f"{len(sheets)} sheets asked; print at most {MAX_SHEETS} per file",
            f"Yêu cầu {len(sheets)} tờ; mỗi tệp in tối đa {MAX_SHEETS} tờ",
        )
    return sheets, skipped


def cmd_coversheet(args: argparse.Namespace) -> int:
    from firmware.coversheet.printing import render_pdf

    settings = settings_from_args(args)
    try:
        sheets, skipped = build_sheets(args, settings)
    except PayloadError as exc:
        raise KioskError(f"coversheet_{exc.code}", exc.message_en, exc.message_vi) from exc
    for line in skipped:
        print(f"bỏ qua / skipped: {line}", file=sys.stderr)
    if not sheets:
        print("Không có tờ nào để in / nothing to print", file=sys.stderr)
        return 1
    try:
        printed = render_pdf(sheets, args.out)
    except PayloadError as exc:
        raise KioskError(f"coversheet_{exc.code}", exc.message_en, exc.message_vi) from exc
    except OSError as exc:
        raise KioskError(
            "write_failed",
            f"cannot write {args.out}: {exc.strerror or exc}",
            f"Không ghi được tệp {args.out}.",
        ) from exc
    for p in printed:
        print(f"{p.page}\tQR v{p.qr_version} {p.qr_mm:.0f} mm\t{p.summary}")
    print(args.out)
    return 2 if skipped else 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "coversheet",
        help="print QR cover sheets and batch separators (A4 PDF)",
        description="Print QR cover sheets (a register entry and/or a record file place) "
        "and batch separator sheets as one A4 PDF. When the kiosk's camera or scanner sees "
        "one, it starts a new document with that metadata (cover sheet) or finishes the "
        "current one (separator); the sheets themselves are never archived.",
    )
    p.add_argument("--record", metavar="CODE", help="record file code (mã hồ sơ)")
    p.add_argument("--from-seq", type=int, metavar="N", help="first sequence in the record")
    p.add_argument("--count", type=int, default=1, help="sheets for --record / --separator")
    p.add_argument(
        "--entry",
        action="append",
        metavar="SPEC",
        help='"number/symbol|date|type|subject[|issuer[|confidentiality]]" (repeatable)',
    )
    p.add_argument("--csv", type=Path, metavar="FILE", help="table of entries (CSV or XLSX)")
    p.add_argument("--register", metavar="NAME", help="register name (with --entries: read it)")
    p.add_argument("--entries", metavar="RANGE", help="entry numbers of --register, e.g. 12-40")
    p.add_argument("--direction", help="register direction: in/đến or out/đi")
    p.add_argument("--separator", action="store_true", help="batch separator sheets")
    p.add_argument(
        "--subject-chars",
        type=int,
        default=SUBJECT_CHARS,
        help=f"subject characters carried in the QR (default {SUBJECT_CHARS})",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="PDF file to write")
    p.set_defaults(func=cmd_coversheet)
