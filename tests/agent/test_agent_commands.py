"""Remote commands end to end: queued on the real hub (`sohoa fleet command send` and the
service), pulled by the agent in the heartbeat answer, verified, run at most once, reported
back (hub event + stored result) and audited on the kiosk. Restart and reboot go through the
pluggable system interface (a recording one here). Collect-logs uploads a bundle through
the existing tus ingest: the hub's object store holds exactly the bundle's bytes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.identity import enroll, load_identity
from firmware.uplink.qr import parse_enroll_uri
from provisioning.agent.agent import Agent
from provisioning.agent.commands import Commands
from provisioning.agent.system import RecordingSystem
from provisioning.fleet_schemas import HeartbeatAnswer
from tests.conftest import run_sohoa
from tests.support.fleet import audit_actions, publisher
from tests.support.seaweed import bucket, hub_storage

pytestmark = pytest.mark.integration
KIOSK = "kiosk-cmd-01"


@contextlib.contextmanager
def fleet_on(hub, make_settings) -> Iterator[SimpleNamespace]:
    """An enrolled kiosk with its agent (recording system) against ``hub``."""
    settings = make_settings(
        kiosk_id=KIOSK,
        uplink={"connect_timeout_s": 3, "io_timeout_s": 5},
        agent={"backoff_base_s": 1, "backoff_max_s": 4, "system": "recording"},
    )
    paths = DataPaths(settings.data_dir).ensure()
    (paths.logs / "sohoa.log").write_text("22:00 camera ok\n22:01 page sealed\n")
    catalog = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token("g").uri), catalog=catalog)
    agent = Agent(settings)
    system = RecordingSystem()
    cmds = next(d for d in agent.duties if d.name == "commands")
    cmds.system = system
    kiosk = publisher(settings, catalog).start()  # answers doctor requests, as the service does
    try:
        yield SimpleNamespace(hub=hub, agent=agent, catalog=catalog, paths=paths, system=system)
    finally:
        kiosk.stop()
        agent.close()
        catalog.close()


@pytest.fixture
def fleet(hub, make_settings):
    with fleet_on(hub, make_settings) as f:
        yield f


def _service(hub):
    from provisioning.hub.commands import CommandService

    db = hub.db()
    return CommandService(db), db


def _send(hub, kind: str, **kw) -> str:
    svc, db = _service(hub)
    try:
        return svc.create(KIOSK, kind, by="test", **kw)["id"]
    finally:
        db.close()


def _command(hub, cid: str) -> dict:
    svc, db = _service(hub)
    try:
        return svc.get(cid)
    finally:
        db.close()


def _signed_by_hub(hub, fields: dict, expires_in: timedelta) -> dict:
    """A command signed with the hub's real signing key (as a heartbeat answer carries it)."""
    from provisioning.hub import pki
    from provisioning.hub.commands import CommandService

    s = hub.settings()
    db = hub.db()
    try:
        svc = CommandService(
            db, pki.load_key(s.receipt_key_path), pki.load_cert(s.receipt_cert_path)
        )
        now = datetime.now(UTC)
        row = {"kiosk_id": KIOSK, "args": {}, "created_at": now, "expires_at": now + expires_in}
        return svc.sign({**row, **fields})
    finally:
        db.close()


def _audit(fleet, action: str) -> list[dict]:
    return audit_actions(fleet.agent.settings, fleet.catalog, action)


def _send_from_cli(hub, kind: str) -> str:
    """``sohoa fleet command send`` as IT types it; the command's id."""
    r = run_sohoa(
        ["fleet", "command", "send", "--dir", str(hub.dir), "--kiosk", KIOSK, "--kind", kind]
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().rsplit(" ", 1)[-1]


def test_collect_logs_bundle_lands_in_the_hubs_seaweedfs_bucket(
    seaweed_s3, hub_factory, make_settings
):
    """At scale the hub stores into S3 (SeaweedFS): the bundle is in the bucket, byte for
    byte, and nothing in the hub's own directory."""
    hub = hub_factory(storage=hub_storage(seaweed_s3, "sohoa-logs"))
    with fleet_on(hub, make_settings) as f:
        cid = _send_from_cli(hub, "collect_logs")
        f.agent.step()
        cmd = _command(hub, cid)
        assert cmd["state"] == "done", cmd
        out = cmd["result"]["output"]
    data = bucket(seaweed_s3, "sohoa-logs").read(out["stored_as"])
    assert hashlib.sha256(data).hexdigest() == out["sha256"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert "22:01 page sealed" in tar.extractfile("logs/sohoa.log").read().decode()
    assert not (hub.dir / "objects").exists() or not any((hub.dir / "objects").rglob("*.*"))


def test_collect_logs_returns_a_bundle_through_tus_ingest(fleet):
    r = run_sohoa(
        [
            "fleet",
            "command",
            "send",
            "--dir",
            str(fleet.hub.dir),
            "--kiosk",
            KIOSK,
            "--kind",
            "collect_logs",
        ]
    )
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip().rsplit(" ", 1)[-1]
    fleet.agent.step()
    cmd = _command(fleet.hub, cid)
    assert cmd["state"] == "done", cmd
    out = cmd["result"]["output"]
    stored = fleet.hub.settings().objects_dir / out["stored_as"]
    data = stored.read_bytes()
    assert hashlib.sha256(data).hexdigest() == out["sha256"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
        log = tar.extractfile("logs/sohoa.log").read().decode()
        doctor = json.loads(tar.extractfile("doctor.json").read())
    assert "22:01 page sealed" in log
    assert "agent/state.json" in names and not any(
        "identity" in n or n.endswith(".pem") for n in names
    )
    assert {c["name"] for c in doctor} >= {"disk", "audit"}
    db = fleet.hub.db()
    try:
        kinds = [e["kind"] for e in db.events.events(kiosk_id=KIOSK)]
    finally:
        db.close()
    assert "command_created" in kinds and "command_result" in kinds and "upload_created" in kinds
    assert len(_audit(fleet, "command.started")) == 1
    assert len(_audit(fleet, "command.done")) == 1
    assert not list((fleet.agent.state_dir / "outgoing").glob("*.tar.gz"))


def test_each_command_runs_at_most_once_and_reports(fleet):
    ids = {k: _send(fleet.hub, k) for k in ("restart_service", "reboot", "doctor")}
    fleet.agent.step()
    assert fleet.system.calls == ["restart_service", "reboot"]
    for cid in ids.values():
        assert _command(fleet.hub, cid)["state"] == "done"
    checks = _command(fleet.hub, ids["doctor"])["result"]["output"]["checks"]
    assert any(c["name"] == "disk" for c in checks)
    # the same signed commands replayed (e.g. an answer captured earlier): ignored
    replay = HeartbeatAnswer(now=datetime.now(UTC).isoformat(), cmds=fleet.agent.last_answer.cmds)
    assert replay.cmds  # the answer that carried them
    ctx = SimpleNamespace(ident=load_identity(fleet.paths))
    cmds = next(d for d in fleet.agent.duties if d.name == "commands")
    cmds.after_heartbeat(ctx, replay)
    fleet.agent.step()
    assert fleet.system.calls == ["restart_service", "reboot"]
    assert len(_audit(fleet, "command.started")) == 3


def test_a_run_cut_by_a_power_failure_is_not_run_again(fleet):
    cid = _send(fleet.hub, "reboot")
    cmds = next(d for d in fleet.agent.duties if d.name == "commands")
    cmds.system.fail = "power cut"  # the run raises after the journal said "started"
    fleet.agent.step()
    assert _command(fleet.hub, cid)["state"] == "failed"
    # a fresh agent (restart) reads the journal: a "started" entry becomes interrupted
    journal = json.loads(cmds.path.read_text())
    journal[cid] = {"kind": "reboot", "at": journal[cid]["at"], "state": "started"}
    cmds.path.write_text(json.dumps(journal))
    again = Commands(fleet.agent, RecordingSystem())
    assert again.journal[cid]["state"] == "failed"
    assert again.journal[cid]["result"]["code"] == "interrupted"


def test_expired_and_badly_signed_commands_are_refused_with_a_reason(fleet):
    expired = _send(fleet.hub, "restart_service", expires_in=timedelta(seconds=-1))
    fleet.agent.step()  # the hub does not even offer an expired command
    assert _command(fleet.hub, expired)["state"] == "pending"
    assert fleet.system.calls == []

    good = _send(fleet.hub, "doctor")
    fleet.agent.step()
    signed = next(c for c in fleet.agent.last_answer.cmds if c["id"] == good)
    ident = load_identity(fleet.paths)
    cmds = next(d for d in fleet.agent.duties if d.name == "commands")
    forged = {**signed, "id": "f" * 16, "kind": "reboot"}  # signature no longer covers it
    stale = _signed_by_hub(fleet.hub, {"id": "e" * 16, "kind": "doctor"}, timedelta(hours=1))
    answer = HeartbeatAnswer(now=datetime.now(UTC).isoformat(), cmds=[forged])
    cmds.after_heartbeat(SimpleNamespace(ident=ident), answer)
    assert cmds.journal["f" * 16]["result"]["code"] == "command_bad_signature"
    # a validly signed command past its expiry (judged on the hub's clock)
    fleet.agent.state.clock_offset_s = -3 * 86400  # hub clock is 3 days ahead of ours
    cmds.after_heartbeat(SimpleNamespace(ident=ident), HeartbeatAnswer(now="x", cmds=[stale]))
    assert cmds.journal["e" * 16]["result"]["code"] == "command_expired"
    assert fleet.system.calls == []
    refused = _audit(fleet, "command.refused")
    assert {r["details"]["code"] for r in refused} == {"command_bad_signature", "command_expired"}
    # signed by a key and certificate the fleet CA never issued (a rogue "hub")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from provisioning.hub import pki
    from provisioning.hub.commands import CommandService

    rogue_key = pki.new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue hub")])
    now = datetime.now(UTC)
    rogue_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rogue_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.KeyUsage(True, *[False] * 8), critical=True)
        .sign(rogue_key, hashes.SHA256())
    )
    svc, db = _service(fleet.hub)
    try:
        rogue = CommandService(db, rogue_key, rogue_cert)
        row = {
            "kiosk_id": KIOSK,
            "args": {},
            "created_at": now,
            "expires_at": now + timedelta(hours=1),
        }
        bad = rogue.sign({**row, "id": "d" * 16, "kind": "reboot"})
    finally:
        db.close()
    fleet.agent.state.clock_offset_s = 0
    cmds.after_heartbeat(SimpleNamespace(ident=ident), HeartbeatAnswer(now="x", cmds=[bad]))
    assert cmds.journal["d" * 16]["result"]["code"] == "command_bad_signature"
    assert fleet.system.calls == []


def test_rekey_and_resync_commands(fleet, tmp_path):
    from firmware.uplink.identity import load_identity
    from provisioning.hub.fleet_keys import init_keys
    from provisioning.hub.tuf_repo import ConfigRepository

    init_keys(tmp_path / "keys", ConfigRepository(fleet.hub.dir / "tuf"))
    before = load_identity(fleet.paths)
    rekey = _send(fleet.hub, "rekey")
    fleet.agent.step()
    assert _command(fleet.hub, rekey)["state"] == "done"
    after = load_identity(fleet.paths)
    assert after.cert.public_key() != before.cert.public_key()
    resync = _send(fleet.hub, "resync_config")
    fleet.agent.step()  # the heartbeat goes out with the new key
    assert fleet.agent.status == "ok"
    result = _command(fleet.hub, resync)["result"]
    assert result["status"] == "done" and result["output"]["config_version"] is not None


def test_unknown_kiosk_or_kind_is_a_plain_cli_error(fleet):
    r = run_sohoa(
        [
            "fleet",
            "command",
            "send",
            "--dir",
            str(fleet.hub.dir),
            "--kiosk",
            "nope",
            "--kind",
            "reboot",
        ]
    )
    assert r.returncode == 1 and "nope" in r.stderr
