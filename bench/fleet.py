"""3,300 simulated agents heartbeating the real hub: latency, hub CPU, database size, in two
configurations side by side.

Configurations (``--config``, both by default):

* ``sqlite``: one hub process (uvicorn, SQLite), the embedded default;
* ``pg``: two hub processes on one PostgreSQL, behind a loopback round-robin TCP balancer
  (``bench/tcp_balancer.py``; TLS passes through it, so mutual TLS ends at the hubs). Both
  replicas share the hub directory (CA, TUF repository) and the database, as a province's
  replicas would share them.

Real parts: ``python -m provisioning.hub``'s uvicorn configuration (this file's
``--serve-timed`` adds only a timer around the heartbeat route), mutual TLS with one
certificate per simulated kiosk (issued by the hub's CA and recorded as the hub's EST
enrollment would), a signed-configuration repository holding every kiosk's document (as a
running fleet has), and the heartbeat as the agent sends it: the ``Heartbeat`` model
serialized with ``dump_model``, ``Content-Type: application/json``, ``User-Agent:
sohoa-agent``, over one kept-alive connection per kiosk (``provisioning.agent.hub_link``
keeps its client open between polls, and the hub's keep-alive outlasts the interval).

The hub's database starts as a running fleet's: every kiosk's last heartbeat is recorded
and its last kept history row spread over the sampling period, and PostgreSQL's tables are
vacuumed and analyzed (``seed_running_fleet``). Each agent starts at a random phase within
the first interval: that first heartbeat opens its connection (TLS handshake with two
certificates) and is reported on its own row; then the agent takes a random phase of its
own, as a fleet that has run for hours has. The measured window opens once every agent has
its connection (at least one interval after the start), and the heartbeats queued behind
the handshakes have been answered (``Window``), and lasts ``--duration`` seconds:
steady-state heartbeats on kept connections, the load a running fleet puts on its hub.
Hub CPU per heartbeat is the hub processes' CPU time in the window over the heartbeats they
answered (PostgreSQL's own CPU is a separate column); the CPU of the simulated agents and of
the balancer in the window is printed below the table.

After the run the database is filled with one simulated week of heartbeat history per
kiosk at the hub's sampling (``[fleet] history_every_s``, 1 h) and measured on disk
(SQLite: ``hub.db*``; PostgreSQL: ``pg_database_size``).

    nice -n 10 .venv/bin/python bench/fleet.py                 # both, 3,300 kiosks, 120 s
    nice -n 10 .venv/bin/python bench/fleet.py --quick         # both, 3,300 kiosks, 45 s
    nice -n 10 .venv/bin/python bench/fleet.py --config sqlite --kiosks 3300 --duration 180

``--speedup N`` compresses the clock (interval 60/N s: N times the request rate).

Budget (issue 17): p99 heartbeat latency < 200 ms on one hub process, and the same with
PostgreSQL behind two replicas.

Measured 2026-12-03 with the default 120 s window, nice 10 on an otherwise idle 2-core
machine (PostgreSQL's row had two hubs, the database, the balancer and the 3,300 agents on
the 2 cores)::

    configuration      heartbeats  p50 ms  p99 ms  in-hub p99  hub CPU/hb  DB CPU/hb  week
    SQLite, 1 hub            6573    11.0    33.5        24.3     5.77 ms          -  364.6 MB
    PostgreSQL, 2 hubs       6593    15.3    50.2        39.1     7.76 ms    1.14 ms  364.3 MB

CPU in that window: hubs 0.32 (SQLite) and 0.43 cores (PostgreSQL's two), PostgreSQL 0.06,
the agents 0.19 to 0.20, the balancer 0.03; no heartbeat of the SQLite hub took 100 ms, one
of PostgreSQL's did. ``--quick`` runs of the same code: SQLite 36.4 and 39.9 ms, PostgreSQL
50.7 and 41.2 ms.

Below the table are where the time went (heartbeats of 100 ms or more by the second they
started, with the slowest body arrival, authentication, service and database write in that
second), statements, commits and pool checkouts of 20 ms or more, database connections the
hubs opened in the window, and the collector's pauses in the hubs, the agents' process and
the balancer. Those lines found the last over-budget second of each earlier run (p99 92.7
to 307.6 ms, one second per run in which every heartbeat was slow at once): a full
collection of the agents' process, 388 ms over its 480,000 objects of connection state,
stopped all 3,300 simulated kiosks at once, and their overdue heartbeats then reached the
hub in one bunch; on SQLite that bunch also opened seven database connections in the same
second and closed them after (the pool kept 5; it keeps 16 now, as on PostgreSQL). Real
kiosks are 3,300 processes of their own, so the agents' process now freezes its state out
of the collector once every agent is connected, as the hub does at start
(``tune_collector``).

Before the database started as a running fleet's, every PostgreSQL run had a burst of 40 to
80 heartbeats at 290 to 670 ms: the first WAL segment switch of a fresh cluster zero-filling
16 MB while commits waited (a checkpoint before the run, as a running server has had many,
removed it: the run before it 431.5 ms, the run after 68.9), or autovacuum analyzing the
freshly loaded tables. Before PostgreSQL kept its pool (16 server connections) and its lone
reads went without BEGIN/ROLLBACK (8 statements a heartbeat instead of 14), the warm-up's
first contacts took 17 to 35 s at the median (now 0.06 to 1.5 s) and their queue spilled into
the window (p99 1,778 to 4,548 ms). Before session 9's code (the collector's full
collections of 150 to 330 ms, SQLite's busy handler, checkpoints inside commits) SQLite
ranged from 62 to 1,390 ms.

Before the agent kept its connection (httpx closed it after 5 s idle, so every heartbeat
was a new mutual-TLS handshake), SQLite 1 hub measured p50 952 ms, p99 5,566 ms and 9.5 ms
of hub CPU per heartbeat at load 5.9.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import psutil  # noqa: E402

from bench.gc_pauses import record_pauses, recording_pauses  # noqa: E402
from provisioning.agent.hub_link import LIMITS as AGENT_LIMITS  # noqa: E402
from provisioning.fleet_schemas import (  # noqa: E402
    HEALTHZ_PATH,
    HEARTBEAT_PATH,
    JSON_TYPE,
    Heartbeat,
    dump_model,
)
from provisioning.hub.server import tune_collector  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
BUDGET_MS = 200.0
SLOW_MS = 100.0  # in-hub heartbeats this slow are listed by the second they started in
STALL_MS = 30.0  # a hub thread woken this late is reported as a stall of the interpreter
STATEMENT_MS = 20.0  # database statements and commits this slow are recorded by the hub
CONFIGS = ("sqlite", "pg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_timed(hub_dir: str, port: int, out: str) -> None:
    """The hub exactly as ``sohoa hub run`` serves it, with each heartbeat's time inside the
    hub recorded (from the request reaching the app to the last byte of the answer, with
    its monotonic start): what the hub itself costs, apart from queueing in the clients of
    this crowded machine."""
    import signal

    import uvicorn

    from provisioning.hub import fleet_routes
    from provisioning.hub.auth import authenticate
    from provisioning.hub.config import load_hub_settings
    from provisioning.hub.server import tune_collector, uvicorn_config

    times: list[tuple[float, float]] = []
    pauses = record_pauses()  # (start, seconds, generation, freed)

    # A thread that wakes every 5 ms needs the interpreter lock to note the time: a wake-up
    # much later than asked means some thread held the lock (or the process got no CPU).
    stalls: list[tuple[float, float]] = []  # (start, seconds) of wake-ups >= STALL_MS late

    def watch_stalls() -> None:
        while True:
            t0 = time.monotonic()
            time.sleep(0.005)
            late = time.monotonic() - t0 - 0.005
            if late * 1000 >= STALL_MS:
                stalls.append((t0, late))

    threading.Thread(target=watch_stalls, name="bench-stall-watch", daemon=True).start()
    config, service = uvicorn_config(
        load_hub_settings(hub_dir, host="127.0.0.1", port=port),
        log_level="warning",
        access_log=False,
    )
    inner = config.app

    # How long after the app was called the request's body had arrived: a relay (the
    # balancer) or a client that stalls between the headers and the body shows here.
    bodies: list[tuple[float, float]] = []  # (start, seconds)

    async def timed(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http" or scope["path"] != HEARTBEAT_PATH:
            return await inner(scope, receive, send)
        t0 = time.monotonic()
        body_at = [t0]

        async def receive_timed():  # type: ignore[no-untyped-def]
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body"):
                body_at[0] = time.monotonic()
            return message

        try:
            return await inner(scope, receive_timed, send)
        finally:
            times.append((t0, time.monotonic() - t0))
            bodies.append((t0, body_at[0] - t0))

    # The worker thread's share: FleetService.heartbeat (validate, record, answer) and, in it,
    # the database write; a stall in the event loop shows in neither.
    # (start, seconds of FleetService.heartbeat, of its DB write, of authenticate before it)
    work: list[tuple[float, float, float, float]] = []
    fleet = inner.state.fleet  # type: ignore[attr-defined]
    service_heartbeat, db_record = fleet.heartbeat, fleet.db.record_heartbeat
    took = threading.local()

    def noting(fn, field: str):  # type: ignore[no-untyped-def]
        """``fn``, its last call's seconds kept in ``took.<field>`` of the calling thread."""

        def timed_call(*a, **kw):  # type: ignore[no-untyped-def]
            t0 = time.monotonic()
            try:
                return fn(*a, **kw)
            finally:
                setattr(took, field, time.monotonic() - t0)

        return timed_call

    def heartbeat_timed(*a, **kw):  # type: ignore[no-untyped-def]
        t0, took.db = time.monotonic(), 0.0
        try:
            return service_heartbeat(*a, **kw)
        finally:
            work.append((t0, time.monotonic() - t0, took.db, getattr(took, "auth", 0.0)))

    fleet.heartbeat, fleet.db.record_heartbeat = heartbeat_timed, noting(db_record, "db")

    # What the database itself took: each statement from the moment SQLAlchemy hands it to
    # the driver (after the writers' queue, see sqlite_writes) to its result, and each
    # commit; those of STATEMENT_MS or more, with the first words and the thread.
    # (start, seconds, what, thread)
    statements: list[tuple[float, float, str, str]] = []
    import sqlalchemy as sa

    engine = inner.state.hub.db.engine  # type: ignore[attr-defined]
    started = threading.local()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _stmt_start(*_a):  # type: ignore[no-untyped-def]
        started.stmt = time.monotonic()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _stmt_end(_c, _cur, statement, *_a):  # type: ignore[no-untyped-def]
        dt = time.monotonic() - started.stmt
        if dt * 1000 >= STATEMENT_MS:
            what = " ".join(statement.split()[:4])
            statements.append((started.stmt, dt, what, threading.current_thread().name))

    pool_connect = engine.pool.connect

    def checkout_timed():  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        try:
            return pool_connect()
        finally:
            dt = time.monotonic() - t0
            if dt * 1000 >= STATEMENT_MS:
                statements.append((t0, dt, "CHECKOUT", threading.current_thread().name))

    engine.pool.connect = checkout_timed  # type: ignore[method-assign]

    connections: list[tuple[float, str]] = []  # (time, "opened" or "closed")

    @sa.event.listens_for(engine, "connect")
    def _opened(*_a):  # type: ignore[no-untyped-def]
        connections.append((time.monotonic(), "opened"))

    @sa.event.listens_for(engine, "close")
    def _closed(*_a):  # type: ignore[no-untyped-def]
        connections.append((time.monotonic(), "closed"))

    @sa.event.listens_for(engine, "commit")
    def _commit_start(_c):  # type: ignore[no-untyped-def]
        started.commit = time.monotonic()

    @sa.event.listens_for(engine, "checkin")
    def _commit_end(*_a):  # type: ignore[no-untyped-def]
        t0 = getattr(started, "commit", None)
        if t0 is not None:
            started.commit = None
            dt = time.monotonic() - t0
            if dt * 1000 >= STATEMENT_MS:
                statements.append((t0, dt, "COMMIT", threading.current_thread().name))

    fleet_routes.authenticate = noting(authenticate, "auth")  # looked up when the route runs

    # Connections the hub accepted (a kept-alive fleet opens none once every agent is in).
    accepted: list[float] = []
    protocol = config.http

    class CountingProtocol(protocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            accepted.append(time.monotonic())
            super().connection_made(transport)

    config.http = CountingProtocol
    config.app = timed
    config.load()
    tune_collector()  # as sohoa hub run does
    server = uvicorn.Server(config)

    dumped = [False]

    def write_out() -> None:
        recorded = {"times": times, "gc": pauses, "work": work, "stalls": stalls}
        recorded.update(
            accepted=accepted, statements=statements, connections=connections, bodies=bodies
        )
        Path(out).write_text(json.dumps(recorded))
        dumped[0] = True

    def dump(*_: object) -> None:
        write_out()
        server.should_exit = True

    signal.signal(signal.SIGTERM, dump)

    try:
        server.run()
    finally:
        if not dumped[0]:
            write_out()
        service.close()


def probe_fsync(directory: str, out: str) -> None:
    """The disk's own latency beside the hub: every 0.2 s, append 4 KB to a file in the hub's
    directory and fsync it, recording (monotonic start, seconds). A commit of the hub's
    database waits for the same disk, so a slow fsync here is a floor under its tail."""
    import signal

    samples: list[tuple[float, float]] = []
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    fd = os.open(Path(directory) / "fsync-probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while running[0]:
            t0 = time.monotonic()
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
            samples.append((t0, time.monotonic() - t0))
            time.sleep(0.2)
    finally:
        os.close(fd)
        Path(out).write_text(json.dumps(samples))


# --- the simulated fleet ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kiosk:
    kiosk_id: str
    group: str
    serial: str
    not_after: object
    key: Path
    cert: Path


def issue_fleet(hub_dir: Path, n: int, certs_dir: Path) -> list[Kiosk]:
    """n kiosk identities (key + certificate from the hub's CA), made once per run."""
    from provisioning.hub import pki
    from provisioning.hub.config import load_hub_settings

    s = load_hub_settings(hub_dir)
    ca_key, ca_cert = pki.load_key(s.ca_key_path), pki.load_cert(s.ca_cert_path)
    certs_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        kiosk = f"xa-{i:04d}"
        key = pki.new_key()
        issued = pki.issue_device_cert(ca_key, ca_cert, pki.make_csr(key, kiosk), 90)
        kp, cp = certs_dir / f"{kiosk}.key", certs_dir / f"{kiosk}.crt"
        pki.save_key(kp, key)
        pki.save_cert(cp, issued.cert)
        out.append(
            Kiosk(
                kiosk,
                f"huyen-{i % 25:02d}",
                issued.serial_hex,
                issued.cert.not_valid_after_utc,
                kp,
                cp,
            )
        )
    return out


def enroll_fleet(database_url: str, fleet: list[Kiosk]) -> None:
    """Record the fleet in a hub database as EST enrollment would (token, then device)."""
    from provisioning.hub.db import now_utc
    from provisioning.hub.hub_db import HubDB
    from provisioning.hub.tokens import hash_token

    db = HubDB(database_url)
    db.create_schema()
    for i, k in enumerate(fleet):
        token = hash_token(f"bench-{i}")
        db.tokens.add_token(token, k.group, now_utc() + timedelta(days=1))
        db.devices.enroll(token, k.kiosk_id, k.serial, k.not_after)  # type: ignore[arg-type]
    db.close()


def seed_running_fleet(
    database_url: str, fleet: list[Kiosk], interval_s: float, history_every_s: float
) -> None:
    """Each kiosk's last heartbeat, as on a hub the fleet has been heartbeating for a while;
    then the tables vacuumed and analyzed (PostgreSQL), as autovacuum has done long since.

    Without it the warm-up is every kiosk's first contact ever (3,300 inserts of the latest
    state, of history and of ``heartbeat_first`` events, rows PostgreSQL has no statistics
    for), and autovacuum's next round falls in the measured window with five freshly
    loaded tables to analyze: a fleet's first minute, not its running load. The kept
    history rows are spread over the last sampling period, so the window keeps history at
    the running rate (one heartbeat in ``history_every_s / interval``).
    """
    import sqlalchemy as sa

    from provisioning.hub.db import now_utc
    from provisioning.hub.fleet_db import FleetDB, heartbeat_history, heartbeat_latest
    from provisioning.hub.hub_db import HubDB

    db = HubDB(database_url)
    FleetDB(db.engine).create_schema()
    now, rnd = now_utc(), random.Random(17)
    latest, history = [], []
    for k in fleet:
        body = json.dumps(json.loads(heartbeat_body(k.kiosk_id, 0)), separators=(",", ":"))
        kept = now - timedelta(seconds=rnd.uniform(0, history_every_s))
        latest.append(
            {
                "kiosk_id": k.kiosk_id,
                "received_at": now,
                "interval_s": interval_s,
                "history_at": kept,
                "body": body,
            }
        )
        history.append({"kiosk_id": k.kiosk_id, "received_at": kept, "body": body})
    with db.engine.begin() as conn:
        conn.execute(sa.insert(heartbeat_latest), latest)
        conn.execute(sa.insert(heartbeat_history), history)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
            # A checkpoint, as a running server has had many: it turns the WAL segments the
            # loading filled into recycled ones for what comes. A fresh cluster has none, so
            # its first segment switch in the window zero-filled and synced 16 MB while every
            # commit waited (one burst of ~60 slow heartbeats per run, in every run).
            conn.execute(sa.text("CHECKPOINT"))
    db.close()


def publish_fleet_config(hub_dir: Path, keys_dir: Path, fleet: list[Kiosk]) -> None:
    """The signed-configuration repository of a running fleet: keys, and every kiosk's own
    document in its hash bin (so heartbeats announce a TUF version, as in production)."""
    from provisioning.hub.fleet_keys import init_keys
    from provisioning.hub.tuf_repo import ConfigRepository

    repo = ConfigRepository(hub_dir / "tuf")
    init_keys(keys_dir, repo)
    repo.publish_kiosks([(k.kiosk_id, k.group, {}) for k in fleet])


def heartbeat_body(kiosk: str, seq: int) -> bytes:
    """What the agent sends (``HubLink.heartbeat``): the validated model, dumped as it does."""
    hb = Heartbeat.model_validate(
        {
            "v": 1,
            "seq": seq,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "ver": {"app": "0.1.0", "os": "Debian GNU/Linux 12 (bookworm)", "cfg": 17},
            "up": 3600 + seq * 60,
            "boot": hashlib.md5(kiosk.encode()).hexdigest(),
            "disk": {"free": 21_474_836_480, "total": 31_457_280_000},
            "upq": {"wait": seq % 4, "fail": 0, "ok": "2026-12-01T08:00:00+00:00"},
            "exq": {"wait": 0},
            "pages": seq % 50,
            "dev": {
                **dict.fromkeys(("service", "camera", "pedal", "leds", "ocr"), True),
                "scanner": False,
            },
            "audit": hashlib.sha256(f"{kiosk}{seq}".encode()).hexdigest(),
            "clk": 0.05,
            "errs": [],
        }
    )
    return dump_model(hb)


@dataclass
class Samples:
    first: list[float] = field(default_factory=list)  # first heartbeat: connect + TLS
    steady: list[float] = field(default_factory=list)  # in the measured window
    errors: list[str] = field(default_factory=list)


#: Heartbeats in flight below which the hub has caught up with the first contacts' queue
#: (in the running state some 55 a second take ~20 ms each: one or two in flight).
SETTLED_IN_FLIGHT = 10
SETTLED_FOR_S = 2.0
SETTLE_AT_MOST_S = 60.0


@dataclass
class Window:
    """The measured window: opens once every agent has its connection (its first heartbeat
    answered, or failed), at least one interval after the start, and the heartbeats that
    queued behind the first contacts' handshakes have been answered (no more than
    :data:`SETTLED_IN_FLIGHT` in flight for :data:`SETTLED_FOR_S`); lasts ``duration``.

    The queue is the warm-up's: 3,300 handshakes within one interval, and (the agents then
    taking phases of their own) second heartbeats among them. Its drain is the first
    contacts' cost, reported on their own row, not the running load."""

    n_agents: int
    duration: float
    not_before: float
    start: float = float("inf")
    end: float = float("inf")
    connected: int = 0
    connected_at: float = float("inf")
    in_flight: int = 0

    def agent_connected(self) -> None:
        self.connected += 1
        if self.connected == self.n_agents:
            self.connected_at = time.monotonic()
            self.all_connected.set()

    async def open_when_settled(self) -> None:
        await self.all_connected.wait()
        await asyncio.sleep(max(0.0, self.not_before - time.monotonic()))
        calm_since, give_up = None, time.monotonic() + SETTLE_AT_MOST_S
        while time.monotonic() < give_up:  # an overloaded hub never settles: measure it so
            now = time.monotonic()
            if self.in_flight > SETTLED_IN_FLIGHT:
                calm_since = None
            elif calm_since is None:
                calm_since = now
            elif now - calm_since >= SETTLED_FOR_S:
                break
            await asyncio.sleep(0.05)
        self.start = time.monotonic()
        self.end = self.start + self.duration

    def __post_init__(self) -> None:
        self.all_connected = asyncio.Event()


async def agent(
    k: Kiosk, ca: Path, url: str, window: Window, interval0: float, out: Samples
) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(k.cert), str(k.key))
    await asyncio.sleep(random.uniform(0, interval0))
    seq = 0
    async with httpx.AsyncClient(
        base_url=url,
        verify=ctx,
        timeout=60,
        headers={"User-Agent": "sohoa-agent"},
        limits=AGENT_LIMITS,  # the agent's own: its connection outlives the interval
    ) as client:
        interval = interval0
        while time.monotonic() < window.end:
            seq += 1
            t0 = time.monotonic()
            window.in_flight += 1
            try:
                r = await client.post(
                    HEARTBEAT_PATH,
                    content=heartbeat_body(k.kiosk_id, seq),
                    headers={"Content-Type": JSON_TYPE},
                )
                dt = time.monotonic() - t0
                if r.status_code == 200:
                    if seq == 1:
                        out.first.append(dt)
                    elif window.start <= t0 < window.end:
                        out.steady.append(dt)
                    interval = max(interval0, float(r.json()["interval"]) / (60 / interval0))
                else:
                    out.errors.append(f"{r.status_code}")
            except httpx.HTTPError as exc:
                out.errors.append(type(exc).__name__)
            finally:
                window.in_flight -= 1
            if seq == 1:
                window.agent_connected()
            # the window's end stops the run, not the last interval's sleep; after the first
            # heartbeat the agent takes a phase of its own, as a fleet that has run for hours
            # has (the agent's jitter spreads them): the first contacts queue behind each
            # other's handshakes, and otherwise their bunch would repeat every interval
            pause = interval * (random.uniform(0, 1) if seq == 1 else random.uniform(0.9, 1.1))
            await asyncio.sleep(max(0.0, min(pause, window.end - time.monotonic())))


class CpuMeter:
    """CPU seconds of a set of processes between two snapshots (children included, so the
    PostgreSQL backends count with their postmaster)."""

    def __init__(self, pids: list[int], children: bool = False):
        self.pids, self.children = pids, children
        self.start: dict[int, float] = {}

    def _now(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for pid in self.pids:
            try:
                p = psutil.Process(pid)
                procs = [p, *(p.children(recursive=True) if self.children else [])]
            except psutil.NoSuchProcess:
                continue
            for q in procs:
                try:
                    t = q.cpu_times()
                    out[q.pid] = t.user + t.system
                except psutil.NoSuchProcess:
                    pass
        return out

    def mark(self) -> None:
        self.start = self._now()

    def seconds(self) -> float:
        return sum(v - self.start.get(pid, 0.0) for pid, v in self._now().items())


async def run_agents(
    fleet: list[Kiosk], ca: Path, url: str, duration: float, interval: float, meters: list
) -> tuple[Samples, tuple[float, float]]:
    out = Samples()
    window = Window(len(fleet), duration, time.monotonic() + interval)

    async def mark_window() -> None:
        await window.all_connected.wait()
        # 3,300 kiosks are 3,300 small processes; here they are one, whose heap of
        # connection state the collector walked in full in some 390 ms now and then: every
        # simulated kiosk stopped at once, then their overdue heartbeats reached the hub in
        # one bunch (the agents' pauses are printed below the table). So this process's
        # state, built by now, is frozen out of later collections, as the hub freezes its own.
        tracked = len(gc.get_objects())
        tune_collector()
        print(
            f"  agents' collector: {tracked:,} objects frozen, "
            f"{psutil.Process().memory_info().rss / 2**20:.0f} MB resident",
            flush=True,
        )
        await window.open_when_settled()
        for m in meters:
            m.mark()
        print(
            f"  window opened: every agent connected after {window.connected_at - t0:.0f} s, "
            f"their queue answered after {window.start - t0:.0f} s",
            flush=True,
        )

    t0 = time.monotonic()
    marker = asyncio.create_task(mark_window())
    await asyncio.gather(*(agent(k, ca, url, window, interval, out) for k in fleet))
    await marker
    return out, (window.start, window.end)


# --- one configuration -----------------------------------------------------------------------


@dataclass
class Result:
    config: str
    kiosks: int
    samples: Samples
    inside: list[float]
    hub_cpu_s: float
    db_cpu_s: float | None
    db_size: int
    week_rows: int
    load: tuple[float, float, float]
    slow: list[tuple[int, float]]  # (second of the window, seconds) of in-hub times >= SLOW_MS
    collections: list[tuple[float, float, int, int]]  # (second, seconds, generation, freed)
    fsyncs: list[float]  # the disk probe's fsync times in the window, sorted
    work: list[tuple[int, float, float, float]]  # (second, service, DB write, authenticate)
    stalls: list[tuple[float, float]]  # (second, seconds) the hub's threads could not run
    accepted: int  # connections the hubs accepted in the window
    other_cpu: dict[str, float]  # CPU seconds in the window of the agents, the balancer
    statements: list[tuple[float, float, str, str]]  # (second, seconds, what, thread) slow ones
    connections: list[tuple[int, str]]  # (second, "opened" or "closed") of database connections
    bodies: list[tuple[int, float]]  # (second, seconds) until each heartbeat's body had arrived
    others_gc: dict[str, list[tuple[float, float, int, int]]]  # agents', balancer's collections
    samples_window_s: float  # the window's length


def start_hub(hub_dir: Path, port: int, timings: Path, env: dict[str, str], log: Path):
    return subprocess.Popen(
        [sys.executable, __file__, "--serve-timed", str(hub_dir), str(port), str(timings)],
        stdout=open(log, "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )


def wait_healthy(url: str, ca: Path, procs: list[subprocess.Popen], log: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 300  # a loaded machine starts a hub slowly
    answer = "no answer"
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        try:
            r = httpx.get(url + HEALTHZ_PATH, verify=ctx, timeout=5)
            if r.status_code == 200:
                return
            answer = f"{r.status_code} {r.text[:300]}"
        except httpx.HTTPError as exc:
            answer = type(exc).__name__
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"hub at {url} did not become healthy ({answer}); its log:\n{tail}")


@contextmanager
def processes() -> Iterator[list[subprocess.Popen]]:
    procs: list[subprocess.Popen] = []
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def simulate_week(database_url: str, history_every_s: float, kiosks: list[str]) -> int:
    """One week of history rows per kiosk at the hub's sampling; the rows then held."""
    import sqlalchemy as sa

    from provisioning.hub.db import now_utc
    from provisioning.hub.fleet_db import FleetDB, heartbeat_history
    from provisioning.hub.hub_db import HubDB

    db = HubDB(database_url)
    start = now_utc() - timedelta(days=7)
    for h in range(int(7 * 24 * 3600 / history_every_s)):
        at = start + timedelta(seconds=h * history_every_s)
        with db.engine.begin() as conn:
            conn.execute(
                sa.insert(heartbeat_history),
                [
                    {"kiosk_id": k, "received_at": at, "body": heartbeat_body(k, h * 60).decode()}
                    for k in kiosks
                ],
            )
    rows = FleetDB(db.engine).history_count()
    db.close()
    return rows


def pg_maintenance(database_url: str, window: tuple[float, float]) -> list[str]:
    """PostgreSQL's own maintenance that ran in the window (autovacuum, autoanalyze, the last
    checkpoint), as seconds into the window: a burst of slow heartbeats at the same second
    points at it."""
    import sqlalchemy as sa

    from provisioning.hub.hub_db import HubDB

    # monotonic window -> wall clock, for PostgreSQL's timestamps
    wall0 = time.time() - (time.monotonic() - window[0])
    db = HubDB(database_url)
    found: list[str] = []
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT relname, extract(epoch from last_autovacuum), "
                "extract(epoch from last_autoanalyze), autovacuum_count, n_tup_hot_upd, "
                "n_tup_upd FROM pg_stat_user_tables ORDER BY relname"
            )
        ).all()
        checkpoint = conn.execute(
            sa.text("SELECT extract(epoch from checkpoint_time) FROM pg_control_checkpoint()")
        ).scalar()
    db.close()
    span = window[1] - window[0]
    for name, vac, ana, count, hot, upd in rows:
        for what, at in (("autovacuum", vac), ("autoanalyze", ana)):
            if at is not None and 0 <= float(at) - wall0 <= span:
                found.append(f"{what} of {name} at s{float(at) - wall0:.1f}")
        if upd:
            found.append(f"{name}: {upd} updates, {hot} HOT, {count} autovacuums")
    if checkpoint is not None and 0 <= float(checkpoint) - wall0 <= span:
        found.append(f"checkpoint at s{float(checkpoint) - wall0:.1f}")
    return found


def pg_size(database_url: str) -> int:
    import sqlalchemy as sa

    from provisioning.hub.hub_db import HubDB

    db = HubDB(database_url)
    with db.engine.connect() as conn:
        conn.execute(sa.text("CHECKPOINT"))
        size = int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar())
    db.close()
    return size


def in_window(rows: list, window: tuple[float, float], ndigits: int | None = None) -> list:
    """The rows (monotonic start, ...) that started in the window, each start as seconds
    into the window (rounded to ``ndigits``; whole seconds by default)."""
    w0, w1 = window
    return [(round(row[0] - w0, ndigits), *row[1:]) for row in rows if w0 <= row[0] < w1]


def run_config(
    name: str, base: Path, hub_template: Path, fleet: list[Kiosk], args: argparse.Namespace
) -> Result:
    from provisioning.hub.config import load_hub_settings

    hub_dir = base / name / "hub"
    shutil.copytree(hub_template, hub_dir)
    interval = 60.0 / args.speedup
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SOHOA_HUB_FLEET__HEARTBEAT_S=str(max(5.0, interval)),
        SOHOA_HUB_FLEET__MAX_HEARTBEATS_PER_S="100000",  # measure, do not shed
    )
    ca = hub_dir / "pki" / "fleet-ca.crt.pem"
    with ExitStack() as stack:
        pg = None
        if name == "pg":
            from tests.support.postgres import temporary_postgres

            pg = stack.enter_context(temporary_postgres(fsync=True))
            env["SOHOA_HUB_DB_URL"] = pg.url
        settings = load_hub_settings(hub_dir, **({"db_url": pg.url} if pg else {}))
        t0 = time.perf_counter()
        enroll_fleet(settings.database_url, fleet)
        seed_running_fleet(
            settings.database_url, fleet, max(5.0, interval), settings.fleet.history_every_s
        )
        print(
            f"  [{name}] fleet enrolled, its last heartbeats recorded, in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        procs = stack.enter_context(processes())
        n_hubs = 2 if name == "pg" else 1
        balancer_gc = base / name / "balancer-gc.json"
        ports = [free_port() for _ in range(n_hubs)]
        timings = [base / name / f"hub-{i}-times.json" for i in range(n_hubs)]
        for port, tf in zip(ports, timings, strict=True):
            procs.append(start_hub(hub_dir, port, tf, env, base / name / "hub.log"))
        for port in ports:
            wait_healthy(f"https://127.0.0.1:{port}", ca, procs, base / name / "hub.log")
        if n_hubs > 1:
            front = free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(BENCH / "tcp_balancer.py"), str(front), *map(str, ports)],
                    env={**env, "SOHOA_BENCH_GC_OUT": str(balancer_gc)},
                )
            )
            url = f"https://127.0.0.1:{front}"
            wait_healthy(url, ca, procs, base / name / "hub.log")
        else:
            url = f"https://127.0.0.1:{ports[0]}"
        probe_out = base / name / "fsync-probe.json"
        probe = subprocess.Popen(
            [sys.executable, __file__, "--probe-fsync", str(hub_dir), str(probe_out)], cwd=ROOT
        )
        procs.append(probe)
        hub_meter = CpuMeter([p.pid for p in procs[:n_hubs]])
        others = {"agents": CpuMeter([os.getpid()])}
        if n_hubs > 1:
            others["balancer"] = CpuMeter([procs[n_hubs].pid])
        meters = [hub_meter, *others.values()]
        db_meter = None
        if pg is not None:
            db_meter = CpuMeter([pg.postmaster_pid()], children=True)
            meters.append(db_meter)
        print(
            f"  [{name}] {len(fleet)} agents: warm-up (>= {interval:.0f} s), {args.duration:.0f} s "
            "measured",
            flush=True,
        )
        with recording_pauses() as agents_gc:
            samples, window = asyncio.run(
                run_agents(fleet, ca, url, args.duration, interval, meters)
            )
        hub_cpu = hub_meter.seconds()
        db_cpu = db_meter.seconds() if db_meter else None
        other_cpu = {what: m.seconds() for what, m in others.items()}
        load = os.getloadavg()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        recorded = [json.loads(tf.read_text()) for tf in timings if tf.exists()]
        relays = {"agents": agents_gc}
        if balancer_gc.exists():
            relays["balancer"] = json.loads(balancer_gc.read_text())
        others_gc = {what: in_window(runs, window, 1) for what, runs in relays.items()}

        def hubs(key: str) -> list[list]:
            return [row for rec in recorded for row in rec.get(key, [])]

        heartbeats = in_window(hubs("times"), window)
        inside = sorted(dt for _, dt in heartbeats)
        slow = sorted((sec, dt) for sec, dt in heartbeats if dt * 1000 >= SLOW_MS)
        probed = json.loads(probe_out.read_text()) if probe_out.exists() else []
        fsyncs = sorted(dt for _, dt in in_window(probed, window))
        work = in_window(hubs("work"), window)
        accepted = sum(window[0] <= t0 < window[1] for t0 in hubs("accepted"))
        stalls = in_window(hubs("stalls"), window, 1)
        statements = in_window(hubs("statements"), window, 2)
        connections = in_window(hubs("connections"), window)
        bodies = in_window(hubs("bodies"), window)
        collections = in_window(hubs("gc"), window, 1)
        if pg is not None:
            for line in pg_maintenance(pg.url, window):
                print(f"  [{name}] {line}")
        print(f"  [{name}] simulating a week of history", flush=True)
        rows = simulate_week(
            settings.database_url, settings.fleet.history_every_s, [k.kiosk_id for k in fleet]
        )
        if pg is not None:
            size = pg_size(pg.url)
        else:
            size = sum(p.stat().st_size for p in hub_dir.glob("hub.db*"))
    return Result(
        name,
        len(fleet),
        samples,
        inside,
        hub_cpu,
        db_cpu,
        size,
        rows,
        load,
        slow,
        collections,
        fsyncs,
        work,
        stalls,
        accepted,
        other_cpu,
        statements,
        connections,
        bodies,
        others_gc,
        window[1] - window[0],
    )


