"""Sequence numbers of documents inside a record file ("số thứ tự văn bản trong hồ sơ").

The archival code and file name are "<mã hồ sơ>.<số thứ tự>", so two documents of one record
file must never share a number, even when two clerks seal at once or a seal is redone after
a power cut. The numbers live in the catalog table ``record_items`` (catalog migration 3): one row per
document, unique per (record code, sequence). Assigning is idempotent per document, so
re-sealing after a crash keeps the number the first attempt took.
"""

from __future__ import annotations

from typing import Any

from firmware.metadata.model import SEQUENCE_DIGITS, FieldIssue, MetadataError
from firmware.store.catalog import Catalog, utcnow


def assign_sequence(
    catalog: Catalog, doc_id: str, record_code: str, actor: str, requested: int | None = None
) -> int:
    """The document's sequence number in ``record_code``: the one it already holds, the
    ``requested`` one if free, or the next after the highest used. Audited in the same
    transaction as the assignment."""
    with catalog.transaction() as db:
        row = db.execute(
            "SELECT record_code, sequence FROM record_items WHERE doc_id = ?", [doc_id]
        ).fetchone()
        if row is not None and row[0] == record_code and requested in (None, row[1]):
            return int(row[1])
        if row is not None:  # the clerk moved the document to another file or number
            db.execute("DELETE FROM record_items WHERE doc_id = ?", [doc_id])
        if requested is not None:
            other = db.execute(
                "SELECT doc_id FROM record_items WHERE record_code = ? AND sequence = ?",
                [record_code, requested],
            ).fetchone()
            if other is not None:
                raise MetadataError(
                    [
                        FieldIssue(
                            "sequence",
                            f"Số thứ tự {requested} đã dùng cho tài liệu khác trong hồ sơ "
                            f"{record_code}",
                            f"sequence {requested} is already used by document {other[0]} "
                            f"in record file {record_code}",
                        )
                    ]
                )
            seq = requested
        else:
            seq = (
                db.execute(
                    "SELECT COALESCE(MAX(sequence), 0) FROM record_items WHERE record_code = ?",
                    [record_code],
                ).fetchone()[0]
                + 1
            )
            if seq >= 10**SEQUENCE_DIGITS:
                raise MetadataError(
                    [
                        FieldIssue(
                            "record_code",
                            f"Hồ sơ {record_code} đã đủ {10**SEQUENCE_DIGITS - 1} văn bản",
                            f"record file {record_code} is full",
                        )
                    ]
                )
        db.execute(
            "INSERT INTO record_items (record_code, sequence, doc_id, assigned_at) "
            "VALUES (?, ?, ?, ?)",
            [record_code, seq, doc_id, utcnow()],
        )
        # joins the transaction above: the number and its audit record commit together
        catalog.audit(actor, "record.sequence", doc_id, None, record_code=record_code, sequence=seq)
    return seq


def record_items(catalog: Catalog, record_code: str) -> list[dict[str, Any]]:
    """Documents of a record file in sequence order (for the register and the UI)."""
    return list(
        catalog.db.query(
            "SELECT sequence, doc_id, assigned_at FROM record_items WHERE record_code = ? "
            "ORDER BY sequence",
            [record_code],
        )
    )
