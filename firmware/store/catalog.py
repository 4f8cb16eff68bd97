"""The catalog: documents, pages, OCR text and the audit log in one SQLite file.

Why one file: a state change and its audit record must commit together, so a power cut
can never leave a transition without its audit event or the reverse. SQLite runs in WAL
mode with ``synchronous=FULL`` (a committed transition survives a power cut). All writes
come from the kiosk service process (workers only compute), under one lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from firmware.routing import Level, assert_may_upload
from firmware.store import states
from firmware.store.states import DocState, PageState
from firmware.store.textfold import fold, nfc

GENESIS_HASH = "0" * 64


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id(prefix: str) -> str:
    """Sortable, readable id: prefix, UTC time to the millisecond, 4 random hex digits."""
    now = datetime.now(UTC)
    return f"{prefix}{now:%Y%m%d-%H%M%S}{now.microsecond // 1000:03d}-{secrets.token_hex(2)}"


class NotFound(KeyError):
    pass


# ---------------------------------------------------------------------------------------
# Migrations: append only. Each runs in one transaction with its version row.
# ---------------------------------------------------------------------------------------
def _m1(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'camera',
            confidentiality TEXT NOT NULL DEFAULT 'thuong',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            page_count INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT,
            content_sha256 TEXT,
            pdf_path TEXT,
            pdf_size INTEGER,
            error_code TEXT,
            error_message TEXT,
            metadata TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX documents_state ON documents(state)")
    db.execute(
        """
        CREATE TABLE pages (
            id TEXT PRIMARY KEY,
            doc_id TEXT NOT NULL REFERENCES documents(id),
            seq INTEGER NOT NULL,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            frame_path TEXT NOT NULL,
            frame_sha256 TEXT NOT NULL,
            preview_path TEXT,
            image_path TEXT,
            ocr_path TEXT,
            quad TEXT,
            paper TEXT,
            quality TEXT,
            rotation INTEGER NOT NULL DEFAULT 0,
            ocr_conf REAL,
            error_code TEXT,
            error_message TEXT,
            replaces TEXT
        )"""
    )
    db.execute("CREATE INDEX pages_doc ON pages(doc_id, seq)")
    db.execute(
        """
        CREATE VIRTUAL TABLE page_text USING fts5(
            doc_id UNINDEXED, page_id UNINDEXED, text, folded, tokenize='unicode61'
        )"""
    )
    db.execute(
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            doc_id TEXT,
            page_id TEXT,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )"""
    )
    db.execute(
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
    )


def _m2(db: sqlite_utils.Database) -> None:
    """Operator accounts (code + argon2 PIN hash, role, lockout) and UI sign-in sessions."""
    db.execute(
        """
        CREATE TABLE operators (
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('operator', 'archivist', 'maintainer')),
            pin_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            failed_count INTEGER NOT NULL DEFAULT 0,
            locked_until REAL,
            disabled INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        """
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            code TEXT NOT NULL REFERENCES operators(code),
            created_at REAL NOT NULL,
            last_seen REAL NOT NULL,
            lang TEXT NOT NULL DEFAULT 'vi',
            ended_at REAL,
            end_reason TEXT
        )"""
    )
    db.execute("CREATE INDEX sessions_open ON sessions(ended_at, last_seen)")


def _m3(db: sqlite_utils.Database) -> None:
    """Sequence numbers of documents in record files (firmware.metadata.sequence):
    unique per (record code, sequence), one row per document."""
    db.execute(
        """
        CREATE TABLE record_items (
            record_code TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            doc_id TEXT NOT NULL UNIQUE REFERENCES documents(id),
            assigned_at TEXT NOT NULL,
            PRIMARY KEY (record_code, sequence)
        )"""
    )


def _m4(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE pages ADD COLUMN source TEXT NOT NULL DEFAULT 'camera'")
    db.execute("ALTER TABLE pages ADD COLUMN scan_dpi INTEGER")


def _m5(db: sqlite_utils.Database) -> None:
    """The uplink outbox (firmware.uplink.outbox): one row per ordinary sealed document,
    where its resumable upload stands, why it last failed, and the hub's receipt."""
    db.execute(
        """
        CREATE TABLE outbox (
            document_id TEXT PRIMARY KEY REFERENCES documents(id),
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            path TEXT NOT NULL,
            upload_url TEXT,
            "offset" INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error_code TEXT,
            last_error TEXT,
            queued_at TEXT NOT NULL,
            delivered_at TEXT,
            receipt TEXT
        )"""
    )
    db.execute("CREATE INDEX outbox_due ON outbox(delivered_at, next_attempt_at)")