# --- the table -------------------------------------------------------------------------------


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


LABELS = {"sqlite": "SQLite, 1 hub", "pg": "PostgreSQL, 2 hubs"}


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    interval = 60.0 / args.speedup
    print()
    print(
        f"interval {interval:.0f} s (speedup {args.speedup:g}), measured once all agents connected, "
        f"{args.duration:.0f} s measured; {os.cpu_count()} cores"
    )
    head = (
        f"{'configuration':<20} {'agents':>6} {'heartbeats':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'in-hub p99':>10} {'hub CPU/hb':>10} {'DB CPU/hb':>9} {'DB after week':>13} "
        f"{'budget':>14} {'load avg':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        n = len(r.samples.steady)
        p99 = pct(r.samples.steady, 0.99)
        verdict = "within 200 ms" if p99 < BUDGET_MS else "OVER 200 ms"
        cpu_hb = f"{r.hub_cpu_s / n * 1000:.2f} ms" if n else "-"
        db_hb = f"{r.db_cpu_s / n * 1000:.2f} ms" if n and r.db_cpu_s is not None else "-"
        print(
            f"{LABELS[r.config]:<20} {r.kiosks:>6} {n:>10} {pct(r.samples.steady, 0.5):>8.1f} "
            f"{p99:>8.1f} {pct(r.inside, 0.99):>10.1f} {cpu_hb:>10} {db_hb:>9} "
            f"{r.db_size / 2**20:>10.1f} MB {verdict:>14} {r.load[0]:>8.1f}"
        )
    print()
    for r in results:
        s = r.samples
        errs = f"{len(s.errors)} ({', '.join(sorted(set(s.errors)))})" if s.errors else "0"
        print(
            f"{LABELS[r.config]}: first heartbeat (connect + TLS handshake) p50 "
            f"{pct(s.first, 0.5):.0f} ms p99 {pct(s.first, 0.99):.0f} ms over {len(s.first)}; "
            f"in-hub p50 {pct(r.inside, 0.5):.1f} ms; {r.week_rows:,} history rows after a "
            f"week; errors {errs}; load average {r.load[0]:.1f} {r.load[1]:.1f} {r.load[2]:.1f}"
        )
        print_where_time_went(r)


def print_where_time_went(r: Result) -> None:
    """Whether the tail is spread out or clusters in a few seconds, and the collector's
    pauses in the window: a tail made of pauses shows as a few seconds holding every slow
    heartbeat, next to a long collection."""
    by_second: dict[int, list[float]] = {}
    for sec, dt in r.slow:
        by_second.setdefault(sec, []).append(dt)
    worst = sorted(by_second.items(), key=lambda kv: -max(kv[1]))[:5]
    in_worker: dict[int, tuple[float, float, float]] = {}
    for sec, svc, dbw, auth in r.work:
        a, b, c = in_worker.get(sec, (0.0, 0.0, 0.0))
        in_worker[sec] = (max(a, svc), max(b, dbw), max(c, auth))
    body_wait: dict[int, float] = {}
    for sec, dt in r.bodies:
        body_wait[sec] = max(body_wait.get(sec, 0.0), dt)
    spots = ", ".join(
        f"s{sec}: {len(v)} up to {max(v) * 1000:.0f} ms (body in after up to "
        f"{body_wait.get(sec, 0.0) * 1000:.0f}, authenticate up to "
        f"{in_worker.get(sec, (0, 0, 0))[2] * 1000:.0f}, service up to "
        f"{in_worker.get(sec, (0, 0, 0))[0] * 1000:.0f}, its DB write "
        f"{in_worker.get(sec, (0, 0, 0))[1] * 1000:.0f})"
        for sec, v in worst
    )
    print(
        f"  in-hub >= {SLOW_MS:.0f} ms: {len(r.slow)} heartbeats in {len(by_second)} seconds"
        + (f" (worst {spots})" if spots else "")
    )
    for gen in (0, 1, 2):
        runs = [dt for _, dt, g, _ in r.collections if g == gen]
        if runs:
            print(
                f"  gc generation {gen}: {len(runs)} runs, {sum(runs) * 1000:.0f} ms in all, "
                f"longest {max(runs) * 1000:.1f} ms"
            )
    if r.work:
        svc = sorted(w[1] for w in r.work)
        dbw = sorted(w[2] for w in r.work)
        auth = sorted(w[3] for w in r.work)
        print(
            f"  in the worker thread: authenticate p50 {pct(auth, 0.5):.1f} ms p99 "
            f"{pct(auth, 0.99):.1f} ms; the service p50 {pct(svc, 0.5):.1f} ms p99 "
            f"{pct(svc, 0.99):.1f} ms, of it the DB write p50 {pct(dbw, 0.5):.1f} ms p99 "
            f"{pct(dbw, 0.99):.1f} ms; {r.accepted} connections accepted in the window"
        )
    span = r.samples_window_s
    cpu = {"hubs": r.hub_cpu_s, **({"PostgreSQL": r.db_cpu_s} if r.db_cpu_s else {}), **r.other_cpu}
    print(
        "  CPU in the window: "
        + ", ".join(f"{what} {sec / span:.2f} cores" for what, sec in cpu.items())
        + f" (of {os.cpu_count()})"
    )
    if r.fsyncs:
        print(
            f"  disk beside it: fsync of 4 KB p50 {pct(r.fsyncs, 0.5):.1f} ms, p99 "
            f"{pct(r.fsyncs, 0.99):.1f} ms, longest {r.fsyncs[-1] * 1000:.0f} ms over "
            f"{len(r.fsyncs)} probes"
        )
    if r.stalls:
        worst_stalls = sorted(r.stalls, key=lambda st: -st[1])[:5]
        print(
            f"  interpreter stalls >= {STALL_MS:.0f} ms: {len(r.stalls)}, worst "
            + ", ".join(f"s{sec}: {dt * 1000:.0f} ms" for sec, dt in worst_stalls)
        )
    if r.connections:
        print(
            f"  database connections opened {sum(c == 'opened' for _, c in r.connections)}, "
            f"closed {sum(c == 'closed' for _, c in r.connections)} in the window, in seconds "
            + ", ".join(f"s{sec}" for sec in sorted({sec for sec, _ in r.connections}))
        )
    if r.statements:
        longest = sorted(r.statements, key=lambda st: -st[1])[:8]
        print(
            f"  database statements, commits, checkouts >= {STATEMENT_MS:.0f} ms: "
            f"{len(r.statements)}, "
            "longest "
            + ", ".join(
                f"s{at:.2f}: {what} {dt * 1000:.0f} ms ({thread})"
                for at, dt, what, thread in longest
            )
        )
    for what, runs in r.others_gc.items():
        if runs:
            worst_runs = sorted(runs, key=lambda c: -c[1])[:3]
            print(
                f"  collector of the {what}: {len(runs)} runs, {sum(c[1] for c in runs) * 1000:.0f}"
                " ms in all, longest "
                + ", ".join(f"s{at}: gen {g} {dt * 1000:.0f} ms" for at, dt, g, _ in worst_runs)
            )
    long_runs = [c for c in r.collections if c[1] * 1000 >= SLOW_MS / 2]
    for sec, dt, g, freed in long_runs[:5]:
        print(f"    s{sec}: generation {g} took {dt * 1000:.0f} ms, freed {freed} objects")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--probe-fsync":
        probe_fsync(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-timed":
        serve_timed(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return 0
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--config", default=",".join(CONFIGS), help="sqlite, pg or sqlite,pg")
    ap.add_argument("--kiosks", type=int, default=3300)
    ap.add_argument("--duration", type=float, default=120, help="measured seconds")
    ap.add_argument("--speedup", type=float, default=1.0, help="compress the 60 s interval")
    ap.add_argument("--quick", action="store_true", help="45 s measured (a shorter run)")
    args = ap.parse_args()
    if args.quick:
        args.duration = 45.0
    configs = [c.strip() for c in args.config.split(",") if c.strip()]
    if not configs or any(c not in CONFIGS for c in configs):
        ap.error(f"--config: one or more of {', '.join(CONFIGS)}")
    import resource
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the cleanup below

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    sys.path.insert(0, str(BENCH))

    from provisioning.hub.bootstrap import init_hub

    tmp = Path(tempfile.mkdtemp(prefix="sohoa-fleet-bench-"))
    try:
        template = tmp / "template"
        init_hub(template, name="bench-hub", port=free_port())
        t0 = time.perf_counter()
        fleet = issue_fleet(template, args.kiosks, tmp / "certs")
        publish_fleet_config(template, tmp / "keys", fleet)
        print(
            f"{len(fleet)} kiosk identities and their signed configuration in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        results = []
        for c in configs:
            results.append(run_config(c, tmp, template, fleet, args))
            print_table(results[-1:], args)  # each as it ends: a later failure keeps it
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if len(results) > 1:
        print_table(results, args)
    ok = all(pct(r.samples.steady, 0.99) < BUDGET_MS and not r.samples.errors for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
