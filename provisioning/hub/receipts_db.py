"""Stored objects (one per SHA-256, deduplicated) and the signed receipts given for them.

A receipt exists only with its object: both, and an upload's completion, are written in
one transaction.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from provisioning.hub.db import (
    Database,
    now_utc,
    objects,
    receipts,
    record_event,
    same_enrollment,
    uploads,
)


class ReceiptDB:
    """Reads and writes of the ``objects`` and ``receipts`` tables (one transaction per
    method)."""

    def __init__(self, db: Database):
        self.db = db

    def object(self, sha256: str) -> dict[str, Any] | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(objects).where(objects.c.sha256 == sha256)).one_or_none()
        return row._asdict() if row is not None else None

    def delivered_receipt(
        self, kiosk_id: str, document_id: str, sha256: str, *, enrollment_id: str | None
    ) -> dict[str, Any] | None:
        """The first receipt given for these bytes of this document from this enrollment of
        the device (a later enrollment of the id does not learn what the earlier sent)."""
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(receipts.c.body)
                .where(
                    receipts.c.kiosk_id == kiosk_id,
                    same_enrollment(receipts.c.enrollment_id, enrollment_id),
                    receipts.c.document_id == document_id,
                    receipts.c.sha256 == sha256,
                )
                .order_by(receipts.c.id)
                .limit(1)
            ).one_or_none()
        return json.loads(row.body) if row is not None else None

    def upload_receipt(self, upload_id: str) -> dict[str, Any] | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(receipts.c.body).where(receipts.c.upload_id == upload_id)
            ).one_or_none()
        return json.loads(row.body) if row is not None else None

    def record_receipt(
        self,
        receipt: dict[str, Any],
        upload_id: str | None,
        size: int,
        stored_as: str,
        *,
        enrollment_id: str | None,
    ) -> None:
        """Record the object (once), the receipt and, for an upload, its completion."""
        now = now_utc()
        received_at = datetime.fromisoformat(receipt["received_at"].replace("Z", "+00:00"))
        with self.db.tx() as conn:
            exists = conn.execute(
                sa.select(objects.c.sha256).where(objects.c.sha256 == receipt["sha256"])
            ).one_or_none()
            if exists is None:
                conn.execute(
                    objects.insert().values(
                        sha256=receipt["sha256"], size=size, stored_as=stored_as, stored_at=now
                    )
                )
            conn.execute(
                receipts.insert().values(
                    upload_id=upload_id,
                    kiosk_id=receipt["device"],
                    enrollment_id=enrollment_id,
                    document_id=receipt["document_id"],
                    sha256=receipt["sha256"],
                    duplicate=receipt["duplicate"],
                    received_at=received_at,
                    body=json.dumps(receipt, sort_keys=True, ensure_ascii=False),
                )
            )
            if upload_id is not None:
                conn.execute(
                    uploads.update()
                    .where(uploads.c.id == upload_id)
                    .values(state="complete", offset=size, completed_at=now)
                )
            record_event(
                conn,
                "receipt",
                receipt["device"],
                upload=upload_id,
                document_id=receipt["document_id"],
                sha256=receipt["sha256"],
                duplicate=receipt["duplicate"],
            )

    def receipt_count(self, sha256: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(receipts)
        if sha256:
            q = q.where(receipts.c.sha256 == sha256)
        with self.db.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def stored_bytes(self) -> int:
        with self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(objects.c.size), 0))
                ).scalar_one()
            )