def _m6(db: sqlite_utils.Database) -> None:
    """The document register, selection rules and custody of originals (tables and the
    custody triggers are described in firmware.register.schema)."""
    from firmware.register.schema import create_register_tables

    create_register_tables(db)


def _m7(db: sqlite_utils.Database) -> None:
    """Signed checkpoints of the audit chain's head, one per signed head (written and
    checked by firmware.store.audit_anchor; ``reported_at``: the hub accepted it)."""
    db.execute(
        """
        CREATE TABLE audit_checkpoints (
            seq INTEGER PRIMARY KEY,
            head TEXT NOT NULL,
            at TEXT NOT NULL,
            kiosk_id TEXT NOT NULL,
            signer TEXT NOT NULL,
            sig TEXT NOT NULL,
            reported_at TEXT
        )"""
    )


def _m8(db: sqlite_utils.Database) -> None:
    """Who captured a document (the visibility rule lets them see it until it is sealed),
    and the catalog's own guard of the confidentiality rule: SQLite triggers refuse any
    write, from any code path, that would put a document that is not ordinary on the WAN
    path (an outbox row, the ``queued`` state) or classify a document still waiting in the
    outbox. Python checks the same earlier with a clearer message; these catch the rest."""
    db.execute("ALTER TABLE documents ADD COLUMN created_by TEXT")
    db.execute(
        "UPDATE documents SET created_by = (SELECT a.actor FROM audit a WHERE a.doc_id = "
        "documents.id AND a.action = 'document.create' ORDER BY a.seq LIMIT 1)"
    )
    ordinary = Level.THUONG.value
    db.execute(
        f"""CREATE TRIGGER outbox_refuses_classified BEFORE INSERT ON outbox
        WHEN (SELECT confidentiality FROM documents WHERE id = NEW.document_id)
             IS NOT '{ordinary}'
        BEGIN SELECT RAISE(ABORT, 'confidential_not_uploadable: a classified document never
        enters the outbox'); END"""
    )
    db.execute(
        f"""CREATE TRIGGER documents_classified_never_queued BEFORE UPDATE OF state ON documents
        WHEN NEW.state = 'queued' AND NEW.confidentiality IS NOT '{ordinary}'
        BEGIN SELECT RAISE(ABORT, 'confidential_not_uploadable: a classified document is never
        queued for the WAN'); END"""
    )
    db.execute(
        f"""CREATE TRIGGER documents_classified_leaves_outbox
        BEFORE UPDATE OF confidentiality ON documents
        WHEN NEW.confidentiality IS NOT '{ordinary}' AND EXISTS (
            SELECT 1 FROM outbox WHERE document_id = NEW.id AND delivered_at IS NULL)
        BEGIN SELECT RAISE(ABORT, 'confidential_not_uploadable: take the document out of the
        outbox before classifying it'); END"""
    )


