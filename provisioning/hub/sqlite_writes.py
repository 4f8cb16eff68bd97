"""How a running hub's writes reach its SQLite file: one writer at a time, queued in the
process, and the write-ahead log's checkpoints off the requests' path.

SQLite lets one connection write at a time; a second writer gets ``SQLITE_BUSY`` and its
busy handler sleeps and retries (1, 2, 5, 10, 15, 20, 25, 50, 100 ms...), whether the lock
came free a millisecond later or not. On a hub answering 55 heartbeats a second from a
pool of worker threads, writes collide often. :func:`serialize_writers` queues them on a
:class:`threading.Lock`, which hands the file over the moment it is free. The lock mirrors
SQLite's own: taken at the first ``INSERT``/``UPDATE``/``DELETE``/``REPLACE`` of a
transaction (where SQLite takes its write lock), held to the end of the transaction, which
for the hub's ``engine.begin()`` blocks is when the connection goes back to the pool.
Other processes on the same file (``sohoa hub`` commands beside a running hub) still meet
SQLite's busy handler, as before. A writer that waits longer than ``wait_s`` goes ahead
without the lock and SQLite's own timeout decides, so nothing waits forever.

By default SQLite checkpoints inside the commit that fills the log past 1,000 pages: that
request copies 4 MB into the database file and fsyncs it, 100 to 200 ms on the hub's
disk, while holding its connection, and with the writers queued every heartbeat behind it
waited too (``bench/fleet.py``'s tail). :class:`BackgroundCheckpoints` turns that off for
a running hub and checkpoints from a task of its own instead (``PASSIVE``: it never blocks
a reader or a writer); the app's lifespan runs it every second.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: Statements that take SQLite's write lock when they begin a transaction.
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS = "sohoa_holds_write_lock"
_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def write_lock(engine: Engine) -> threading.Lock | None:
    """The lock this engine's writers queue on, or None if they do not (for diagnostics)."""
    return _locks.get(engine)


def serialize_writers(engine: Engine, wait_s: float) -> threading.Lock:
    """Queue this engine's writing transactions on one lock (returned)."""
    lock = _locks[engine] = threading.Lock()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _take(
        conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        info = conn.connection.record_info
        if _HOLDS in info or not statement.lstrip()[:7].upper().startswith(WRITE_VERBS):
            return
        if lock.acquire(timeout=wait_s):
            info[_HOLDS] = True

    def _give_back(record: Any) -> None:
        if record is not None and record.record_info.pop(_HOLDS, False):
            lock.release()

    @sa.event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        _give_back(record)

    @sa.event.listens_for(engine, "close")
    def _closed(_dbapi_conn: Any, record: Any) -> None:
        _give_back(record)

    return lock


class BackgroundCheckpoints:
    """Checkpoints of one SQLite engine's write-ahead log, taken by the caller's schedule
    instead of inside whichever commit filled the log."""

    def __init__(self, engine: Engine):
        if engine.dialect.name != "sqlite":
            raise ValueError("only a SQLite database has a write-ahead log to checkpoint")
        self.engine = engine
        self._started = False

    def start(self) -> None:
        """Stop this process's connections from checkpointing in their commits. The pool
        is emptied so every connection from now on is opened with the setting; call it
        before requests are served."""
        if self._started:
            return

        @sa.event.listens_for(self.engine, "connect")
        def _no_auto_checkpoint(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

        self.engine.dispose()
        self._started = True

    def run_once(self) -> tuple[int, int, int]:
        """One ``PASSIVE`` checkpoint: (1 if it could not finish for a reader or writer,
        pages in the log, pages copied into the database file)."""
        with self.engine.connect() as conn:
            busy, in_log, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        return int(busy), int(in_log), int(copied)
