"""What heartbeats cost a PostgreSQL hub: statements, counted by the server itself, and
server connections.

On a busy machine every round trip to PostgreSQL is a wait for its process to be
scheduled, so the heartbeat's count is part of the fleet's latency (``bench/fleet.py``):
the reads of one statement (the certificate's state, pending commands, running rollouts)
go without a transaction of their own (:func:`provisioning.hub.db.autocommit_reads`), and
the only transaction is the one that records the heartbeat. The server logs every
statement it runs (``log_statement = 'all'``), so the count is what reached it, not what
the client meant to send. And a burst of heartbeats in parallel reuses the pool's server
connections instead of opening and closing new ones (each a PostgreSQL process; on SQLite
the schema read again), on both databases.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from provisioning.fleet_schemas import Disk, Heartbeat, Versions
from provisioning.hub.db import now_utc
from tests.support.hub import enroll_kiosks, fleet_hub_dir, hub_app

KIOSK, SERIAL = "xa-0001", "0a1b"

#: A statement line of the server's log: ``LOG:  statement: BEGIN`` or, once psycopg has
#: prepared a query, ``LOG:  execute _pg3_0: SELECT ...``.
STATEMENT = re.compile(r"LOG:  (?:statement|execute [^:]*): (\S+)")


def logged_since(log: Path, offset: int) -> list[str]:
    """The first word of each statement logged after ``offset`` (waits for the log file)."""
    time.sleep(0.3)  # the server's logger writes asynchronously to the file
    return STATEMENT.findall(log.read_bytes()[offset:].decode("utf-8", "replace"))


def make_hub(tmp_path: Path, url: str, kiosks: list[tuple[str, str]]) -> Any:
    """The hub's own composition on PostgreSQL, with ``kiosks`` (id, serial) enrolled."""
    app = hub_app(fleet_hub_dir(tmp_path, name="round-trips"), db_url=url)
    enroll_kiosks(app.state.hub.db, "huyen-07", kiosks)
    return app.state.hub, app


def heartbeat(hub: Any, app: Any, kiosk: str, serial: str, seq: int) -> None:
    """What the heartbeat route does in its worker thread (``fleet_routes``)."""
    assert hub.db.certificates.certificate(serial, kiosk, touch=False).status == "ok"
    hb = Heartbeat(
        seq=seq,
        at=now_utc().isoformat(),
        ver=Versions(app="0.1.0", cfg=None),
        disk=Disk(free=1, total=2),
    )
    app.state.fleet.heartbeat(kiosk, hb)


@pytest.mark.slow
def test_a_heartbeat_is_one_transaction_and_three_lone_reads(
    tmp_path: Path, postgres_server: Any
) -> None:
    import psycopg

    with psycopg.connect(postgres_server.url.replace("+psycopg", ""), autocommit=True) as c:
        c.execute("ALTER DATABASE postgres SET log_statement = 'all'")  # new sessions log
    hub, app = make_hub(tmp_path, postgres_server.url, [(KIOSK, SERIAL)])
    try:
        for seq in range(1, 4):  # first contact, hourly pruning, kiosk document: not routine
            heartbeat(hub, app, KIOSK, SERIAL, seq)
        offset = postgres_server.log.stat().st_size
        heartbeat(hub, app, KIOSK, SERIAL, 4)
        words = [w.upper() for w in logged_since(postgres_server.log, offset)]
    finally:
        hub.close()
    assert words.count("BEGIN") == 1, words
    assert words.count("COMMIT") == 1 and "ROLLBACK" not in words, words
    # certificate state; BEGIN, latest state, UPDATE latest, UPDATE device, COMMIT;
    # pending commands; running rollouts
    assert len(words) == 8, words


def burst(hub: Any, app: Any, kiosks: list[tuple[str, str]], seq: int) -> list[BaseException]:
    """One heartbeat of each kiosk, all released at once; what failed."""
    import threading

    barrier = threading.Barrier(len(kiosks))
    failures: list[BaseException] = []

    def beat(kiosk: str, serial: str) -> None:
        barrier.wait()
        try:
            heartbeat(hub, app, kiosk, serial, seq)
        except BaseException as exc:  # the failure is the finding
            failures.append(exc)

    threads = [threading.Thread(target=beat, args=k) for k in kiosks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def opens_after_the_first_burst(tmp_path: Path, url: str) -> list[int]:
    """Connections each of three bursts of heartbeats opened, after a first burst filled
    the pool (12 in flight at once: a busy second on one replica)."""
    import sqlalchemy as sa

    kiosks = [(f"xa-{i:04d}", f"{i + 1:04x}") for i in range(12)]
    hub, app = make_hub(tmp_path, url, kiosks)
    opened = []
    sa.event.listen(hub.db.engine, "connect", lambda *_: opened.append(1))
    try:
        assert burst(hub, app, kiosks, 1) == []  # opens what the pool then keeps
        counts = []
        for seq in range(2, 5):
            before = len(opened)
            assert burst(hub, app, kiosks, seq) == []
            counts.append(len(opened) - before)
        return counts
    finally:
        hub.close()


@pytest.mark.slow
def test_bursts_of_parallel_heartbeats_reuse_the_servers_connections(
    tmp_path: Path, postgres_url: str
) -> None:
    assert opens_after_the_first_burst(tmp_path, postgres_url) == [0, 0, 0]


def test_bursts_of_parallel_heartbeats_reuse_sqlite_connections(tmp_path: Path) -> None:
    # A new SQLite connection reads the schema and runs its pragmas inside the busy second.
    assert opens_after_the_first_burst(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}") == [0, 0, 0]
