"""The uplink outbox: the catalog table of ordinary sealed documents waiting for the hub.

The queue lives in ``catalog.db`` beside the documents, so entering it is one transaction
with the document's ``sealed -> queued`` transition and its audit event: after a power cut
a document is either sealed and unqueued (recovery queues it) or queued with its row, never
half. The row remembers the hub's upload path and the last acknowledged offset (a restart
resumes there after asking the hub), the attempt count and the next attempt time (backoff),
the last failure in plain words, and at the end the verified receipt.

The file sent is the sealed PDF itself (``path``): no copy, so a kiosk with a small card
does not hold every document twice.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from firmware.errors import KioskError
from firmware.routing import Route, assert_may_upload, route_for
from firmware.store.catalog import Catalog, NotFound, utcnow
from firmware.store.paths import DataPaths
from firmware.store.states import DocState

COLUMNS = (
    'document_id, sha256, size, path, upload_url, "offset", attempts, next_attempt_at, '
    "last_error_code, last_error, queued_at, delivered_at, receipt"
)


def _row(r: dict[str, Any] | None) -> dict[str, Any] | None:
    if r is None:
        return None
    r = dict(r)
    for k in ("last_error", "receipt"):
        if r.get(k):
            r[k] = json.loads(r[k])
    return r


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds")


class Outbox:
    """Queue operations on the catalog; every change is one transaction."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    # -- entering -------------------------------------------------------------------
    def enqueue(self, doc_id: str, actor: str) -> dict[str, Any]:
        """Queue a sealed ordinary document (idempotent). Confidential ones are refused by
        :func:`firmware.routing.assert_may_upload` before anything is written."""
        cat = self.catalog
        with cat.transaction() as db:
            doc = cat.get_document(doc_id)
            assert_may_upload(doc)
            if doc["state"] == DocState.SEALED:
                doc = cat.transition_document(
                    doc_id, DocState.QUEUED, actor, reason="ordinary document: sent to the hub"
                )
            elif doc["state"] != DocState.QUEUED:
                raise KioskError(
                    "not_queueable",
                    f"Document {doc_id} is {doc['state']}; only sealed documents are queued.",
                    f"Tài liệu {doc_id} chưa được lưu nên chưa thể đưa vào hàng chờ gửi.",
                )
            exists = db.execute("SELECT 1 FROM outbox WHERE document_id = ?", [doc_id]).fetchone()
            if not exists:
                now = utcnow()
                db.execute(
                    "INSERT INTO outbox (document_id, sha256, size, path, next_attempt_at, "
                    "queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [doc_id, doc["sha256"], doc["pdf_size"], doc["pdf_path"], now, now],
                )
        return doc

    # -- reading --------------------------------------------------------------------
    def get(self, doc_id: str) -> dict[str, Any]:
        r = self.catalog.db.execute(
            f"SELECT {COLUMNS} FROM outbox WHERE document_id = ?", [doc_id]
        ).fetchone()
        if r is None:
            raise NotFound(f"document {doc_id} is not in the outbox")
        names = [c.strip().strip('"') for c in COLUMNS.split(",")]
        out = _row(dict(zip(names, r, strict=True)))
        assert out is not None
        return out

    def rows(self, *, waiting: bool | None = None, limit: int = 100000) -> list[dict[str, Any]]:
        sql = f"SELECT {COLUMNS} FROM outbox"
        if waiting is True:
            sql += " WHERE delivered_at IS NULL"
        elif waiting is False:
            sql += " WHERE delivered_at IS NOT NULL"
        sql += " ORDER BY queued_at, document_id LIMIT ?"
        names = [c.strip().strip('"') for c in COLUMNS.split(",")]
        cur = self.catalog.db.execute(sql, [limit])
        return [_row(dict(zip(names, r, strict=True))) for r in cur.fetchall()]  # type: ignore[misc]

    def next_due(self, now: dt.datetime) -> dict[str, Any] | None:
        """The oldest waiting document whose next attempt time has come."""
        r = self.catalog.db.execute(
            "SELECT document_id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, queued_at LIMIT 1",
            [_iso(now)],
        ).fetchone()
        return self.get(r[0]) if r else None

    def next_attempt_at(self) -> dt.datetime | None:
        r = self.catalog.db.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE delivered_at IS NULL"
        ).fetchone()
        return dt.datetime.fromisoformat(r[0]) if r and r[0] else None

    def counts(self) -> dict[str, int]:
        r = self.catalog.db.execute(
            "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL), "
            "COUNT(*) FILTER (WHERE delivered_at IS NULL AND last_error_code IS NOT NULL), "
            "COUNT(*) FILTER (WHERE delivered_at IS NOT NULL) FROM outbox"
        ).fetchone()
        return {"waiting": r[0], "failing": r[1], "delivered": r[2]}

    def oldest_waiting(self) -> str | None:
        """When the document waiting longest was queued (ISO 8601), or None."""
        r = self.catalog.db.execute(
            "SELECT MIN(queued_at) FROM outbox WHERE delivered_at IS NULL"
        ).fetchone()
        return r[0] if r else None

    def last_delivery(self) -> str | None:
        r = self.catalog.db.execute("SELECT MAX(delivered_at) FROM outbox").fetchone()
        return r[0] if r else None

    # -- progress and failures ------------------------------------------------------
    def record_progress(self, doc_id: str, upload_url: str | None, offset: int) -> None:
        """Where the upload stands (not audited: it changes every chunk)."""
        with self.catalog.transaction() as db:
            db.execute(
                'UPDATE outbox SET upload_url = ?, "offset" = ? WHERE document_id = ?',
                [upload_url, offset, doc_id],
            )

    def record_failure(
        self,
        doc_id: str,
        err: KioskError,
        next_attempt: dt.datetime,
        *,
        restart: bool = False,
        count_attempt: bool = True,
    ) -> None:
        """Keep the document queued with the reason and the time of the next attempt.

        The audit log gets one event when the reason changes (a link cut every few minutes
        must not flood the hash chain); the row always shows the latest.
        """
        cat = self.catalog
        with cat.transaction() as db:
            prev = db.execute(
                "SELECT last_error_code FROM outbox WHERE document_id = ?", [doc_id]
            ).fetchone()
            reason = json.dumps(
                {"en": err.message_en, "vi": err.message_vi, "at": utcnow()}, ensure_ascii=False
            )
            sets = "last_error_code = ?, last_error = ?, next_attempt_at = ?"
            args: list[Any] = [err.code, reason, _iso(next_attempt)]
            if count_attempt:
                sets += ", attempts = attempts + 1"
            if restart:
                sets += ', upload_url = NULL, "offset" = 0'
            db.execute(f"UPDATE outbox SET {sets} WHERE document_id = ?", [*args, doc_id])
            if prev is not None and prev[0] != err.code:
                cat.audit(
                    "uplink",
                    "uplink.error",
                    doc_id,
                    None,
                    code=err.code,
                    error=err.message_en,
                    next_attempt_at=_iso(next_attempt),
                )

    def retry(self, doc_id: str, actor: str) -> dict[str, Any]:
        """``sohoa queue retry``: try again now, backoff forgotten."""
        row = self.get(doc_id)
        if row["delivered_at"]:
            raise KioskError(
                "already_delivered",
                f"Document {doc_id} was delivered at {row['delivered_at']}.",
                f"Tài liệu {doc_id} đã được gửi lúc {row['delivered_at']}.",
            )
        with self.catalog.transaction() as db:
            db.execute(
                "UPDATE outbox SET next_attempt_at = ?, attempts = 0 WHERE document_id = ?",
                [utcnow(), doc_id],
            )
            self.catalog.audit(actor, "uplink.retry", doc_id, None)
        return self.get(doc_id)

    # -- delivery -------------------------------------------------------------------
    def mark_delivered(self, doc_id: str, receipt: dict[str, Any], actor: str = "uplink") -> None:
        """The hub's receipt passed verification: ``queued -> delivered`` with the receipt,
        in one transaction with its audit event."""
        cat = self.catalog
        with cat.transaction() as db:
            db.execute(
                'UPDATE outbox SET delivered_at = ?, receipt = ?, "offset" = size, '
                "last_error_code = NULL, last_error = NULL WHERE document_id = ?",
                [utcnow(), json.dumps(receipt, ensure_ascii=False, sort_keys=True), doc_id],
            )
            cat.transition_document(
                doc_id,
                DocState.DELIVERED,
                actor,
                reason=(
                    f"receipt from hub {receipt.get('hub')}: stored as {receipt.get('stored_as')}"
                    + (" (already there)" if receipt.get("duplicate") else "")
                ),
            )

    # -- purge ----------------------------------------------------------------------
    def purge_due(
        self, paths: DataPaths, retention_days: int, now: dt.datetime, actor: str = "uplink"
    ) -> list[str]:
        """Remove local copies of documents delivered ``retention_days`` ago or earlier.

        Kept: the catalog row (state ``purged``), its metadata and OCR text (the kiosk's
        register stays searchable), the outbox row with the receipt, the audit trail.
        Removed: the sealed PDF and sidecar, the frames and the work files.
        """
        cutoff = _iso(now - dt.timedelta(days=retention_days))
        ids = [
            r[0]
            for r in self.catalog.db.execute(
                "SELECT o.document_id FROM outbox o JOIN documents d ON d.id = o.document_id "
                "WHERE d.state = ? AND o.delivered_at IS NOT NULL AND o.delivered_at <= ? "
                "ORDER BY o.delivered_at",
                [DocState.DELIVERED.value, cutoff],
            ).fetchall()
        ]
        for doc_id in ids:
            paths.remove_document_files(doc_id)
            receipt = self.get(doc_id)["receipt"] or {}
            self.catalog.transition_document(
                doc_id,
                DocState.PURGED,
                actor,
                reason=f"local copies removed after the hub's receipt ({receipt.get('stored_as')})",
                pdf_path=None,
            )
        return ids


def route_sealed(catalog: Catalog, doc: dict[str, Any], actor: str) -> dict[str, Any]:
    """The routing step after sealing: an ordinary document enters the outbox, a
    confidential one stays sealed for the secure USB export. Returns the document."""
    if route_for(doc) != Route.UPLINK:
        return doc
    assert_may_upload(doc)
    return Outbox(catalog).enqueue(doc["id"], actor)