MIGRATIONS: list[tuple[int, str, Any]] = [
    (1, "documents, pages, page_text (FTS5), audit", _m1),
    (2, "operators", _m2),
    (3, "record_items (sequence numbers in record files)", _m3),
    (4, "pages.source and pages.scan_dpi (scanner pages)", _m4),
    (5, "outbox (uplink queue)", _m5),
    (6, "registers, register_entries, selection_rules, custody", _m6),
    (7, "audit_checkpoints (signed heads of the audit chain)", _m7),
    (8, "documents.created_by; triggers keeping classified documents off the WAN", _m8),
]


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def audit_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """Hash of one audit record chained to the previous one (the record without its hashes)."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(record)).hexdigest()


@dataclass
class AuditVerdict:
    ok: bool
    records: int
    head: str
    problem: str = ""
    bad_seq: int | None = None


#: Columns holding JSON: callers read and write Python values, the catalog stores text.
JSON_COLUMNS = {"documents": ("metadata",), "pages": ("quad", "quality")}


def _to_json(table: str, fields: dict[str, Any]) -> dict[str, Any]:
    if table == "documents" and "confidentiality" in fields:
        raise ValueError("the confidentiality level is set by firmware.classification only")
    meta = fields.get("metadata") if table == "documents" else None
    if isinstance(meta, dict) and "confidentiality" in meta:
        # The level is stored once, in its column (firmware.classification sets it);
        # a second copy in the metadata is how a Mật document once reached the WAN.
        raise ValueError("the confidentiality level is not metadata: use set_level")
    for k in JSON_COLUMNS[table]:
        if fields.get(k) is not None and not isinstance(fields[k], str):
            fields[k] = json.dumps(fields[k], ensure_ascii=False)
    return fields


def _from_json(table: str, row: dict[str, Any]) -> dict[str, Any]:
    for k in JSON_COLUMNS[table]:
        if row.get(k):
            row[k] = json.loads(row[k])
    return row


class Catalog:
    """Access to ``catalog.db``. Thread-safe for the kiosk service's threads.

    Each thread gets its own SQLite connection (WAL lets readers run beside the writer):
    a connection shared between threads would let one thread's read (sqlite-utils wraps
    queries in a SAVEPOINT) open a transaction in the middle of another thread's write.
    Writers are serialized by BEGIN IMMEDIATE and, within this process, by a lock.
    """

    #: catalog.db holds OCR text of classified documents: owner only. SQLite gives its
    #: -wal and -shm files the database file's mode, so creating it 0600 covers all three.
    FILE_MODE = 0o600

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._private_files()
        self._local = threading.local()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._lock = threading.RLock()
        self._depth = threading.local()
        self.migrate()

    def _private_files(self) -> None:
        """Create catalog.db 0600 before SQLite does (it would use 0644), and tighten an
        existing one and its -wal/-shm files."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, self.FILE_MODE)
        os.close(fd)
        for p in (self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_IMODE(p.stat().st_mode) & 0o077:
                    os.chmod(p, self.FILE_MODE)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: Python's sqlite3 never opens a transaction behind our back, and
        # every multi-statement change goes through transaction() (BEGIN IMMEDIATE).
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        with self._conns_lock:
            # Short-lived threads (the pedal's release timer, a request's worker) each get
            # a connection; those of finished threads are closed here, not kept for ever.
            alive = []
            for thread, old in self._conns:
                if thread.is_alive():
                    alive.append((thread, old))
                else:
                    with contextlib.suppress(sqlite3.Error):
                        old.close()
            alive.append((threading.current_thread(), conn))
            self._conns = alive
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection, wrapped by sqlite-utils."""
        db = getattr(self._local, "db", None)
        if self._closed:
            if db is not None:  # a thread that outlived close(): release its connection
                self._local.db = None
                db.conn.close()
            raise sqlite3.ProgrammingError("the catalog is closed")
        if db is None:
            db = sqlite_utils.Database(self._connect())
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection and those of finished threads. A connection in
        use by a live thread is never closed under it (that crashes SQLite); the thread
        releases it on its next access."""
        with self._lock, self._conns_lock:
            self._closed = True
            me = threading.current_thread()
            keep = []
            for thread, conn in self._conns:
                if thread is me or not thread.is_alive():
                    try:
                        conn.close()
                    except sqlite3.Error:
                        pass
                else:
                    keep.append((thread, conn))
            self._conns = keep
            self._local.db = None

    # -- schema ---------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        if "schema_migrations" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    def migrate(self) -> list[int]:
        applied: list[int] = []
        with self._lock:
            if "schema_migrations" not in self.db.table_names():
                with self.transaction():
                    self.db.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
                    )
            current = self.schema_version
            for version, name, fn in MIGRATIONS:
                if version <= current:
                    continue
                with self.transaction():
                    fn(self.db)
                    self.db.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        [version, name, utcnow()],
                    )
                applied.append(version)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One atomic unit (BEGIN IMMEDIATE ... COMMIT) under the catalog lock.

        Re-entrant within a thread: an inner block joins the outer transaction, so helpers
        can be composed without committing half of a change.
        """
        with self._lock:
            depth = getattr(self._depth, "n", 0)
            if depth:
                self._depth.n = depth + 1
                try:
                    yield self.db
                finally:
                    self._depth.n = depth
                return
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            self._depth.n = 1
            try:
                yield self.db
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._depth.n = 0

    def _insert(self, table: str, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        self.db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))

    def _update(self, table: str, key: str, fields: dict[str, Any]) -> None:
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*fields.values(), key])

    # -- audit ----------------------------------------------------------------------------
    def _append_audit(
        self,
        actor: str,
        action: str,
        doc_id: str | None = None,
        page_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append inside the caller's transaction (so state and audit commit together)."""
        row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS_HASH)
        record = {
            "seq": seq,
            "ts": utcnow(),
            "actor": actor,
            "action": action,
            "doc_id": doc_id,
            "page_id": page_id,
            "details": details or {},
        }
        digest = audit_hash(prev, record)
        self.db.execute(
            "INSERT INTO audit (seq, ts, actor, action, doc_id, page_id, details, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [
                seq,
                record["ts"],
                actor,
                action,
                doc_id,
                page_id,
                json.dumps(record["details"], ensure_ascii=False, sort_keys=True),
                prev,
                digest,
            ],
        )
        return {**record, "prev_hash": prev, "hash": digest}

    def audit(
        self,
        actor: str,
        action: str,
        doc_id: str | None = None,
        page_id: str | None = None,
        **details: Any,
    ) -> dict[str, Any]:
        """Record an event that is not a state transition (errors, sign-ins, bad input)."""
        with self.transaction():
            return self._append_audit(actor, action, doc_id, page_id, details)

    def pages_captured_since(self, since: datetime) -> int:
        """Pages captured at or after ``since`` (the fleet heartbeat's "pages today")."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM pages WHERE created_at >= ?",
            [since.astimezone(UTC).isoformat(timespec="milliseconds")],
        ).fetchone()
        return int(row[0]) if row else 0

    def audit_head(self) -> tuple[int, str]:
        row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def max_audit_detail(self, key: str) -> int:
        """The highest integer ``key`` among the audit records' details (0 when none): where
        a take-over of numbered records from elsewhere (the fleet agent's) resumes."""
        path = "$." + key
        row = self.db.execute(
            "SELECT MAX(CAST(json_extract(details, ?) AS INTEGER)) FROM audit "
            "WHERE json_extract(details, ?) IS NOT NULL",
            [path, path],
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def audit_hash_at(self, seq: int) -> str | None:
        """The stored hash of audit record ``seq`` (None when there is no such record)."""
        row = self.db.execute("SELECT hash FROM audit WHERE seq = ?", [seq]).fetchone()
        return row[0] if row else None

    def recent_audit(self, limit: int = 30) -> list[dict[str, Any]]:
        """The newest audit records first (seq, ts, actor, action, doc_id): the
        maintenance screen's tail of the log."""
        return list(
            self.db.query(
                "SELECT seq, ts, actor, action, doc_id FROM audit ORDER BY seq DESC LIMIT ?",
                [int(limit)],
            )
        )

    def document_creators(self, doc_ids: list[str]) -> dict[str, dict[str, str]]:
        """doc id -> {"code", "name"} of who started it (its ``document.create`` record;
        the name falls back to the code for an account that is gone)."""
        if not doc_ids:
            return {}
        marks = ",".join("?" * len(doc_ids))
        rows = self.db.execute(
            "SELECT a.doc_id, a.actor, o.name FROM audit a "
            "LEFT JOIN operators o ON o.code = a.actor "
            f"WHERE a.action = 'document.create' AND a.doc_id IN ({marks})",
            doc_ids,
        ).fetchall()
        return {r[0]: {"code": r[1], "name": r[2] or r[1]} for r in rows}

    def audit_records(
        self, doc_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM audit"
        args: list[Any] = []
        if doc_id:
            sql += " WHERE doc_id = ?"
            args.append(doc_id)
        sql += " ORDER BY seq"
        if limit:
            sql += f" LIMIT {int(limit)}"
        out = []
        for r in self.db.query(sql, args):
            r["details"] = json.loads(r["details"])
            out.append(r)
        return out

    def verify_audit(self) -> AuditVerdict:
        """Walk the chain: every record's hash must match its content and predecessor."""
        prev = GENESIS_HASH
        count = 0
        expected_seq = 1
        for r in self.db.query("SELECT * FROM audit ORDER BY seq"):
            count += 1
            if r["seq"] != expected_seq:
                return AuditVerdict(False, count, prev, f"gap before record {r['seq']}", r["seq"])
            if r["prev_hash"] != prev:
                return AuditVerdict(
                    False,
                    count,
                    prev,
                    f"record {r['seq']} does not follow its predecessor",
                    r["seq"],
                )
            record = {
                "seq": r["seq"],
                "ts": r["ts"],
                "actor": r["actor"],
                "action": r["action"],
                "doc_id": r["doc_id"],
                "page_id": r["page_id"],
                "details": json.loads(r["details"]),
            }
            if audit_hash(prev, record) != r["hash"]:
                return AuditVerdict(False, count, prev, f"record {r['seq']} was altered", r["seq"])
            prev = r["hash"]
            expected_seq += 1
        return AuditVerdict(True, count, prev)

    # -- documents ------------------------------------------------------------------------
    def create_document(
        self,
        actor: str,
        *,
        title: str = "",
        source: str = "camera",
        metadata: dict[str, Any] | None = None,
        doc_id: str | None = None,
    ) -> dict[str, Any]:
        doc_id = doc_id or new_id("D")
        now = utcnow()
        _to_json("documents", {"metadata": metadata or {}})  # refuses a level in metadata
        with self.transaction():
            self._insert(
                "documents",
                {
                    "id": doc_id,
                    "state": DocState.OPEN.value,
                    "title": nfc(title),
                    "source": source,
                    "created_by": actor,
                    "created_at": now,
                    "updated_at": now,
                    "metadata": json.dumps(metadata or {}, ensure_ascii=False),
                },
            )
            self._append_audit(actor, "document.create", doc_id, None, {"source": source})
        return self.get_document(doc_id)

    def _by_id(self, table: str, row_id: str) -> dict[str, Any] | None:
        """One row by primary key in a single query (sqlite-utils' ``Table.get`` reads the
        schema first; this runs several times per captured page)."""
        cur = self.db.execute(f"SELECT * FROM {table} WHERE id = ?", [row_id])  # noqa: S608
        row = cur.fetchone()
        if row is None:
            return None
        return _from_json(table, dict(zip([c[0] for c in cur.description], row, strict=True)))

    def get_document(self, doc_id: str) -> dict[str, Any]:
        row = self._by_id("documents", doc_id)
        if row is None:
            raise NotFound(f"document {doc_id} not found")
        return row

    def list_documents(
        self, states_in: Iterable[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM documents"
        args: list[Any] = []
        if states_in:
            st = list(states_in)
            sql += f" WHERE state IN ({','.join('?' * len(st))})"
            args += st
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        return [_from_json("documents", r) for r in self.db.query(sql, args)]

    def state_counts(self) -> dict[str, int]:
        """How many documents are in each state (states without any are absent)."""
        rows = self.db.execute("SELECT state, COUNT(*) FROM documents GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    def live_page_count(self, doc_states: Iterable[str]) -> int:
        """Pages (not deleted) of the documents in ``doc_states``, e.g. the digitized ones."""
        st = sorted(doc_states)
        if not st:
            return 0
        return self.db.execute(
            "SELECT COUNT(*) FROM pages p JOIN documents d ON d.id = p.doc_id "
            f"WHERE p.state != 'deleted' AND d.state IN ({','.join('?' * len(st))})",
            st,
        ).fetchone()[0]

    def list_documents_where(
        self, where: str, args: list[Any], limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest documents matching an SQL condition built by a rule module (e.g.
        :func:`firmware.visibility.visible_clause`); never from user text."""
        sql = f"SELECT * FROM documents WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        return [_from_json("documents", r) for r in self.db.query(sql, [*args, limit])]

    def transition_document(
        self,
        doc_id: str,
        target: DocState | str,
        actor: str,
        *,
        reason: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Move a document to ``target`` and record it, in one transaction."""
        with self.transaction():
            row = self.db.execute("SELECT state FROM documents WHERE id = ?", [doc_id]).fetchone()
            if row is None:
                raise NotFound(f"document {doc_id} not found")
            current = row[0]
            tgt = states.check_document(doc_id, current, str(target))
            if tgt == DocState.QUEUED:
                # The last line of defence of the confidentiality rule: whatever path asked,
                # a classified document never enters the WAN outbox.
                level = self.db.execute(
                    "SELECT id, confidentiality FROM documents WHERE id = ?", [doc_id]
                ).fetchone()
                assert_may_upload({"id": level[0], "confidentiality": level[1]})
            update = {"state": tgt.value, "updated_at": utcnow(), **fields}
            _to_json("documents", update)
            if tgt != DocState.FAILED and "error_code" not in fields:
                update["error_code"] = None
                update["error_message"] = None
            self._update("documents", doc_id, update)
            details: dict[str, Any] = {"from": current, "to": tgt.value}
            if reason:
                details["reason"] = reason
            for k in ("sha256", "error_code", "error_message", "pdf_path"):
                if fields.get(k):
                    details[k] = fields[k]
            self._append_audit(actor, f"document.{tgt.value}", doc_id, None, details)
        return self.get_document(doc_id)

    def update_document(self, doc_id: str, actor: str, action: str, **fields: Any) -> None:
        """Change fields that are not the state (title, metadata), audited."""
        if "state" in fields:
            raise ValueError("use transition_document to change the state")
        with self.transaction():
            _to_json("documents", fields)
            fields["updated_at"] = utcnow()
            self._update("documents", doc_id, fields)
            shown = {k: v for k, v in fields.items() if k not in ("updated_at",)}
            self._append_audit(actor, action, doc_id, None, shown)

    # -- pages ----------------------------------------------------------------------------
    def add_page(
        self,
        doc_id: str,
        actor: str,
        *,
        page_id: str,
        frame_path: str,
        frame_sha256: str,
        replaces: str | None = None,
        source: str = "camera",
        scan_dpi: int | None = None,
    ) -> dict[str, Any]:
        """Register a frame already durable on disk as the next page (or in place of one)."""
        now = utcnow()
        with self.transaction():
            doc = self.db.execute("SELECT state FROM documents WHERE id = ?", [doc_id]).fetchone()
            if doc is None:
                raise NotFound(f"document {doc_id} not found")
            if DocState(doc[0]) not in states.DOC_EDITABLE:
                raise states.IllegalTransition("document", doc_id, doc[0], "add page")
            if replaces:
                old = self.db.execute(
                    "SELECT seq, state FROM pages WHERE id = ? AND doc_id = ?", [replaces, doc_id]
                ).fetchone()
                if old is None:
                    raise NotFound(f"page {replaces} not found in {doc_id}")
                states.check_page(replaces, old[1], PageState.DELETED)
                seq = old[0]
                self.db.execute(
                    "UPDATE pages SET state = ?, updated_at = ? WHERE id = ?",
                    [PageState.DELETED.value, now, replaces],
                )
                self.db.execute("DELETE FROM page_text WHERE page_id = ?", [replaces])
            else:
                seq = (
                    self.db.execute(
                        "SELECT COALESCE(MAX(seq), 0) FROM pages WHERE doc_id = ?", [doc_id]
                    ).fetchone()[0]
                    + 1
                )
            self._insert(
                "pages",
                {
                    "id": page_id,
                    "doc_id": doc_id,
                    "seq": seq,
                    "state": PageState.CAPTURED.value,
                    "created_at": now,
                    "updated_at": now,
                    "frame_path": frame_path,
                    "frame_sha256": frame_sha256,
                    "replaces": replaces,
                    "source": source,
                    "scan_dpi": scan_dpi,
                },
            )
            if DocState(doc[0]) == DocState.OPEN:
                states.check_document(doc_id, doc[0], DocState.CAPTURING)
                self.db.execute(
                    "UPDATE documents SET state = ?, updated_at = ? WHERE id = ?",
                    [DocState.CAPTURING.value, now, doc_id],
                )
                self._append_audit(
                    actor, "document.capturing", doc_id, None, {"from": doc[0], "to": "capturing"}
                )
            self._refresh_page_count(doc_id)
            self._append_audit(
                actor,
                "page.retake" if replaces else "page.capture",
                doc_id,
                page_id,
                {"seq": seq, "frame_sha256": frame_sha256, "replaces": replaces},
            )
        return self.get_page(page_id)

    def _refresh_page_count(self, doc_id: str) -> None:
        self.db.execute(
            "UPDATE documents SET page_count = (SELECT COUNT(*) FROM pages WHERE doc_id = ? "
            "AND state != 'deleted') WHERE id = ?",
            [doc_id, doc_id],
        )

    def get_page(self, page_id: str) -> dict[str, Any]:
        row = self._by_id("pages", page_id)
        if row is None:
            raise NotFound(f"page {page_id} not found")
        return row

    def pages(self, doc_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM pages WHERE doc_id = ?"
        if not include_deleted:
            sql += " AND state != 'deleted'"
        sql += " ORDER BY seq, created_at"
        return [_from_json("pages", r) for r in self.db.query(sql, [doc_id])]

    def transition_page(
        self,
        page_id: str,
        target: PageState | str,
        actor: str,
        *,
        reason: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        with self.transaction():
            row = self.db.execute(
                "SELECT state, doc_id FROM pages WHERE id = ?", [page_id]
            ).fetchone()
            if row is None:
                raise NotFound(f"page {page_id} not found")
            current, doc_id = row
            tgt = states.check_page(page_id, current, str(target))
            _to_json("pages", fields)
            self._update("pages", page_id, {"state": tgt.value, "updated_at": utcnow(), **fields})
            if tgt == PageState.DELETED:
                self.db.execute("DELETE FROM page_text WHERE page_id = ?", [page_id])
                self._refresh_page_count(doc_id)
            details: dict[str, Any] = {"from": current, "to": tgt.value}
            if reason:
                details["reason"] = reason
            for k in ("error_code", "error_message"):
                if fields.get(k):
                    details[k] = fields[k]
            self._append_audit(actor, f"page.{tgt.value}", doc_id, page_id, details)
        return self.get_page(page_id)

    def update_page(self, page_id: str, actor: str, action: str | None, **fields: Any) -> None:
        """Change page fields that are not the state; audited when ``action`` is given."""
        if "state" in fields:
            raise ValueError("use transition_page to change the state")
        with self.transaction():
            _to_json("pages", fields)
            fields["updated_at"] = utcnow()
            self._update("pages", page_id, fields)
            if action:
                doc_id = self.db.execute(
                    "SELECT doc_id FROM pages WHERE id = ?", [page_id]
                ).fetchone()[0]
                shown = {k: v for k, v in fields.items() if k != "updated_at"}
                self._append_audit(actor, action, doc_id, page_id, shown)

    def reorder_pages(self, doc_id: str, order: list[str], actor: str) -> None:
        with self.transaction():
            live = [
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM pages WHERE doc_id = ? AND state != 'deleted'", [doc_id]
                ).fetchall()
            ]
            if sorted(live) != sorted(order):
                raise ValueError("the new order must name every page of the document once")
            for i, pid in enumerate(order, start=1):
                self.db.execute("UPDATE pages SET seq = ? WHERE id = ?", [i, pid])
            self._append_audit(actor, "document.reorder", doc_id, None, {"order": order})

    # -- text -----------------------------------------------------------------------------
    def set_page_text(self, doc_id: str, page_id: str, text: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM page_text WHERE page_id = ?", [page_id])
            self.db.execute(
                "INSERT INTO page_text (doc_id, page_id, text, folded) VALUES (?,?,?,?)",
                [doc_id, page_id, nfc(text), fold(text)],
            )

    def remove_document_text(self, doc_id: str) -> int:
        """Drop a document's OCR text from the search index (a discarded capture)."""
        with self.transaction():
            cur = self.db.execute("DELETE FROM page_text WHERE doc_id = ?", [doc_id])
            return cur.rowcount

    def erase_text(self, doc_ids: list[str]) -> None:
        """Delete the OCR text of ``doc_ids`` so that no trace of it stays in ``catalog.db``
        or its journal (purge after a verified export): SQLite's ``secure_delete`` zeroes
        the freed pages, the FTS index is merged so no segment keeps the words, and the WAL
        is truncated."""
        with self.transaction() as db:
            db.execute("PRAGMA secure_delete=ON")
            for doc_id in doc_ids:
                db.execute("DELETE FROM page_text WHERE doc_id = ?", [doc_id])
            db.execute("INSERT INTO page_text(page_text) VALUES('optimize')")
        with contextlib.suppress(Exception):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def document_text(self, doc_id: str) -> str:
        rows = self.db.execute(
            "SELECT t.text FROM page_text t JOIN pages p ON p.id = t.page_id "
            "WHERE t.doc_id = ? AND p.state != 'deleted' ORDER BY p.seq",
            [doc_id],
        ).fetchall()
        return "\n\f".join(r[0] for r in rows)

    def search(
        self, query: str, limit: int = 50, *, where: str = "1", args: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        """Full-text search, with or without diacritics: every word must occur (prefix).

        ``where``/``args``: a condition on the documents (alias ``d``) from a rule module,
        e.g. who may see which documents."""
        words = [w for w in fold(query).replace('"', " ").split() if w]
        if not words:
            return []
        match = " AND ".join(f'"{w}"*' for w in words)
        sql = (
            "SELECT t.doc_id, t.page_id, p.seq, d.title, d.state, "
            "snippet(page_text, 3, '[', ']', '…', 12) AS snippet "
            "FROM page_text t JOIN pages p ON p.id = t.page_id "
            "JOIN documents d ON d.id = t.doc_id "
            f"WHERE page_text MATCH ? AND p.state != 'deleted' AND {where} "
            "ORDER BY rank LIMIT ?"
        )
        return list(self.db.query(sql, [f"folded : ({match})", *(args or []), limit]))
