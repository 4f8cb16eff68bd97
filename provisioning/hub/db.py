"""The hub's database: its SQLAlchemy Core tables, their migrations, the engine and its
transactions, and how an event row is written.

Core (not the ORM) keeps the SQL visible and portable: the embedded default is a SQLite file
in WAL mode, and ``db_url = "postgresql+psycopg://..."`` runs the same statements on
PostgreSQL for several hub replicas. The queries live beside their concern, each on this
:class:`Database`: ``tokens_db``, ``devices_db``, ``certificates_db``, ``uploads_db``,
``upload_writers_db``, ``receipts_db``, ``audit_anchors_db``, ``enroll_limit_db`` and
``events_db`` (the fleet's own tables are ``fleet_db`` and ``rollouts_db``);
:class:`provisioning.hub.hub_db.HubDB` holds one of each. Each of their methods is one transaction; the multi-step rules (a token
enrolls exactly one device, a receipt exists only with its object) are enforced inside that
transaction so two requests racing cannot both win.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from provisioning.hub.sqlite_writes import serialize_writers
from provisioning.hub.table_setup import create_tables

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
    # active | revoked | reinstated (revoked, then released by IT for a new enrollment)
    sa.Column("status", sa.String(16), nullable=False),
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
    # Columns below were added after the first release (nullable; see Database._migrate).
    # superseded (a newer certificate was used), superseded_unused, device_revoked
    sa.Column("revoked_reason", sa.String(32)),
    # First request made with it; None = issued by a renewal and not used yet (pending).
    sa.Column("activated_at", TZDateTime),
    # One enrollment (a token's use) and its renewals share it; uploads and receipts are
    # bound to it, so a later enrollment of the same kiosk id never sees them.
    sa.Column("enrollment_id", sa.String(32)),
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
    sa.Column("enrollment_id", sa.String(32)),  # see certificates.enrollment_id
    sa.Index("uploads_by_device_doc", "kiosk_id", "document_id", "sha256"),
)

# One writer per upload, across every hub replica: a PATCH (or DELETE) holds the row while it
# writes; ``until`` is a lease renewed as bytes are acknowledged, so a replica that died
# mid-request does not block the upload for longer than the lease.
upload_writers = sa.Table(
    "upload_writers",
    metadata,
    sa.Column("upload_id", sa.String(32), primary_key=True),
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("until", TZDateTime, nullable=False),
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
    sa.Column("enrollment_id", sa.String(32)),  # see certificates.enrollment_id
    sa.Index("receipts_by_device_doc", "kiosk_id", "document_id", "sha256"),
    sa.Index("receipts_by_upload", "upload_id"),
)

audit_anchors = sa.Table(
    "audit_anchors",
    metadata,
    # Each head a kiosk reported (with a delivery) that moved its anchor forward; the
    # newest per enrollment is its anchor, older ones let a later report be checked
    # against the head the kiosk claimed at that record (fork detection).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kiosk_id", sa.String(64), nullable=False),
    sa.Column("enrollment_id", sa.String(32)),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("head", sa.String(64), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),  # the kiosk's clock when it signed
    sa.Column("sig", sa.Text, nullable=False),
    sa.Column("signer", sa.String(64), nullable=False),
    sa.Column("received_at", TZDateTime, nullable=False),
    sa.Index("audit_anchors_by_device", "kiosk_id", "enrollment_id", "seq"),
)

enroll_limits = sa.Table(
    "enroll_limits",
    metadata,
    # provisioning.hub.enroll_limit.LimitEntry per client address; times in epoch seconds.
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Text, nullable=False),  # JSON list of the newest failure times
    sa.Column("blocked_until", sa.Float, nullable=False),
    sa.Column("failures_at_block", sa.Integer, nullable=False),
    sa.Column("touched", sa.Float, nullable=False),
    sa.Index("enroll_limits_by_touched", "touched"),
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


def now_utc() -> datetime:
    return datetime.now(UTC)


def same_enrollment(column: sa.Column[Any], enrollment_id: str | None) -> Any:
    """SQL: ``column`` names this enrollment (None matches only rows without one)."""
    return column.is_(None) if enrollment_id is None else column == enrollment_id


def insert_certificate(
    conn: Connection,
    *,
    serial: str,
    kiosk_id: str,
    now: datetime,
    not_after: datetime,
    enrollment_id: str | None,
    active: bool,
) -> None:
    """Record an issued certificate inside the caller's transaction. ``active``: in use
    from now (an enrollment's first certificate); a renewal's stays pending until the
    kiosk first presents it (see ``CertificateDB.certificate``)."""
    conn.execute(
        certificates.insert().values(
            serial=serial,
            kiosk_id=kiosk_id,
            issued_at=now,
            not_after=not_after,
            activated_at=now if active else None,
            enrollment_id=enrollment_id,
        )
    )


def record_event(conn: Connection, kind: str, kiosk_id: str | None, **detail: Any) -> None:
    """Append one event inside the caller's transaction (it commits or rolls back with the
    change it records)."""
    conn.execute(
        events.insert().values(
            at=now_utc(),
            kind=kind,
            kiosk_id=kiosk_id,
            detail=json.dumps(detail, sort_keys=True, default=str, ensure_ascii=False),
        )
    )


#: How long a SQLite writer waits for the file (in the process, then in SQLite) before failing.
SQLITE_BUSY_TIMEOUT_S = 30.0


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys and its writers
    queued in the process (:mod:`provisioning.hub.sqlite_writes`)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )
        serialize_writers(engine, SQLITE_BUSY_TIMEOUT_S)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    ping_after_idle(engine, PING_AFTER_IDLE_S)
    return engine


#: Connections a hub process keeps open to its database, and how many more it opens in a
#: burst. SQLAlchemy's default keeps 5: with more heartbeats than that in flight (a busy
#: second, every kiosk reconnecting after a restart) each one beyond opened a connection and
#: closed it at the end. PostgreSQL starts a process for every connection, which then fills
#: its caches and prepares its statements afresh: in ``bench/fleet.py``'s warm-up that churn
#: was much of both replicas' work. SQLite churned the same way: in the bench a bunch of
#: heartbeats arriving together opened seven connections in one second (each reading the
#: schema again and running its pragmas) and closed them after, and every heartbeat of that
#: second was slow; with 16 kept, a bunch that size finds its connections waiting. A replica
#: holds at most 24, so three replicas stay under PostgreSQL's default ``max_connections``
#: (100).
POOL_SIZE = 16
POOL_OVERFLOW = 8


def autocommit_reads(engine: Engine) -> Engine:
    """``engine`` for reads of one statement: on PostgreSQL without BEGIN and ROLLBACK.

    SQLAlchemy's ``connect()`` runs a read inside a transaction the driver opens with
    ``BEGIN`` and the pool closes with ``ROLLBACK``: three round trips for one ``SELECT``.
    A heartbeat asks three such reads (the certificate's state, pending commands, running
    rollouts), so on PostgreSQL these were six of its fourteen round trips, each a wait for
    the server process to be scheduled on a busy machine (``bench/fleet.py``). Under
    PostgreSQL's READ COMMITTED each statement takes its own snapshot anyway, so a lone
    ``SELECT`` in autocommit reads exactly what it read inside the transaction. Writes keep
    ``engine.begin()``. SQLite's driver opens no transaction for a ``SELECT`` (only before a
    write), so its engine is returned as it is.
    """
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


#: A pooled server connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 10.0


def ping_after_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection before use only when it has sat idle ``idle_s`` or more.

    Why not ``pool_pre_ping``: it pings at every checkout, and a heartbeat checks out about
    four connections, so at 3,300 kiosks a quarter of a PostgreSQL hub's time went to
    ``SELECT 1`` (``bench/fleet.py``). A busy pool's connections are in use every few
    milliseconds, so a server restart shows on them at their next statement: SQLAlchemy
    then invalidates the whole pool, that one request fails (the agent retries at its next
    heartbeat, an upload resumes), and every later checkout connects afresh. The idle ones
    (a quiet night, then a restart) are the ones a ping saves; a failed ping invalidates the
    pool and the checkout retries on a new connection.
    """
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @sa.event.listens_for(engine, "checkin")
    def _stamp(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except dbapi_error as exc:
            raise sa.exc.InvalidatePoolError(f"stale pooled connection: {exc}") from exc


class Database:
    """The hub's engine: its schema brought up to date, and transactions on it."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        #: The engine for lone reads (:func:`autocommit_reads`), derived once for every store.
        self.reads = autocommit_reads(self.engine)

    def create_schema(self) -> None:
        create_tables(metadata, self.engine)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a hub.db made by an older release up to these tables.

        There is no migration framework: ``create_all`` makes missing tables but never
        alters existing ones, and the schema has so far only gained nullable columns, so
        each is added here with a guarded ALTER (plain SQL on SQLite and PostgreSQL) and
        its rows filled in the same transaction:

        - ``uploads.last_activity_at``: uploads open at the upgrade get a full expiry
          window from now (when their last byte came is unknown, and expiring a live
          upload would cost more than keeping a dead one a few more days);
        - ``certificates.activated_at``: certificates issued before are taken as in use
          (the first request with each would otherwise retire the others);
        - ``enrollment_id`` of certificates, uploads and receipts: one ``legacy:<kiosk>``
          enrollment per kiosk id, so what a kiosk had before stays its own.
        """
        legacy = {
            "enrollment_id": lambda t: sa.literal("legacy:", sa.String) + t.c.kiosk_id,
        }
        now = now_utc()
        wanted: list[tuple[sa.Table, str, Any]] = [
            (
                uploads,
                "last_activity_at",
                lambda t: sa.case(
                    (t.c.state == "open", sa.literal(now, TZDateTime)), else_=sa.null()
                ),
            ),
            (certificates, "revoked_reason", None),
            (certificates, "activated_at", lambda t: t.c.issued_at),
            (certificates, "enrollment_id", legacy["enrollment_id"]),
            (uploads, "enrollment_id", legacy["enrollment_id"]),
            (receipts, "enrollment_id", legacy["enrollment_id"]),
        ]
        inspector = sa.inspect(self.engine)
        have = {
            t.name: {c["name"] for c in inspector.get_columns(t.name)}
            for t in metadata.sorted_tables
        }
        prep = self.engine.dialect.identifier_preparer
        for table, name, fill in wanted:
            if name in have[table.name]:
                continue
            col = table.c[name]
            ddl = (
                f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {prep.format_column(col)} "
                f"{col.type.compile(dialect=self.engine.dialect)}"
            )
            try:
                with self.tx() as conn:
                    conn.execute(sa.text(ddl))
                    if fill is not None:
                        conn.execute(table.update().values({name: fill(table)}))
                    record_event(conn, "schema_migrated", None, added=f"{table.name}.{name}")
            except sa.exc.DBAPIError:
                # Another hub replica (or CLI command) added it at the same moment: fine.
                cols = {c["name"] for c in sa.inspect(self.engine).get_columns(table.name)}
                if name not in cols:
                    raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn
