"""The fleet agent against the real hub (uvicorn over mutual TLS on loopback): heartbeats
reach the hub's latest state, history and ``sohoa hub device list``; an unchanged poll costs
one request and well under 2 KB on the wire (measured through a TCP proxy); the agent renews
and re-keys the certificate (the uplink worker no longer does); a hub that is down gives
backoff with jitter and an error carried by the next heartbeat; ``/healthz`` answers without
a client certificate."""

from __future__ import annotations

import json
import random
import ssl
from datetime import timedelta

import httpx
import pytest

from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink import identity as idm
from firmware.uplink.identity import enroll, load_identity
from firmware.uplink.outbox import route_sealed
from firmware.uplink.qr import parse_enroll_uri
from firmware.uplink.worker import UplinkWorker
from provisioning.agent.agent import Agent
from provisioning.fleet_schemas import HEALTHZ_PATH, HEARTBEAT_PATH
from tests.conftest import run_sohoa, wait_for
from tests.support import uplink as fakes
from tests.support.fleet import audit_actions, kiosk_round
from tests.support.hub import device_client, enroll_test_device
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration
KIOSK = "kiosk-agent-01"


def _settings(make_settings, hub_url: str | None = None, **agent):
    uplink = {"connect_timeout_s": 3, "io_timeout_s": 5, "backoff_base_s": 0.05}
    if hub_url:
        uplink["hub_url"] = hub_url
    return make_settings(
        kiosk_id=KIOSK,
        uplink=uplink,
        agent={"backoff_base_s": 1, "backoff_max_s": 8, **agent},
    )


@pytest.fixture
def enrolled(hub, make_settings):
    settings = _settings(make_settings)
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token("huyen-a").uri), catalog=catalog)
    yield settings, paths, catalog
    catalog.close()


def _device_list(hub) -> list[dict]:
    r = run_sohoa(["hub", "device", "list", "--json", "--dir", str(hub.dir)])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_heartbeat_reaches_the_hub_and_the_device_list(hub, enrolled):
    settings, paths, catalog = enrolled
    for i in range(2):
        route_sealed(catalog, fakes.sealed_document(catalog, paths, size=5000, seed=i), "clerk")
    kiosk_round(  # what the kiosk service publishes every round: the agent reads no catalog
        settings,
        catalog,
        devices={"camera": True, "scanner": False, "pedal": True, "leds": True, "ocr": True},
        export_waiting=3,
        last_error=None,
    )
    agent = Agent(settings)
    try:
        wait = agent.step()
    finally:
        agent.close()
    assert agent.status == "ok"
    assert 60 * 0.9 <= wait <= 60 * 1.1  # the interval, with jitter

    rows = {r["kiosk_id"]: r for r in _device_list(hub)}
    row = rows[KIOSK]
    assert row["state"] == "ok" and row["group"] == "huyen-a"
    assert row["last_heartbeat_at"] is not None
    assert row["versions"]["app"] == __import__("firmware").__version__
    assert row["upload_queue"]["wait"] == 2
    assert row["upload_queue"]["oldest"] is not None
    assert row["export_queue"]["wait"] == 3
    assert row["devices"] == {
        "service": True,
        "camera": True,
        "scanner": False,
        "pedal": True,
        "leds": True,
        "ocr": True,
    }
    assert row["disk"]["free"] > 0 and row["disk"]["total"] >= row["disk"]["free"]
    assert abs(row["clock_offset_s"] or 0) < 5 or row["clock_offset_s"] is None

    # what the hub stored is what the kiosk is: the audit head and the measured clock offset
    db = hub.db()
    try:
        from provisioning.hub.fleet_db import FleetDB

        fleet = FleetDB(db.engine)
        latest = fleet.latest(KIOSK)[KIOSK]["body"]
        assert latest["audit"] == catalog.audit_head()[1]
        assert len(fleet.history(KIOSK)) == 1
        kinds = [e["kind"] for e in db.events.events(kiosk_id=KIOSK)]
        assert "heartbeat_first" in kinds
    finally:
        db.close()
    assert agent.state.clock_offset_s is not None and abs(agent.state.clock_offset_s) < 5

    # the text listing says the same for a person
    r = run_sohoa(["hub", "device", "list", "--dir", str(hub.dir)])
    assert r.returncode == 0 and KIOSK in r.stdout and " ok " in r.stdout


