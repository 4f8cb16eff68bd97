"""Resumable uploads (tus): their rows, offsets, idleness and expiry, and the bytes open
uploads still claim against the storage quota.

Which of a resumed PATCH and an expiry sweep wins is decided here, by conditional updates
in the database, so it holds across hub replicas and ``sohoa hub gc``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from provisioning.hub.db import (
    Database,
    TZDateTime,
    now_utc,
    record_event,
    same_enrollment,
    uploads,
)


@dataclass(frozen=True)
class Upload:
    id: str
    kiosk_id: str
    document_id: str
    sha256: str
    length: int
    offset: int
    meta: dict[str, str]
    state: str
    created_at: datetime | None = None
    last_activity_at: datetime | None = None
    enrollment_id: str | None = None

    @property
    def active_at(self) -> datetime | None:
        """When the upload last saw its client (creation when no PATCH came yet)."""
        return self.last_activity_at or self.created_at

    @classmethod
    def from_row(cls, row: Any) -> Upload:
        return cls(
            id=row.id,
            kiosk_id=row.kiosk_id,
            document_id=row.document_id,
            sha256=row.sha256,
            length=int(row.length),
            offset=int(row.offset),
            meta=json.loads(row.meta),
            state=row.state,
            created_at=row.created_at,
            last_activity_at=row.last_activity_at,
            enrollment_id=row.enrollment_id,
        )


def _idle_since() -> sa.ColumnElement[datetime]:
    """SQL for an upload's last activity (rows from before the column: their creation)."""
    return sa.func.coalesce(uploads.c.last_activity_at, uploads.c.created_at, type_=TZDateTime)


class UploadDB:
    """Reads and writes of the ``uploads`` table (one transaction per method)."""

    def __init__(self, db: Database):
        self.db = db

    def create_upload(
        self,
        upload_id: str,
        kiosk_id: str,
        document_id: str,
        sha256: str,
        length: int,
        meta: dict[str, str],
        *,
        enrollment_id: str | None,
    ) -> datetime:
        """Record a new open upload of one enrollment of ``kiosk_id``; return its creation
        time (its expiry counts from it)."""
        now = now_utc()
        with self.db.tx() as conn:
            conn.execute(
                uploads.insert().values(
                    id=upload_id,
                    kiosk_id=kiosk_id,
                    enrollment_id=enrollment_id,
                    document_id=document_id,
                    sha256=sha256,
                    length=length,
                    offset=0,
                    meta=json.dumps(meta, sort_keys=True, ensure_ascii=False),
                    state="open",
                    created_at=now,
                    last_activity_at=now,
                )
            )
        return now

    def upload(self, upload_id: str, kiosk_id: str, *, enrollment_id: str | None) -> Upload | None:
        """The upload when it exists and belongs to this enrollment of ``kiosk_id`` (else
        None: 404 to other devices, and to a later enrollment of the same id)."""
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(uploads).where(
                    uploads.c.id == upload_id,
                    uploads.c.kiosk_id == kiosk_id,
                    same_enrollment(uploads.c.enrollment_id, enrollment_id),
                )
            ).one_or_none()
        return Upload.from_row(row) if row is not None else None

    def set_offset(self, upload_id: str, offset: int, *, touch: bool = True) -> datetime:
        """Acknowledge ``offset``; ``touch`` also counts it as client activity (not done by
        the start-up recovery, which no client asked for). Returns the time written."""
        now = now_utc()
        values: dict[str, Any] = {"offset": offset}
        if touch:
            values["last_activity_at"] = now
        with self.db.tx() as conn:
            conn.execute(
                uploads.update()
                .where(uploads.c.id == upload_id, uploads.c.state == "open")
                .values(**values)
            )
        return now

    def touch_upload(self, upload_id: str) -> datetime | None:
        """Claim an open upload for a PATCH: its last activity becomes now.

        Returns the time, or None when it is no longer open. Together with the conditional
        update in :meth:`expire_upload` this decides, in the database, which of a resumed
        PATCH and an expiry sweep (this hub, another replica, ``sohoa hub gc``) wins: never
        both, so no PATCH writes into a partial file the sweep deletes.
        """
        now = now_utc()
        with self.db.tx() as conn:
            done = conn.execute(
                uploads.update()
                .where(uploads.c.id == upload_id, uploads.c.state == "open")
                .values(last_activity_at=now)
            )
        return now if done.rowcount == 1 else None

    def idle_uploads(self, idle_before: datetime) -> list[Upload]:
        """Open uploads whose last activity is older than ``idle_before`` (expiry candidates)."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(uploads)
                .where(uploads.c.state == "open", _idle_since() < idle_before)
                .order_by(uploads.c.created_at)
            ).all()
        return [Upload.from_row(r) for r in rows]

    def expire_upload(self, upload: Upload, idle_before: datetime, **detail: Any) -> bool:
        """Mark ``upload`` expired if it is still open and still idle since before
        ``idle_before``, with its ``upload_expired`` event, in one transaction.

        False when a PATCH claimed it meanwhile (or it ended otherwise): then it is left
        alone. The caller deletes the partial file only after True.
        """
        with self.db.tx() as conn:
            done = conn.execute(
                uploads.update()
                .where(
                    uploads.c.id == upload.id,
                    uploads.c.state == "open",
                    _idle_since() < idle_before,
                )
                .values(state="expired")
            )
            if done.rowcount != 1:
                return False
            record_event(
                conn,
                "upload_expired",
                upload.kiosk_id,
                upload=upload.id,
                document_id=upload.document_id,
                offset=upload.offset,
                length=upload.length,
                idle_since=upload.active_at,
                **detail,
            )
        return True

    def end_upload(self, upload_id: str, state: str, **detail: Any) -> None:
        """Mark an open upload discarded or terminated (its partial file is removed by the
        caller); one that already ended (e.g. expired meanwhile) keeps its state."""
        with self.db.tx() as conn:
            row = conn.execute(
                sa.select(uploads.c.kiosk_id).where(uploads.c.id == upload_id)
            ).one_or_none()
            done = conn.execute(
                uploads.update()
                .where(uploads.c.id == upload_id, uploads.c.state == "open")
                .values(state=state)
            )
            if done.rowcount == 1:
                record_event(
                    conn,
                    f"upload_{state}",
                    row.kiosk_id if row else None,
                    upload=upload_id,
                    **detail,
                )

    def open_upload_bytes(self) -> int:
        """Bytes that open uploads may still bring (counted against the storage quota);
        expired, discarded and terminated uploads count for nothing."""
        with self.db.engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(uploads.c.length), 0)).where(
                    uploads.c.state == "open"
                )
            ).scalar_one()
        return int(total)

    def open_upload_remaining(self) -> int:
        """Bytes open uploads have declared but not yet sent (they will need that much
        more disk before they complete)."""
        with self.db.engine.connect() as conn:
            total = conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(uploads.c.length - uploads.c.offset), 0)
                ).where(uploads.c.state == "open")
            ).scalar_one()
        return int(total)

    def open_offsets(self) -> dict[str, int]:
        """upload id -> acknowledged offset of every open upload (the start-up recovery
        holds each against its partial file)."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(uploads.c.id, uploads.c.offset).where(uploads.c.state == "open")
            ).all()
        return {r.id: int(r.offset) for r in rows}
