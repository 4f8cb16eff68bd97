"""Custody of originals: which paper originals are out of the archive, with whom, since when.

A document's original is checked out when its scanning starts and returned when it is
sealed or discarded: the catalog does this itself (triggers in
:mod:`firmware.register.schema`). An archivist may also take an original out by its
register entry before scanning (``sohoa register checkout``); linking the entry to the
scanned document later carries the custody over.
"""

from __future__ import annotations

import json
from typing import Any

from firmware.errors import KioskError
from firmware.store.catalog import Catalog, NotFound, utcnow


def not_returned(catalog: Catalog, limit: int = 500) -> list[dict[str, Any]]:
    """Originals out of the archive, oldest first, with the operator's name."""
    rows = catalog.db.query(
        "SELECT c.id, c.document_id, c.entry_id, c.out_at, c.out_by, "
        "o.name AS out_by_name, d.title, d.state, d.metadata, e.number_symbol, e.date, "
        "e.subject, "
        "r.name AS register "
        "FROM custody c LEFT JOIN documents d ON d.id = c.document_id "
        "LEFT JOIN register_entries e ON e.id = c.entry_id "
        "LEFT JOIN registers r ON r.id = e.register_id "
        "LEFT JOIN operators o ON o.code = c.out_by "
        "WHERE c.returned_at IS NULL ORDER BY c.out_at, c.id LIMIT ?",
        [limit],
    )
    return [_described(dict(r)) for r in rows]


def _described(row: dict[str, Any]) -> dict[str, Any]:
    """What an archivist recognises an original by (issue 16: the list showed raw ids):
    number/symbol, date (dd/mm/yyyy) and subject, from the register entry or else from
    the scanned document's metadata."""
    meta = json.loads(row.pop("metadata") or "{}") if isinstance(row.get("metadata"), str) else {}
    number = row.get("number_symbol") or meta.get("number_symbol") or meta.get("number") or ""
    iso = row.get("date") or meta.get("date") or ""
    subject = row.get("subject") or meta.get("subject") or row.get("title") or ""
    row.update(
        number_shown=number,
        date_shown=f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}" if len(iso) == 10 else "",
        subject_shown=subject,
    )
    return row


def return_original(catalog: Catalog, custody_id: int, actor: str) -> dict[str, Any]:
    """The archivist marks one original back in the archive (from the Progress screen)."""
    with catalog.transaction() as db:
        row = db.execute(
            "SELECT document_id, entry_id, returned_at FROM custody WHERE id = ?", [custody_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"custody record {custody_id} not found")
        if row[2] is not None:
            raise KioskError(
                "already_returned",
                "This original was already returned.",
                "Bản gốc này đã được trả.",
                status=409,
            )
        db.execute(
            "UPDATE custody SET returned_at = ?, returned_by = ?, return_reason = 'returned' "
            "WHERE id = ?",
            [utcnow(), actor, custody_id],
        )
        catalog.audit(actor, "custody.return", row[0], custody_id=custody_id, entry_id=row[1])
    return {"id": custody_id, "returned": True}


def history(catalog: Catalog, *, document_id: str | None = None) -> list[dict[str, Any]]:
    rows = catalog.db.query(
        "SELECT * FROM custody WHERE document_id = ? ORDER BY id", [document_id]
    )
    return [dict(r) for r in rows]


def check_out_entry(catalog: Catalog, entry_id: int, actor: str) -> dict[str, Any]:
    """Take the original of a register entry out to the kiosk (before it is scanned)."""
    with catalog.transaction() as db:
        if db.execute("SELECT 1 FROM register_entries WHERE id = ?", [entry_id]).fetchone() is None:
            raise NotFound(f"register entry {entry_id} not found")
        out = db.execute(
            "SELECT out_by, out_at FROM custody WHERE entry_id = ? AND returned_at IS NULL",
            [entry_id],
        ).fetchone()
        if out is not None:
            raise KioskError(
                "already_checked_out",
                f"the original of entry {entry_id} is already out (by {out[0]} since {out[1]})",
                f"Bản gốc này đang được mượn ra (bởi {out[0]} từ {out[1]}).",
            )
        cur = db.execute(
            "INSERT INTO custody (entry_id, out_at, out_by) VALUES (?,?,?)",
            [entry_id, utcnow(), actor],
        )
        catalog.audit(actor, "custody.out", None, entry_id=entry_id, custody_id=cur.lastrowid)
    return {"id": cur.lastrowid, "entry_id": entry_id}


def return_entry(catalog: Catalog, entry_id: int, actor: str) -> int:
    """Return the original of a register entry to the archive; how many were out."""
    with catalog.transaction() as db:
        n = db.execute(
            "UPDATE custody SET returned_at = ?, returned_by = ?, return_reason = 'returned' "
            "WHERE entry_id = ? AND returned_at IS NULL",
            [utcnow(), actor, entry_id],
        ).rowcount
        if n:
            catalog.audit(actor, "custody.return", None, entry_id=entry_id)
    return n