def test_unchanged_poll_is_one_request_under_2_kb_on_the_wire(hub, enrolled, make_settings):
    settings, paths, catalog = enrolled
    proxy = TcpProxy(hub.port).start()
    try:
        settings = _settings(make_settings, f"https://127.0.0.1:{proxy.port}")
        agent = Agent(settings)
        agent.step()  # the first poll pays the TLS handshake
        up, down, conns = proxy.bytes_up, proxy.bytes_down, proxy.connections
        agent.step()
        poll_bytes = proxy.bytes_up - up + proxy.bytes_down - down
        agent.close()
    finally:
        proxy.stop()
    assert agent.status == "ok"
    assert proxy.connections == conns  # the connection was kept: no second handshake
    print(f"unchanged poll: {poll_bytes} bytes on the wire")
    assert poll_bytes <= 2048


def test_agent_renews_the_certificate_and_the_uplink_uses_it(hub, enrolled, make_settings):
    settings, paths, catalog = enrolled
    before = load_identity(paths)
    settings = make_settings(
        kiosk_id=KIOSK,
        uplink={
            "renew_fraction": 1e-9,
            "connect_timeout_s": 3,
            "io_timeout_s": 5,
            "backoff_base_s": 0.05,
            "retention_days": 0,
        },
    )
    agent = Agent(settings)
    agent.step()
    agent.close()
    after = load_identity(paths)
    assert after.cert.serial_number != before.cert.serial_number
    assert after.cert.public_key() == before.cert.public_key()
    assert audit_actions(settings, catalog, "uplink.renewed")  # via the kiosk's take-over
    assert agent.status == "ok"  # the heartbeat went out with the new certificate

    # the uplink worker no longer renews (one place), and delivers with the new certificate
    doc = route_sealed(catalog, fakes.sealed_document(catalog, paths, size=20_000), "clerk")
    worker = UplinkWorker(catalog, paths, settings)
    worker.start()
    try:
        assert wait_for(lambda: catalog.get_document(doc["id"])["state"] == "purged", 30, 0.1)
    finally:
        worker.stop()
    assert load_identity(paths).cert.serial_number == after.cert.serial_number
    assert sum(a["action"] == "uplink.renewed" for a in catalog.audit_records()) == 1


def test_rekey_from_the_command_line_gets_a_new_key(hub, enrolled, tmp_path):
    settings, paths, catalog = enrolled
    before = load_identity(paths)
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'kiosk_id = "{KIOSK}"\ndata_dir = "{paths.root}"\n')
    r = run_sohoa(["--config", str(cfg), "agent", "rekey"])
    assert r.returncode == 0, r.stderr
    after = load_identity(paths)
    assert after.cert.public_key() != before.cert.public_key()
    assert not any(p.name.endswith(".next") for p in idm.identity_dir(paths).iterdir())
    # the hub accepts the new certificate at once
    r = run_sohoa(["--config", str(cfg), "agent", "--once"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["status"] == "ok"


def test_rekey_interrupted_by_a_power_cut_ends_on_a_consistent_pair(hub, enrolled):
    """kill -9 between renaming the new key and the new certificate: the next start
    completes the swap; before the certificate arrived: the old pair stays."""
    settings, paths, catalog = enrolled
    d = idm.identity_dir(paths)
    old = load_identity(paths)
    fresh = idm.renew(old, KIOSK, new_key=True)  # a complete re-key, to have a new pair
    new_key, new_cert = (d / idm.KEY_NAME).read_bytes(), (d / idm.CERT_NAME).read_bytes()
    # state after "key renamed, certificate not yet": new key in place, cert only as .next
    (d / (idm.CERT_NAME + idm.NEXT)).write_bytes(new_cert)
    (d / idm.CERT_NAME).write_bytes(old.cert.public_bytes(idm.serialization.Encoding.PEM))
    again = load_identity(paths)
    assert again is not None and again.cert.serial_number == fresh.cert.serial_number
    assert (d / idm.KEY_NAME).read_bytes() == new_key
    # state after "new key written, hub never answered": the .next key is dropped
    (d / (idm.KEY_NAME + idm.NEXT)).write_bytes(b"garbage")
    assert load_identity(paths).cert.serial_number == fresh.cert.serial_number
    assert not (d / (idm.KEY_NAME + idm.NEXT)).exists()


def test_hub_down_backs_off_with_jitter_and_reports_afterwards(hub, enrolled):
    settings, paths, catalog = enrolled
    hub.kill()
    agent = Agent(settings, rng=random.Random(7))
    waits = [agent.step() for _ in range(4)]
    assert agent.status == "hub_unreachable"
    # equal jitter: failure n waits between half and all of min(cap, base * 2**(n-1))
    for n, w in enumerate(waits, start=1):
        full = min(8, 1 * 2 ** (n - 1))
        assert full / 2 <= w <= full
    assert len(set(waits)) == 4
    hub.start()
    agent.step()
    agent.close()
    assert agent.status == "ok"
    db = hub.db()
    try:
        from provisioning.hub.fleet_db import FleetDB

        body = FleetDB(db.engine).latest(KIOSK)[KIOSK]["body"]
    finally:
        db.close()
    assert body["errs"][-1]["code"] == "hub_unreachable"
    assert body["dev"] == {"service": False}  # no kiosk status file: service not running


def test_hub_stretches_the_interval_under_load(hub_factory, make_settings):
    hub = hub_factory(fleet={"max_heartbeats_per_s": 0.1, "heartbeat_s": 30})
    settings = _settings(make_settings, heartbeat_s=30)
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=catalog)
    agent = Agent(settings, rng=random.Random(1))
    agent.step()
    wait = agent.step()  # 2 heartbeats in 10 s = 0.2/s, twice the threshold
    agent.close()
    catalog.close()
    assert agent.state.interval_s == pytest.approx(60, rel=0.01)
    assert wait >= 60 * 0.9


def test_healthz_without_client_certificate_and_heartbeat_with_one_only(hub):
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    r = httpx.get(hub.url + HEALTHZ_PATH, verify=ctx, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["storage"] == "ok"
    assert body["version"]
    r = httpx.post(hub.url + HEARTBEAT_PATH, verify=ctx, json={}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "cert_required"

    device = enroll_test_device(hub, "kiosk-x")
    with device_client(device) as c:
        r = c.post(
            HEARTBEAT_PATH, content=b'{"at":1}', headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
        r = c.post(
            HEARTBEAT_PATH, content=b"x" * 20000, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400
        r = c.post(HEARTBEAT_PATH, content=b"{}", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415


def test_late_and_offline_marking(tmp_path):
    from provisioning.hub.db import now_utc
    from provisioning.hub.fleet import FleetService
    from provisioning.hub.fleet_config import FleetConfig
    from provisioning.hub.hub_db import HubDB

    db = HubDB(f"sqlite:///{tmp_path / 'hub.db'}")
    db.create_schema()
    fleet = FleetService(FleetConfig(heartbeat_s=60, late_after=2.5, offline_after_s=900), db)
    t0 = now_utc()
    latest = {"received_at": t0, "interval_s": 60.0}
    assert fleet.state_of(latest, t0 + timedelta(seconds=149)) == "ok"
    assert fleet.state_of(latest, t0 + timedelta(seconds=151)) == "late"
    assert fleet.state_of(latest, t0 + timedelta(seconds=901)) == "offline"
    assert fleet.state_of(None, t0) == "never"
    # a kiosk told to come back later (load shedding) is not late for that
    assert fleet.state_of({**latest, "interval_s": 300.0}, t0 + timedelta(seconds=600)) == "ok"
    db.close()


def test_history_is_sampled_and_pruned(tmp_path):
    from provisioning.fleet_schemas import Disk, Heartbeat, Versions
    from provisioning.hub.db import now_utc
    from provisioning.hub.fleet import FleetService
    from provisioning.hub.fleet_config import FleetConfig
    from provisioning.hub.hub_db import HubDB

    db = HubDB(f"sqlite:///{tmp_path / 'hub.db'}")
    db.create_schema()
    fleet = FleetService(FleetConfig(history_every_s=3600, history_days=1), db)
    hb = Heartbeat(at="x", ver=Versions(app="1"), disk=Disk(free=1, total=2))
    t0 = now_utc() - timedelta(days=3)
    for minute in range(0, 3 * 24 * 60, 30):  # every 30 min for three days
        fleet.heartbeat("k1", hb, now=t0 + timedelta(minutes=minute))
    assert fleet.db.history_count() == 72  # one per hour, not one per heartbeat
    fleet.prune(now=t0 + timedelta(days=3))
    assert 23 <= fleet.db.history_count() <= 25
    db.close()
