"""How a running hub writes its SQLite file (``sqlite_writes``).

Real SQLite files, real threads: a second writer waits for the first one's connection to go
back to the pool, readers never wait, a failed transaction gives the lock back; and once
the background checkpoints take over, no commit checkpoints the log and the task does.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
import sqlalchemy as sa

from provisioning.hub.db import make_engine
from provisioning.hub.periodic import run_periodically
from provisioning.hub.sqlite_writes import BackgroundCheckpoints, serialize_writers, write_lock
from tests.support.tasks import run_for

metadata = sa.MetaData()
items = sa.Table("items", metadata, sa.Column("n", sa.Integer, primary_key=True))


@pytest.fixture
def engine_and_lock(tmp_path):
    """SQLite with no busy timeout of its own: a writer that meets a held write lock fails at
    once, unless the queue in the process made it wait."""
    engine = sa.create_engine(
        f"sqlite:///{tmp_path / 'hub.db'}", connect_args={"check_same_thread": False, "timeout": 0}
    )

    @sa.event.listens_for(engine, "connect")
    def _wal(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA journal_mode=WAL")

    lock = serialize_writers(engine, wait_s=30)
    metadata.create_all(engine)
    yield engine, lock
    engine.dispose()


def test_the_hub_engine_queues_its_writers(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    assert write_lock(engine) is not None
    assert write_lock(make_engine("postgresql+psycopg://hub@127.0.0.1:1/hub")) is None


def test_a_second_writer_waits_for_the_first_transaction_to_end(engine_and_lock):
    engine, lock = engine_and_lock
    order: list[str] = []
    first_wrote, second_started = threading.Event(), threading.Event()

    def first() -> None:
        with engine.begin() as conn:
            conn.execute(items.insert(), {"n": 1})
            order.append("first wrote")
            first_wrote.set()
            assert second_started.wait(10)
            time.sleep(0.3)  # the second writer reaches its INSERT and waits
            assert lock.locked()
            # A reader meanwhile is not held up by the writers' queue.
            with engine.connect() as reader:
                assert reader.execute(sa.select(sa.func.count()).select_from(items)).scalar() == 0
            order.append("first commits")

    def second() -> None:
        assert first_wrote.wait(10)
        second_started.set()
        with engine.begin() as conn:
            conn.execute(items.insert(), {"n": 2})
            order.append("second wrote")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert order == ["first wrote", "first commits", "second wrote"]
    assert not lock.locked()
    with engine.connect() as conn:
        assert conn.execute(sa.select(items.c.n).order_by(items.c.n)).scalars().all() == [1, 2]


def test_a_failed_transaction_gives_the_lock_back(engine_and_lock):
    engine, lock = engine_and_lock
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(items.insert(), {"n": 1})
        assert lock.locked()
        conn.execute(items.insert(), {"n": 1})  # the same key again
    assert not lock.locked()
    with engine.begin() as conn:  # and the next writer goes ahead
        conn.execute(items.insert(), {"n": 3})
    assert not lock.locked()


def test_reads_do_not_take_the_lock(engine_and_lock):
    engine, lock = engine_and_lock
    with engine.connect() as conn:
        conn.execute(sa.select(items)).all()
        assert not lock.locked()


def test_background_checkpoints_take_over_from_the_commits(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    metadata.create_all(engine)
    blob = sa.Table("blob", sa.MetaData(), sa.Column("b", sa.LargeBinary))
    blob.create(engine)
    checkpoints = BackgroundCheckpoints(engine)
    checkpoints.start()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    for _ in range(30):  # 30 commits of 256 KB: past the 1,000 pages SQLite would copy at
        with engine.begin() as conn:
            conn.execute(blob.insert(), {"b": os.urandom(256 * 1024)})
    db_file = tmp_path / "hub.db"
    assert db_file.stat().st_size < 1024 * 1024  # no commit copied its pages into the file
    busy, in_log, copied = checkpoints.run_once()
    assert busy == 0 and copied == in_log > 1000
    assert db_file.stat().st_size > 7 * 1024 * 1024  # the checkpoint did
    engine.dispose()


def test_the_lifespan_task_checkpoints_until_cancelled(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    metadata.create_all(engine)
    ran: list[tuple[int, int, int]] = []
    checkpoints = BackgroundCheckpoints(engine)
    checkpoints.start()  # as the lifespan's background_duties does
    real = checkpoints.run_once
    monkeypatch.setattr(checkpoints, "run_once", lambda: ran.append(real()) or ran[-1])

    def insert() -> None:
        with engine.begin() as conn:
            conn.execute(items.insert(), {"n": 7})

    ended = run_for(
        lambda: run_periodically(checkpoints.run_once, 0.05, "checkpoint of the hub database"),
        0.6,
        midway=insert,
    )
    assert ended == ["cancelled"]
    assert len(ran) >= 3
    assert any(copied > 0 for _, _, copied in ran)  # the insert's pages were copied
    engine.dispose()


def test_only_sqlite_has_a_log_to_checkpoint():
    with pytest.raises(ValueError):
        BackgroundCheckpoints(make_engine("postgresql+psycopg://hub@127.0.0.1:1/hub"))
