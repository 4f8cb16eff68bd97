"""The hub's database: SQLAlchemy Core tables and every query the hub makes.

Core (not the ORM) keeps the SQL visible and portable: the embedded default is a SQLite file
in WAL mode, and ``db_url = "postgresql+psycopg://..."`` runs the same statements on
PostgreSQL for several hub replicas. Each method is one transaction; the multi-step rules
(a token enrolls exactly one device, a receipt exists only with its object) are enforced
inside that transaction so two requests racing cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()


class TZDateTime(sa.types.TypeDecorator[datetime]):
    """UTC datetimes on every backend (SQLite hands back naive values otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


devices = sa.Table(
    "devices",
    metadata,
    sa.Column("kiosk_id", sa.String(64), primary_key=True),
    sa.Column("group", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active | revoked
    sa.Column("enrolled_at", TZDateTime, nullable=False),
    sa.Column("revoked_at", TZDateTime),
    sa.Column("revoked_reason", sa.Text),
    sa.Column("last_seen_at", TZDateTime),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("serial", sa.String(64), primary_key=True),
    sa.Column("kiosk_id", sa.String(64), sa.ForeignKey("devices.kiosk_id"), nullable=False),
    sa.Column("issued_at", TZDateTime, nullable=False),
    sa.Column("not_after", TZDateTime, nullable=False),
    sa.Column("revoked_at", TZDateTime),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("group", sa.String(128), nullable=False),
    sa.Column("created_at", TZDateTime, nullable=False),
    sa.Column("expires_at", TZDateTime, nullable=False),
    sa.Column("used_at", TZDateTime),
    sa.Column("used_by", sa.String(64)),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kiosk_id", sa.String(64), sa.ForeignKey("devices.kiosk_id"), nullable=False),
    sa.Column("document_id", sa.String(256), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("length", sa.BigInteger, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("meta", sa.Text, nullable=False),
    # open | complete | discarded | terminated | expired (open too long without a byte)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", TZDateTime, nullable=False),
    sa.Column("completed_at", TZDateTime),
    # Last PATCH accepted or chunk acknowledged: what upload expiry measures idleness from.
    # Nullable because hub.db files older than expiry gain it by ALTER (see _migrate).
    sa.Column("last_activity_at", TZDateTime),
    sa.Index("uploads_by_device_doc", "kiosk_id", "document_id", "sha256"),
)

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_as", sa.String(128), nullable=False),
    sa.Column("stored_at", TZDateTime, nullable=False),
)

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("upload_id", sa.String(32)),
    sa.Column("kiosk_id", sa.String(64), nullable=False),
    sa.Column("document_id", sa.String(256), nullable=False),
    sa.Column("sha256", sa.String(64), sa.ForeignKey("objects.sha256"), nullable=False),
    sa.Column("duplicate", sa.Boolean, nullable=False),
    sa.Column("received_at", TZDateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("receipts_by_device_doc", "kiosk_id", "document_id", "sha256"),
    sa.Index("receipts_by_upload", "upload_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", TZDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("kiosk_id", sa.String(64)),
    sa.Column("detail", sa.Text, nullable=False),
)


class TokenInvalid(Exception):
    """Unknown, used or expired enrollment token."""


class DeviceExists(Exception):
    """The kiosk id is enrolled and not revoked."""


class UnknownDevice(Exception):
    """No device with that id."""


LAST_SEEN_EVERY = timedelta(minutes=1)


def now_utc() -> datetime:
    return datetime.now(UTC)


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
        )


def _idle_since() -> sa.ColumnElement[datetime]:
    """SQL for an upload's last activity (rows from before the column: their creation)."""
    return sa.func.coalesce(uploads.c.last_activity_at, uploads.c.created_at, type_=TZDateTime)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class HubDB:
    """All reads and writes of the hub's tables."""

    def __init__(self, url: str):
        self.engine = make_engine(url)

    def create_schema(self) -> None:
        metadata.create_all(self.engine)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a hub.db made by an older release up to these tables.

        There is no migration framework: ``create_all`` makes missing tables but never
        alters existing ones, and the schema has so far only gained one nullable column,
        so it is added here with a guarded ALTER (plain SQL on SQLite and PostgreSQL).
        Uploads open at the upgrade get a full expiry window from now: when their last
        byte came is unknown, and expiring a live upload would cost more than keeping a
        dead one a few more days.
        """
        have = {c["name"] for c in sa.inspect(self.engine).get_columns("uploads")}
        if "last_activity_at" in have:
            return
        col = uploads.c.last_activity_at
        prep = self.engine.dialect.identifier_preparer
        ddl = (
            f"ALTER TABLE {prep.format_table(uploads)} ADD COLUMN {prep.format_column(col)} "
            f"{col.type.compile(dialect=self.engine.dialect)}"
        )
        try:
            with self.tx() as conn:
                conn.execute(sa.text(ddl))
                conn.execute(
                    uploads.update()
                    .where(uploads.c.state == "open")
                    .values(last_activity_at=now_utc())
                )
                self._event(conn, "schema_migrated", None, added="uploads.last_activity_at")
        except sa.exc.DBAPIError:
            # Another hub replica (or CLI command) added it at the same moment: fine.
            have = {c["name"] for c in sa.inspect(self.engine).get_columns("uploads")}
            if "last_activity_at" not in have:
                raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- audit -----------------------------------------------------------------------------

    @staticmethod
    def _event(conn: Connection, kind: str, kiosk_id: str | None, **detail: Any) -> None:
        conn.execute(
            events.insert().values(
                at=now_utc(),
                kind=kind,
                kiosk_id=kiosk_id,
                detail=json.dumps(detail, sort_keys=True, default=str, ensure_ascii=False),
            )
        )

    def event(self, kind: str, kiosk_id: str | None, **detail: Any) -> None:
        with self.tx() as conn:
            self._event(conn, kind, kiosk_id, **detail)

    def events(
        self, kind: str | None = None, *, kiosk_id: str | None = None, last: int | None = None
    ) -> list[dict[str, Any]]:
        """The event log, oldest first; ``last``: only the newest that many."""
        q = sa.select(events).order_by(events.c.id.desc() if last else events.c.id)
        if kind:
            q = q.where(events.c.kind == kind)
        if kiosk_id:
            q = q.where(events.c.kiosk_id == kiosk_id)
        if last:
            q = q.limit(last)
        with self.engine.connect() as conn:
            rows = [{**row._asdict(), "detail": json.loads(row.detail)} for row in conn.execute(q)]
        return rows[::-1] if last else rows

    # --- tokens ----------------------------------------------------------------------------

    def add_token(self, token_hash: str, group: str, expires_at: datetime) -> None:
        with self.tx() as conn:
            conn.execute(
                tokens.insert().values(
                    token_hash=token_hash, group=group, created_at=now_utc(), expires_at=expires_at
                )
            )
            self._event(conn, "token_created", None, group=group, expires_at=expires_at)

    def usable_token(self, token_hash: str) -> dict[str, Any] | None:
        """The token's row when it is known, unused and not expired."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens).where(tokens.c.token_hash == token_hash)
            ).one_or_none()
        if row is None or row.used_at is not None or row.expires_at <= now_utc():
            return None
        return row._asdict()

    # --- devices and certificates --------------------------------------------------------

    def enroll(
        self, token_hash: str, kiosk_id: str, serial: str, not_after: datetime
    ) -> dict[str, Any]:
        """Consume the token and record the device with its first certificate, atomically."""
        now = now_utc()
        with self.tx() as conn:
            token = conn.execute(
                sa.select(tokens).where(tokens.c.token_hash == token_hash)
            ).one_or_none()
            if token is None or token.used_at is not None or token.expires_at <= now:
                raise TokenInvalid
            device = conn.execute(
                sa.select(devices).where(devices.c.kiosk_id == kiosk_id)
            ).one_or_none()
            if device is not None and device.status == "active":
                raise DeviceExists
            used = conn.execute(
                tokens.update()
                .where(tokens.c.token_hash == token_hash, tokens.c.used_at.is_(None))
                .values(used_at=now, used_by=kiosk_id)
            )
            if used.rowcount != 1:
                raise TokenInvalid
            values = dict(
                group=token.group,
                status="active",
                enrolled_at=now,
                revoked_at=None,
                revoked_reason=None,
                last_seen_at=now,
            )
            if device is None:
                conn.execute(devices.insert().values(kiosk_id=kiosk_id, **values))
            else:
                conn.execute(
                    devices.update().where(devices.c.kiosk_id == kiosk_id).values(**values)
                )
            conn.execute(
                certificates.insert().values(
                    serial=serial, kiosk_id=kiosk_id, issued_at=now, not_after=not_after
                )
            )
            self._event(
                conn,
                "enrolled",
                kiosk_id,
                group=token.group,
                serial=serial,
                not_after=not_after,
                reenrolled_after_revocation=device is not None,
            )
            return {"kiosk_id": kiosk_id, "group": token.group}

    def reenroll(self, kiosk_id: str, serial: str, not_after: datetime, old_serial: str) -> None:
        with self.tx() as conn:
            conn.execute(
                certificates.insert().values(
                    serial=serial, kiosk_id=kiosk_id, issued_at=now_utc(), not_after=not_after
                )
            )
            self._event(
                conn,
                "reenrolled",
                kiosk_id,
                serial=serial,
                old_serial=old_serial,
                not_after=not_after,
            )

    def certificate_status(self, serial: str, kiosk_id: str) -> str:
        """``ok``, ``unknown`` (never issued to this device) or ``revoked``.

        Also records when the device was last seen (at most once a minute, so a busy upload
        does not turn every request into a write).
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(certificates.c.revoked_at, devices.c.status, devices.c.last_seen_at)
                .select_from(certificates.join(devices))
                .where(certificates.c.serial == serial, certificates.c.kiosk_id == kiosk_id)
            ).one_or_none()
        if row is None:
            return "unknown"
        if row.revoked_at is not None or row.status != "active":
            return "revoked"
        if row.last_seen_at is None or now_utc() - row.last_seen_at > LAST_SEEN_EVERY:
            self.touch_device(kiosk_id)
        return "ok"

    def touch_device(self, kiosk_id: str) -> None:
        with self.tx() as conn:
            conn.execute(
                devices.update()
                .where(devices.c.kiosk_id == kiosk_id)
                .values(last_seen_at=now_utc())
            )

    def revoke(self, kiosk_id: str, reason: str = "") -> None:
        """Refuse the device and every certificate it holds from the next request on."""
        now = now_utc()
        with self.tx() as conn:
            found = conn.execute(
                devices.update()
                .where(devices.c.kiosk_id == kiosk_id)
                .values(status="revoked", revoked_at=now, revoked_reason=reason)
            )
            if found.rowcount != 1:
                raise UnknownDevice(kiosk_id)
            conn.execute(
                certificates.update()
                .where(certificates.c.kiosk_id == kiosk_id, certificates.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            self._event(conn, "revoked", kiosk_id, reason=reason)

    def list_devices(self) -> list[dict[str, Any]]:
        newest = (
            sa.select(
                certificates.c.kiosk_id,
                sa.func.max(certificates.c.not_after).label("cert_not_after"),
            )
            .group_by(certificates.c.kiosk_id)
            .subquery()
        )
        q = (
            sa.select(devices, newest.c.cert_not_after)
            .select_from(devices.outerjoin(newest, newest.c.kiosk_id == devices.c.kiosk_id))
            .order_by(devices.c.kiosk_id)
        )
        with self.engine.connect() as conn:
            return [row._asdict() for row in conn.execute(q)]

    # --- uploads ---------------------------------------------------------------------------

    def create_upload(
        self,
        upload_id: str,
        kiosk_id: str,
        document_id: str,
        sha256: str,
        length: int,
        meta: dict[str, str],
    ) -> datetime:
        """Record a new open upload; return its creation time (its expiry counts from it)."""
        now = now_utc()
        with self.tx() as conn:
            conn.execute(
                uploads.insert().values(
                    id=upload_id,
                    kiosk_id=kiosk_id,
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

    def upload(self, upload_id: str, kiosk_id: str) -> Upload | None:
        """The upload when it exists and belongs to ``kiosk_id`` (else None: 404 to others)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(uploads).where(uploads.c.id == upload_id, uploads.c.kiosk_id == kiosk_id)
            ).one_or_none()
        return Upload.from_row(row) if row is not None else None

    def set_offset(self, upload_id: str, offset: int, *, touch: bool = True) -> datetime:
        """Acknowledge ``offset``; ``touch`` also counts it as client activity (not done by
        the start-up recovery, which no client asked for). Returns the time written."""
        now = now_utc()
        values: dict[str, Any] = {"offset": offset}
        if touch:
            values["last_activity_at"] = now
        with self.tx() as conn:
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
        with self.tx() as conn:
            done = conn.execute(
                uploads.update()
                .where(uploads.c.id == upload_id, uploads.c.state == "open")
                .values(last_activity_at=now)
            )
        return now if done.rowcount == 1 else None

    def idle_uploads(self, idle_before: datetime) -> list[Upload]:
        """Open uploads whose last activity is older than ``idle_before`` (expiry candidates)."""
        with self.engine.connect() as conn:
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
        with self.tx() as conn:
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
            self._event(
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
        with self.tx() as conn:
            row = conn.execute(
                sa.select(uploads.c.kiosk_id).where(uploads.c.id == upload_id)
            ).one_or_none()
            done = conn.execute(
                uploads.update()
                .where(uploads.c.id == upload_id, uploads.c.state == "open")
                .values(state=state)
            )
            if done.rowcount == 1:
                self._event(
                    conn,
                    f"upload_{state}",
                    row.kiosk_id if row else None,
                    upload=upload_id,
                    **detail,
                )

    def open_upload_bytes(self) -> int:
        """Bytes that open uploads may still bring (counted against the storage quota);
        expired, discarded and terminated uploads count for nothing."""
        with self.engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(uploads.c.length), 0)).where(
                    uploads.c.state == "open"
                )
            ).scalar_one()
        return int(total)

    def stored_bytes(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(objects.c.size), 0))
                ).scalar_one()
            )

    # --- objects and receipts -------------------------------------------------------------

    def object(self, sha256: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(objects).where(objects.c.sha256 == sha256)).one_or_none()
        return row._asdict() if row is not None else None

    def delivered_receipt(
        self, kiosk_id: str, document_id: str, sha256: str
    ) -> dict[str, Any] | None:
        """The first receipt given for these bytes of this document from this device."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(receipts.c.body)
                .where(
                    receipts.c.kiosk_id == kiosk_id,
                    receipts.c.document_id == document_id,
                    receipts.c.sha256 == sha256,
                )
                .order_by(receipts.c.id)
                .limit(1)
            ).one_or_none()
        return json.loads(row.body) if row is not None else None

    def upload_receipt(self, upload_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
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
    ) -> None:
        """Record the object (once), the receipt and, for an upload, its completion."""
        now = now_utc()
        received_at = datetime.fromisoformat(receipt["received_at"].replace("Z", "+00:00"))
        with self.tx() as conn:
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
            self._event(
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
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
