"""Import of a register file into the catalog: all of it in one transaction, or nothing.

Rows that cannot be taken (no date, a date that does not exist, an unknown Party code, the
same number/symbol and date twice...) are listed with their line and the reason in both
languages; the other rows are written in one transaction together with the register row and
the audit record, so a power cut or a full disk leaves the catalog as it was. Importing the
same file again changes nothing: an entry is identified by register + number/symbol + date,
and entries already present are counted, not duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from firmware.metadata.party_codes import PartyCodes
from firmware.metadata.types import registry
from firmware.register.columns import FIELDS, find_header, parse_overrides
from firmware.register.errors import RegisterFileError, RowError
from firmware.register.history import previous_import
from firmware.register.reader import open_table
from firmware.register.rows import Entry, cell_text, parse_entry
from firmware.store.catalog import Catalog, utcnow
from firmware.store.textfold import nfc
from sohoa_common.atomic import sha256_file

#: progress(phase, done, total): phase "read" (rows parsed) or "write" (rows stored).
Progress = Callable[[str, int, int | None], None]
PROGRESS_EVERY = 1000
DIRECTIONS = {"in": ("văn bản đến", "incoming"), "out": ("văn bản đi", "outgoing")}

_COLUMNS = [f for f in Entry.__dataclass_fields__ if f != "dup_key"] + ["dup_key"]


@dataclass(frozen=True)
class Rejected:
    line: int
    reason_vi: str
    reason_en: str


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    register: str
    direction: str
    file: str
    sha256: str
    kind: str
    encoding: str
    header_line: int
    columns: dict[str, str]
    ignored_columns: list[str]
    rows: int = 0
    imported: int = 0
    already_present: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    dry_run: bool = False
    register_id: int | None = None
    seconds: float = 0.0
    #: the period the rows cover (ISO dates; None when no row was taken)
    date_from: str | None = None
    date_to: str | None = None
    #: the earlier import of the same file still in effect (firmware.register.history)
    previous: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self, lang: str = "vi") -> str:
        if lang == "vi":
            verb = "Sẽ nhập" if self.dry_run else "Đã nhập"
            return (
                f"{verb} {self.imported} dòng vào sổ «{self.register}»; {self.already_present} "
                f"dòng đã có sẵn; {len(self.rejected)} dòng bị từ chối (trên {self.rows} dòng)."
            )
        verb = "Would import" if self.dry_run else "Imported"
        return (
            f"{verb} {self.imported} rows into register {self.register!r}; "
            f"{self.already_present} already present; {len(self.rejected)} rejected "
            f"(of {self.rows} rows)."
        )


def check_name(name: str, direction: str) -> str:
    name = " ".join(nfc(name or "").split())
    if not name or len(name) > 120:
        raise RegisterFileError(
            "bad_register_name",
            "the register needs a name of 1-120 characters",
            "Sổ đăng ký cần có tên (1-120 ký tự).",
        )
    if direction not in DIRECTIONS:
        raise RegisterFileError(
            "bad_direction",
            "direction must be 'in' (incoming) or 'out' (outgoing)",
            "Loại sổ phải là «in» (văn bản đến) hoặc «out» (văn bản đi).",
        )
    return name


def _blank(cells: list[Any]) -> bool:
    return not any(cell_text(c) for c in cells)


def import_register(
    catalog: Catalog,
    path: Path | str,
    *,
    name: str,
    direction: str,
    mapping: list[str] | None = None,
    dry_run: bool = False,
    actor: str = "cli",
    types: str = "",
    party_codes: PartyCodes | None = None,
    progress: Progress | None = None,
    refuse_same_file: bool = False,
) -> ImportReport:
    """Import ``path`` as register ``name`` (created on first import); see the module doc.

    Raises :class:`RegisterFileError` (nothing written) when the file as a whole cannot be
    taken; rejected rows are in the report. ``refuse_same_file``: a file whose hash was
    imported before (and not undone) is refused with ``already_imported`` (the screen's
    import; a dry run reports the earlier import in ``previous`` either way).
    """
    t0 = time.perf_counter()
    name = check_name(name, direction)
    overrides = parse_overrides(mapping)
    path = Path(path)
    table = open_table(path)
    try:
        head: list[tuple[int, list[Any]]] = []
        for line, cells in table.rows:
            head.append((line, cells))
            if len(head) >= 30:
                break
        cmap = find_header(head, overrides)
        report = ImportReport(
            register=name,
            direction=direction,
            file=path.name,
            sha256=sha256_file(path),
            kind=table.kind,
            encoding=table.encoding,
            header_line=cmap.header_line,
            columns=cmap.headers,
            ignored_columns=cmap.ignored,
            dry_run=dry_run,
        )
        reg_types = registry(types)
        entries: dict[str, Entry] = {}
        total = table.total

        def rows():
            yield from (r for r in head if r[0] > cmap.header_line)
            yield from table.rows

        done = 0
        for line, cells in rows():
            done += 1
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress("read", line, total)
            if _blank(cells):
                continue
            report.rows += 1
            try:
                entry = parse_entry(line, cmap.pick(cells), reg_types, party_codes)
            except RowError as exc:
                report.rejected.append(Rejected(line, exc.message_vi, exc.message_en))
                continue
            first = entries.get(entry.dup_key)
            if first is not None:
                report.rejected.append(
                    Rejected(
                        line,
                        f"Trùng với dòng {first.line} (cùng số, ký hiệu và ngày văn bản)",
                        f"duplicate of line {first.line} (same number/symbol and date)",
                    )
                )
                continue
            entries[entry.dup_key] = entry
    finally:
        table.close()
    if progress is not None:
        progress("read", total or done, total or done)
    dates = sorted(e.date for e in entries.values() if e.date)
    if dates:
        report.date_from, report.date_to = dates[0], dates[-1]
    report.previous = previous_import(catalog, report.sha256)
    if report.previous is not None and refuse_same_file and not dry_run:
        p = report.previous
        raise RegisterFileError(
            "already_imported",
            f"This file was already imported into register {p['register']!r} on "
            f"{p['at'][:10]}; nothing was imported again.",
            f"Tệp này đã được nhập vào sổ «{p['register']}» ngày "
            f"{p['at'][8:10]}/{p['at'][5:7]}/{p['at'][:4]}; không nhập lại.",
            status=409,
        )
    _store(catalog, report, list(entries.values()), actor, progress)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def _store(
    catalog: Catalog,
    report: ImportReport,
    entries: list[Entry],
    actor: str,
    progress: Progress | None,
) -> None:
    """Write the new entries, the register row and the audit record in one transaction."""
    now = utcnow()
    with catalog.transaction() as db:
        row = db.execute(
            "SELECT id, direction FROM registers WHERE name = ?", [report.register]
        ).fetchone()
        if row is not None and row[1] != report.direction:
            vi_dir = DIRECTIONS[row[1]][0]
            raise RegisterFileError(
                "direction_mismatch",
                f"register {report.register!r} is a register of {DIRECTIONS[row[1]][1]} "
                "documents; choose another name for this file",
                f"Sổ «{report.register}» là sổ {vi_dir}; hãy đặt tên khác cho tệp này.",
                status=409,
            )
        existing: set[str] = set()
        if row is not None:
            existing = {
                r[0]
                for r in db.execute(
                    "SELECT dup_key FROM register_entries WHERE register_id = ?", [row[0]]
                )
            }
        new = [e for e in entries if e.dup_key not in existing]
        report.already_present = len(entries) - len(new)
        report.imported = len(new)
        report.register_id = row[0] if row else None
        if report.dry_run:
            return
        if row is None:
            cur = db.execute(
                "INSERT INTO registers (name, direction, created_at, imported_at, source_name, "
                "source_sha256) VALUES (?,?,?,?,?,?)",
                [report.register, report.direction, now, now, report.file, report.sha256],
            )
            register_id = cur.lastrowid
        else:
            register_id = row[0]
            db.execute(
                "UPDATE registers SET imported_at = ?, source_name = ?, source_sha256 = ? "
                "WHERE id = ?",
                [now, report.file, report.sha256, register_id],
            )
        report.register_id = register_id
        # ids of one import are consecutive (one transaction under the catalog lock): the
        # audit record names the range so the import can be undone (register.history)
        first_id = (db.execute("SELECT MAX(id) FROM register_entries").fetchone()[0] or 0) + 1
        cols = ["register_id", *_COLUMNS]
        sql = (
            f"INSERT INTO register_entries ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})"
        )
        step = 5000
        for i in range(0, len(new), step):
            chunk = new[i : i + step]
            db.conn.executemany(
                sql, [[register_id, *(getattr(e, c) for c in _COLUMNS)] for e in chunk]
            )
            if progress is not None:
                progress("write", i + len(chunk), len(new))
        catalog.audit(
            actor,
            "register.import",
            register=report.register,
            register_id=register_id,
            direction=report.direction,
            file=report.file,
            sha256=report.sha256,
            rows=report.rows,
            imported=report.imported,
            already_present=report.already_present,
            rejected=len(report.rejected),
            first_entry_id=first_id,
            last_entry_id=first_id + len(new) - 1,
        )


__all__ = ["FIELDS", "ImportReport", "Rejected", "check_name", "import_register"]
