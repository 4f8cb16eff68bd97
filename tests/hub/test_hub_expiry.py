"""Upload expiry on the hub (tus 1.0 Expiration): headers, the sweep (start-up, periodic,
``sohoa hub gc``), 410 for expired uploads, the quota they free, an old hub.db, and the
kiosk starting an expired upload again. Time is controlled by back-dating an upload's last
activity in the hub's database or by passing ``now`` to the sweep; nothing sleeps for it."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.store.states import DocState
from firmware.uplink.client import TusClient, UplinkError, UploadItem
from firmware.uplink.identity import enroll, load_identity
from firmware.uplink.outbox import Outbox, route_sealed
from firmware.uplink.qr import parse_enroll_uri
from firmware.uplink.worker import UplinkWorker
from provisioning import schemas
from provisioning.hub.db import now_utc, uploads
from provisioning.hub.expiry import expire_idle_uploads, sweep_interval
from provisioning.hub.hub_db import HubDB
from provisioning.hub.spool import Spool
from provisioning.hub.tokens import hash_token
from tests.conftest import run_sohoa
from tests.support import uplink as fakes
from tests.support.hub import (
    device_client,
    enroll_test_device,
    tus_create,
    tus_headers,
    tus_patch,
)
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

WEEK = timedelta(hours=168)
HTTP_DATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")


# -- helpers ----------------------------------------------------------------------------------
def _data(n: int, seed: int = 1) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (n // 32 + 1))[:n]


def _meta(data: bytes, doc: str) -> dict[str, str]:
    return {
        "filename": f"{doc}.pdf",
        "sha256": hashlib.sha256(data).hexdigest(),
        "document_id": doc,
    }


def _create(c: httpx.Client, data: bytes, doc: str) -> httpx.Response:
    return tus_create(c, len(data), _meta(data, doc))


def _patch(c: httpx.Client, loc: str, offset: int, body: bytes) -> httpx.Response:
    return tus_patch(c, loc, offset, body, **{"Upload-Checksum": schemas.upload_checksum(body)})


def _expires(r: httpx.Response) -> datetime:
    raw = r.headers["Upload-Expires"]
    assert HTTP_DATE.match(raw), raw
    return parsedate_to_datetime(raw)


def _uid(loc: str) -> str:
    return loc.rsplit("/", 1)[1]


def _part(hub: Any, loc: str) -> Path:
    return hub.settings().spool_dir / f"{_uid(loc)}.part"


def _backdate(hub: Any, loc: str, age: timedelta) -> None:
    """Make an upload look idle for ``age`` (what a kiosk scrapped that long ago leaves)."""
    db = hub.db()
    try:
        with db.database.tx() as conn:
            conn.execute(
                uploads.update()
                .where(uploads.c.id == _uid(loc))
                .values(created_at=now_utc() - age, last_activity_at=now_utc() - age)
            )
    finally:
        db.close()


def _row(hub: Any, loc: str) -> Any:
    db = hub.db()
    try:
        with db.engine.connect() as conn:
            return conn.execute(sa.select(uploads).where(uploads.c.id == _uid(loc))).one()
    finally:
        db.close()


def _events(hub: Any, kind: str) -> list[dict[str, Any]]:
    db = hub.db()
    try:
        return db.events.events(kind)
    finally:
        db.close()


def _expire_now(hub: Any, loc: str) -> bool:
    """Back-date ``loc`` past the window and sweep the hub's database and spool in-process
    (as ``sohoa hub gc`` does); True once the upload is expired."""
    _backdate(hub, loc, timedelta(days=8))
    s = hub.settings()
    db = hub.db()
    try:
        expire_idle_uploads(db.uploads, Spool(s.spool_dir), s.uploads.expire_after, by="test")
    finally:
        db.close()
    return _row(hub, loc).state == "expired"


def _gc(hub: Any, *extra: str) -> Any:
    r = run_sohoa(["hub", "gc", "--dir", str(hub.dir), *extra])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if "--json" in extra else r.stdout


def _assert_gone(c: httpx.Client, loc: str, offset: int, body: bytes) -> None:
    """HEAD, PATCH and the receipt of an expired upload: 410 with the stable code."""
    assert c.head(loc, headers=tus_headers()).status_code == 410  # HEAD has no body
    r = _patch(c, loc, offset, body)
    assert r.status_code == 410, r.text
    err = r.json()["error"]
    assert err["code"] == "upload_expired"
    assert "expired" in err["message"] and "hết hạn" in err["message_vi"]
    r = c.get(f"{loc}/receipt")
    assert r.status_code == 410 and r.json()["error"]["code"] == "upload_expired"


# -- headers ------------------------------------------------------------------------------------
def test_expiration_is_advertised_and_every_open_answer_says_when(hub_factory):
    hub = hub_factory(uploads={"expire_after_hours": 2})
    dev = enroll_test_device(hub)
    data = _data(90_000)
    with device_client(dev) as c:
        r = c.options("/files/", headers=tus_headers())
        assert r.status_code == 204
        assert "expiration" in r.headers["Tus-Extension"].split(",")

        before = now_utc()
        r = _create(c, data, "CV-1")
        assert r.status_code == 201, r.text
        loc = r.headers["Location"]
        created = _expires(r)
        # two hours after creation (HTTP-dates carry whole seconds, rounded down)
        assert before + timedelta(hours=2) - timedelta(seconds=1) <= created
        assert created <= now_utc() + timedelta(hours=2)

        r = _patch(c, loc, 0, data[:30_000])
        assert r.status_code == 204 and r.headers["Upload-Offset"] == "30000"
        patched = _expires(r)
        assert created <= patched <= now_utc() + timedelta(hours=2)
        # what the hub recorded is what it announced: last activity + the window
        active = _row(hub, loc).last_activity_at
        assert patched == (active + timedelta(hours=2)).replace(microsecond=0)
        head = c.head(loc, headers=tus_headers())
        assert head.status_code == 200 and _expires(head) == patched

        r = _patch(c, loc, 30_000, data[30_000:])
        assert r.status_code == 204 and schemas.RECEIPT_HEADER in r.headers
        assert "Upload-Expires" not in r.headers  # complete uploads do not expire
        head = c.head(loc, headers=tus_headers())
        assert head.status_code == 200 and "Upload-Expires" not in head.headers


def test_expiry_setting_is_validated(hub_factory):
    from provisioning.hub.config import HubConfigError, load_hub_settings

    hub = hub_factory(start=False)
    assert load_hub_settings(hub.dir).uploads.expire_after_hours == 168
    assert "expire_after_hours = 168" in (hub.dir / "hub.toml").read_text()
    for bad in (0, -1, "soon"):
        with pytest.raises(HubConfigError, match="uploads.expire_after_hours"):
            load_hub_settings(hub.dir, uploads={"expire_after_hours": bad})
    assert sweep_interval(WEEK) == 3600
    assert sweep_interval(timedelta(minutes=20)) == 300


# -- the sweep ----------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def db(request, tmp_path):
    """A hub database with one enrolled kiosk ``k1``: SQLite, and PostgreSQL in the slow
    suite (the expiry queries and the migration are plain SQL on both)."""
    url = (
        f"sqlite:///{tmp_path / 'hub.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    d = HubDB(url)
    d.create_schema()
    later = now_utc() + timedelta(days=1)
    d.tokens.add_token(hash_token("t"), "g", later)
    d.devices.enroll(hash_token("t"), "k1", "01", later)
    yield d
    d.close()


def test_sweep_follows_now_spares_complete_and_claimed_uploads_and_is_idempotent(db, tmp_path):
    spool = Spool(tmp_path / "uploads")
    t0 = now_utc()
    for uid, length in (("idle", 1000), ("done", 2000), ("claimed", 4000)):
        spool.create(uid)
        db.uploads.create_upload(
            uid, "k1", f"doc-{uid}", uid[0] * 64, length, {}, enrollment_id=None
        )
    spool.path("idle").write_bytes(b"x" * 300)
    db.uploads.set_offset("idle", 300)
    receipt = {
        "device": "k1",
        "document_id": "doc-done",
        "sha256": "d" * 64,
        "duplicate": False,
        "received_at": "2026-01-02T03:04:05Z",
    }
    db.receipts.record_receipt(receipt, "done", 2000, "sha256/dd/" + "d" * 64, enrollment_id=None)
    spool.remove("done")
    assert db.uploads.open_upload_bytes() == 5000

    # a minute short of the window: nothing is idle long enough
    assert expire_idle_uploads(db.uploads, spool, WEEK, now=t0 + WEEK - timedelta(minutes=1)) == []

    # A sweep (idle cutoff: now) lists "claimed", but a PATCH claims it before the sweep's
    # conditional update: it stays open. The database decides, never both.
    cutoff = now_utc()
    (candidate,) = [u for u in db.uploads.idle_uploads(cutoff) if u.id == "claimed"]
    assert db.uploads.touch_upload("claimed") is not None
    assert db.uploads.expire_upload(candidate, cutoff) is False
    assert (
        db.uploads.upload("claimed", "k1", enrollment_id=None).state == "open"
        and db.events.events("upload_expired") == []
    )

    later = t0 + WEEK + timedelta(minutes=1)
    gone = expire_idle_uploads(db.uploads, spool, WEEK, now=later)
    assert [(g.id, g.kiosk_id, g.offset, g.length) for g in gone] == [
        ("idle", "k1", 300, 1000),
        ("claimed", "k1", 0, 4000),
    ]
    assert db.uploads.upload("idle", "k1", enrollment_id=None).state == "expired"
    assert not spool.path("idle").exists() and not spool.path("claimed").exists()
    assert db.uploads.touch_upload("idle") is None  # a late PATCH cannot revive it
    assert db.uploads.open_upload_bytes() == 0
    ev = db.events.events("upload_expired")
    assert [(e["kiosk_id"], e["detail"]["upload"]) for e in ev] == [
        ("k1", "idle"),
        ("k1", "claimed"),
    ]
    assert ev[0]["detail"]["offset"] == 300 and ev[0]["detail"]["by"] == "hub"
    assert ev[0]["detail"]["expire_after_hours"] == 168

    # Idempotent, and a complete upload is never touched however old.
    assert expire_idle_uploads(db.uploads, spool, WEEK, now=later) == []
    assert expire_idle_uploads(db.uploads, spool, WEEK, now=t0 + 100 * WEEK) == []
    assert db.uploads.upload("done", "k1", enrollment_id=None).state == "complete"
    assert db.receipts.upload_receipt("done") == receipt
    assert len(db.events.events("upload_expired")) == 2


def test_database_from_before_expiry_gains_the_column_once(db):
    with db.database.tx() as conn:
        conn.execute(sa.text("ALTER TABLE uploads DROP COLUMN last_activity_at"))
        old = now_utc() - timedelta(days=30)
        for uid, state in (("open-old", "open"), ("done-old", "complete")):
            conn.execute(
                uploads.insert().values(
                    id=uid,
                    kiosk_id="k1",
                    document_id=uid,
                    sha256="e" * 64,
                    length=10,
                    offset=0,
                    meta="{}",
                    state=state,
                    created_at=old,
                )
            )
    before = now_utc()
    db.create_schema()
    db.create_schema()  # every start runs it: the second finds the column
    assert [e["detail"]["added"] for e in db.events.events("schema_migrated")] == [
        "uploads.last_activity_at"
    ]
    up = db.uploads.upload("open-old", "k1", enrollment_id=None)
    assert before <= up.last_activity_at <= now_utc()  # a full window from the upgrade
    assert db.uploads.upload("done-old", "k1", enrollment_id=None).last_activity_at is None
    # the upgrade's open upload survives a sweep that would have taken it by its age
    assert db.uploads.idle_uploads(now_utc() - timedelta(days=7)) == []


def test_gc_expires_the_idle_upload_frees_quota_and_leaves_the_rest(hub_factory):
    hub = hub_factory(storage={"quota_bytes": 300_000})
    dev = enroll_test_device(hub, "kiosk-old")
    idle, active, done, big = (
        _data(n, seed=s) for s, n in enumerate((200_000, 30_000, 20_000, 200_000))
    )
    with device_client(dev) as c:
        loc_idle = _create(c, idle, "IDLE").headers["Location"]
        assert _patch(c, loc_idle, 0, idle[:50_000]).status_code == 204
        loc_active = _create(c, active, "ACTIVE").headers["Location"]
        assert _patch(c, loc_active, 0, active[:10_000]).status_code == 204
        loc_done = _create(c, done, "DONE").headers["Location"]
        assert _patch(c, loc_done, 0, done).status_code == 204
        # 20k stored + 230k open: one more 200k upload does not fit
        r = _create(c, big, "BIG")
        assert r.status_code == 507 and r.json()["error"]["code"] == "storage_full"

        _backdate(hub, loc_idle, timedelta(days=8))
        _backdate(hub, loc_done, timedelta(days=30))  # complete: never expires
        assert _part(hub, loc_idle).exists()
        (gone,) = _gc(hub, "--json")
        assert gone["id"] == _uid(loc_idle) and gone["kiosk_id"] == "kiosk-old"
        assert (gone["offset"], gone["length"], gone["document_id"]) == (50_000, 200_000, "IDLE")

        assert not _part(hub, loc_idle).exists()
        _assert_gone(c, loc_idle, 50_000, idle[50_000:])
        assert _row(hub, loc_idle).state == "expired"
        (ev,) = _events(hub, "upload_expired")
        assert ev["kiosk_id"] == "kiosk-old" and ev["detail"]["by"] == "cli"
        # the active and the complete upload are as they were
        head = c.head(loc_active, headers=tus_headers())
        assert head.status_code == 200 and head.headers["Upload-Offset"] == "10000"
        assert _part(hub, loc_active).stat().st_size == 10_000
        assert c.get(f"{loc_done}/receipt").status_code == 200
        assert _row(hub, loc_done).state == "complete"
        # the quota the abandoned upload held is free again
        r = _create(c, big, "BIG")
        assert r.status_code == 201, r.text
        # idempotent: nothing more to expire, said in words
        assert "no unfinished upload idle" in _gc(hub)
        assert len(_events(hub, "upload_expired")) == 1
        r = _patch(c, loc_active, 10_000, active[10_000:])
        assert r.status_code == 204 and schemas.RECEIPT_HEADER in r.headers
    sha = hashlib.sha256(active).hexdigest()
    assert (hub.settings().objects_dir / "sha256" / sha[:2] / sha).read_bytes() == active


def test_hub_sweeps_at_start_up(hub):
    dev = enroll_test_device(hub)
    data = _data(60_000)
    with device_client(dev) as c:
        loc = _create(c, data, "KH-1").headers["Location"]
        assert _patch(c, loc, 0, data[:20_000]).status_code == 204
    hub.stop()
    _backdate(hub, loc, WEEK + timedelta(minutes=5))
    hub.start()  # answers only after its start-up sweep
    with device_client(dev) as c:
        _assert_gone(c, loc, 20_000, data[20_000:])
    assert not _part(hub, loc).exists()
    (ev,) = _events(hub, "upload_expired")
    assert ev["detail"]["by"] == "hub" and ev["detail"]["offset"] == 20_000


def test_running_hub_sweeps_periodically(hub_factory):
    # 3.6 s window: the running hub sweeps every second (sweep_interval's floor)
    hub = hub_factory(uploads={"expire_after_hours": 0.001})
    dev = enroll_test_device(hub)
    data = _data(40_000)
    with device_client(dev) as c:
        loc = _create(c, data, "P-1").headers["Location"]
        assert wait_for(
            lambda: c.head(loc, headers=tus_headers()).status_code == 410, timeout=30, interval=0.2
        )
        _assert_gone(c, loc, 0, data)
    assert not _part(hub, loc).exists()
    assert "Traceback" not in hub.log_path.read_text()


def test_hub_db_from_before_expiry_is_migrated(hub):
    """A hub.db whose uploads table has no last_activity_at (an older release) gains it at
    start; the upload open at the upgrade gets a full window from then, not from its age."""
    dev = enroll_test_device(hub)
    data = _data(70_000)
    with device_client(dev) as c:
        loc = _create(c, data, "OLD-1").headers["Location"]
        assert _patch(c, loc, 0, data[:25_000]).status_code == 204
    hub.stop()
    con = sqlite3.connect(hub.dir / "hub.db")
    with con:
        con.execute("ALTER TABLE uploads DROP COLUMN last_activity_at")
        con.execute(
            "UPDATE uploads SET created_at = ? WHERE id = ?",
            ((datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S.%f"), _uid(loc)),
        )
    con.close()
    hub.start()
    with device_client(dev) as c:
        head = c.head(loc, headers=tus_headers())
        assert head.status_code == 200 and head.headers["Upload-Offset"] == "25000"
        assert _expires(head) >= now_utc() + WEEK - timedelta(minutes=5)
        r = _patch(c, loc, 25_000, data[25_000:])
        assert r.status_code == 204 and schemas.RECEIPT_HEADER in r.headers
    assert [e["detail"]["added"] for e in _events(hub, "schema_migrated")] == [
        "uploads.last_activity_at"
    ]
    assert _events(hub, "upload_expired") == []


# -- the kiosk side ----------------------------------------------------------------------------
KIOSK = "kiosk-exp-01"


def test_kiosk_starts_an_expired_upload_again_and_delivers_it(hub, tmp_path, make_settings):
    """The kiosk sent part of a document, went away, and its hub upload expired. The client
    reads 410 as "gone" (HEAD at resumption and a PATCH alike), and the worker starts again
    from zero and delivers the document byte-identical, once."""
    paths = DataPaths(tmp_path / "kiosk").ensure()
    catalog = Catalog(paths.catalog)
    try:
        enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=catalog)
        doc = route_sealed(
            catalog, fakes.sealed_document(catalog, paths, size=400_000, seed=4), "clerk"
        )
        pdf = Path(doc["pdf_path"]).read_bytes()
        outbox = Outbox(catalog)

        def worker(**uplink: Any) -> UplinkWorker:
            cfg = {"hub_url": hub.url, "chunk_kb": 32, "backoff_base_s": 0.05}
            cfg |= {"backoff_max_s": 0.5, "io_timeout_s": 5, "retention_days": 1, **uplink}
            return UplinkWorker(catalog, paths, make_settings(kiosk_id=KIOSK, uplink=cfg))

        slow = worker(bandwidth_kbit=800).start()  # ~100 kB/s: stopped well before the end
        try:
            assert wait_for(lambda: outbox.get(doc["id"])["offset"] >= 64_000, 30, 0.02)
        finally:
            slow.stop()
        row = outbox.get(doc["id"])
        old_url, sent = row["upload_url"], row["offset"]
        assert old_url and 0 < sent < len(pdf) and row["delivered_at"] is None

        # The hub may still be winding up the PATCH the stop cut (it claims the upload when
        # the request arrives), so back-date and sweep until the upload is expired.
        assert wait_for(lambda: _expire_now(hub, old_url), 30, 0.2)

        ident = load_identity(paths)
        item = UploadItem(doc["id"], Path(doc["pdf_path"]), doc["sha256"], len(pdf))
        with TusClient(hub.url, ident.ssl_context()) as client:
            assert client.status(old_url) is None  # HEAD 410: the upload is gone
            with pytest.raises(UplinkError) as exc:
                client.send_chunk(old_url, item, sent)  # PATCH 410: start again
            assert exc.value.code == "upload_gone" and exc.value.restart

        w = worker()
        w.start()
        try:
            assert wait_for(lambda: outbox.counts()["waiting"] == 0, 60, 0.1)
        finally:
            w.stop()
        row = outbox.get(doc["id"])
        assert row["delivered_at"] is not None and row["upload_url"] != old_url
        assert catalog.get_document(doc["id"])["state"] == DocState.DELIVERED
        receipt = schemas.verify_receipt(row["receipt"], ident.ca, doc["sha256"], doc["id"], KIOSK)
        assert receipt["duplicate"] is False
        stored = hub.settings().objects_dir / "sha256" / doc["sha256"][:2] / doc["sha256"]
        assert stored.read_bytes() == pdf
        assert [e["detail"]["upload"] for e in _events(hub, "upload_expired")] == [_uid(old_url)]
        assert [e["detail"]["upload"] for e in _events(hub, "receipt")] == [_uid(row["upload_url"])]
    finally:
        catalog.close()


def test_a_create_that_would_not_fit_sweeps_first(hub_factory):
    """Room held by an upload already past its expiry is given back at once, not after the
    next hourly sweep: the kiosk asking for it gets 201, not 507."""
    hub = hub_factory(storage={"quota_bytes": 300_000})
    dev = enroll_test_device(hub, "kiosk-a")
    idle, big = _data(200_000, seed=1), _data(200_000, seed=2)
    with device_client(dev) as c:
        loc_idle = _create(c, idle, "IDLE").headers["Location"]
        assert _patch(c, loc_idle, 0, idle[:40_000]).status_code == 204
        r = _create(c, big, "BIG")
        assert r.status_code == 507  # the idle upload is not expired yet: its room is held
        _backdate(hub, loc_idle, timedelta(days=8))
        r = _create(c, big, "BIG")
        assert r.status_code == 201, r.text
        assert _row(hub, loc_idle).state == "expired" and not _part(hub, loc_idle).exists()
        (ev,) = _events(hub, "upload_expired")
        assert ev["detail"]["by"] == "hub"
