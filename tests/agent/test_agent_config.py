"""Signed fleet configuration end to end: a real python-tuf repository on the hub (keys made
by `sohoa fleet keys init`, documents signed by `sohoa fleet config publish`) served by the
real hub over mutual TLS on loopback, and the agent's ngclient Updater over that connection.

Each attack TUF protects against is staged on the hub's real files: a tampered target, an
older timestamp (rollback), a timestamp left to expire (freeze), expired delegated metadata,
metadata signed by a key root does not know, and root/timestamp key rotations the kiosk must
follow. After each refusal the kiosk still runs its last good configuration."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from firmware.fleet.config import (
    CURRENT,
    ConfigWatcher,
    config_dir,
    effective_settings,
    read_applied,
)
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.identity import enroll
from firmware.uplink.qr import parse_enroll_uri
from provisioning.agent.agent import Agent
from provisioning.hub.tuf_repo import ConfigRepository
from tests.conftest import run_sohoa
from tests.support.fleet import audit_actions

pytestmark = pytest.mark.integration
KIOSK = "kiosk-cfg-01"
GROUP = "huyen-a"


def _sohoa(*args: str) -> str:
    r = run_sohoa(list(args))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture
def fleet(hub, make_settings, tmp_path):
    from provisioning.hub.fleet_keys import init_keys

    keys = tmp_path / "offline-keys"
    init_keys(keys, _repo(hub))  # test_cli_* below run the same through `sohoa fleet`
    settings = make_settings(
        kiosk_id=KIOSK,
        uplink={"connect_timeout_s": 3, "io_timeout_s": 5},
        agent={"backoff_base_s": 1, "backoff_max_s": 4},
    )
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token(GROUP).uri), catalog=catalog)
    agent = Agent(settings)
    yield SimpleNamespace(
        hub=hub, keys=keys, agent=agent, paths=paths, catalog=catalog, settings=settings
    )
    agent.close()
    catalog.close()


def _publish_cli(hub, *args: str) -> int:
    out = _sohoa("fleet", "config", "publish", "--dir", str(hub.dir), *args)
    return int(out.strip().rsplit(" ", 1)[-1])


def _publish(hub, scope_flag: str, name: str, _set: str, setting: str) -> int:
    """What `sohoa fleet config publish --group G --set s.k=v` does, in-process (fast)."""
    from provisioning.hub.config_publisher import ConfigPublisher
    from provisioning.hub.fleet_cli import _parse_set

    publisher = ConfigPublisher.open(hub.settings())
    try:
        scope = f"{scope_flag.lstrip('-')}:{name}"
        return publisher.publish(scope, _parse_set([setting]), by="test").version
    finally:
        publisher.close()


def _repo(hub, **lifetimes) -> ConfigRepository:
    return ConfigRepository(hub.dir / "tuf", lifetimes=lifetimes or None)


def _errors(agent) -> list[str]:
    return [e["code"] for e in agent.state.errors]


def test_group_setting_is_signed_verified_applied_and_reported(fleet):
    agent, paths = fleet.agent, fleet.paths
    agent.step()  # first heartbeat: the hub signs the kiosk's own document (its group)
    assert agent.state.config_version is not None
    first = agent.state.config_version
    version = _publish_cli(fleet.hub, "--group", GROUP, "--set", "metadata.document_types=ĐA=Đề án")
    assert version > first
    agent.step()
    assert agent.state.config_version == version and agent.state.config_error is None
    applied = read_applied(agent.state_dir)
    assert applied["overrides"]["metadata"]["document_types"] == "ĐA=Đề án"
    settings, v = effective_settings(fleet.settings, agent.state_dir)
    assert v == version and settings.metadata.document_types == "ĐA=Đề án"
    assert audit_actions(fleet.settings, fleet.catalog, "config.applied")

    # the running kiosk picks it up without restart
    kiosk = SimpleNamespace(paths=paths, settings=fleet.settings, uplink=None)
    ConfigWatcher(kiosk, fleet.settings).check()
    assert kiosk.settings.metadata.document_types == "ĐA=Đề án"

    # the hub learns the version the kiosk runs from the next heartbeat
    agent.step()
    rows = json.loads(_sohoa("hub", "device", "list", "--json", "--dir", str(fleet.hub.dir)))
    assert rows[0]["versions"]["cfg"] == version

    # another group's change makes this kiosk fetch nothing it applies
    _publish(fleet.hub, "--group", "other", "--set", "ui.idle_timeout_s=300")
    agent.step()
    assert agent.state.config_version == version


def test_invalid_configuration_is_refused_reported_and_the_last_good_kept(fleet):
    agent = fleet.agent
    agent.step()
    good = _publish(fleet.hub, "--group", GROUP, "--set", "uplink.window=18:00-07:00")
    agent.step()
    assert agent.state.config_version == good
    bad = _publish(fleet.hub, "--group", GROUP, "--set", "uplink.window=25:99-07:00")
    agent.step()
    assert agent.state.config_version == good
    assert agent.state.config_error.startswith(f"v{bad}: uplink.window")
    assert "config_invalid" in _errors(agent)
    assert read_applied(fleet.agent.state_dir)["version"] == good
    assert not (config_dir(fleet.agent.state_dir) / f"v{bad}").exists()
    refused = audit_actions(fleet.settings, fleet.catalog, "config.refused")
    assert len(refused) == 1
    agent.step()  # the refusal travels with the heartbeat: a hub event
    assert len(audit_actions(fleet.settings, fleet.catalog, "config.refused")) == 1
    db = fleet.hub.db()
    try:
        events = db.events.events("config_refused", kiosk_id=KIOSK)
    finally:
        db.close()
    assert events and "uplink.window" in events[-1]["detail"]["reason"]


def test_tampered_target_is_refused(fleet):
    agent = fleet.agent
    agent.step()
    good = agent.state.config_version
    _publish(fleet.hub, "--group", GROUP, "--set", "signing.location=Xã A")
    target = next((fleet.hub.dir / "tuf" / "targets" / "config" / "groups").glob("*.huyen-a.json"))
    doc = json.loads(target.read_text())
    doc["settings"]["signing"]["location"] = "Xã B"  # same size does not help: hash differs
    target.write_text(json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
    agent.step()
    assert agent.state.config_version == good
    assert "config_untrusted" in _errors(agent)
    assert audit_actions(fleet.settings, fleet.catalog, "config.untrusted")


def test_rollback_to_older_metadata_is_refused(fleet):
    agent, hub = fleet.agent, fleet.hub
    meta = hub.dir / "tuf" / "metadata"
    agent.step()
    old_timestamp = (meta / "timestamp.json").read_bytes()
    newer = _publish(hub, "--group", GROUP, "--set", "signing.location=Xã A")
    agent.step()
    assert agent.state.config_version == newer
    (meta / "timestamp.json").write_bytes(old_timestamp)  # a replayed, validly signed file
    agent.state.config_synced_hint = None  # make the next heartbeat sync
    agent.step()
    assert "config_untrusted" in _errors(agent)
    assert agent.state.config_version == newer


def test_frozen_timestamp_expires_and_pauses_changes_only(fleet):
    agent, hub = fleet.agent, fleet.hub
    agent.step()
    good = agent.state.config_version
    # the hub signs a new document, then its timestamp is left to go stale
    _repo(hub, timestamp=timedelta(seconds=1)).publish_group(
        GROUP, {"signing": {"location": "Xã A"}}
    )
    time.sleep(2.2)
    agent.step()
    assert "config_expired" in _errors(agent)
    assert agent.state.config_version == good
    assert agent.status == "ok"  # heartbeats go on
    settings, v = effective_settings(fleet.settings, fleet.agent.state_dir)
    assert v == good  # the kiosk keeps scanning with its configuration
    # once the hub re-signs (what it does hourly), changes flow again
    _repo(hub).refresh_expiring()
    agent.step()
    assert agent.state.config_version > good


def test_expired_delegated_metadata_is_refused(fleet):
    agent, hub = fleet.agent, fleet.hub
    agent.step()
    good = agent.state.config_version
    _repo(hub, config=timedelta(seconds=1)).publish_group(GROUP, {"ui": {"idle_timeout_s": 200}})
    time.sleep(2.2)
    _repo(hub).publish_fleet({})  # fresh timestamp and snapshot; the group role is expired
    agent.step()
    assert "config_expired" in _errors(agent)
    assert agent.state.config_version == good


def test_metadata_signed_with_a_key_root_does_not_know_is_refused(fleet):
    agent, hub = fleet.agent, fleet.hub
    agent.step()
    good = agent.state.config_version
    from securesystemslib.signer import CryptoSigner

    from provisioning.hub.tuf_repo import save_private_key

    # an attacker (or a botched restore) replaces the hub's online snapshot key
    save_private_key(hub.dir / "tuf" / "keys" / "snapshot.pem", CryptoSigner.generate_ed25519())
    _publish(hub, "--group", GROUP, "--set", "signing.location=Xã C")
    agent.step()
    assert "config_untrusted" in _errors(agent)
    assert agent.state.config_version == good


def test_root_and_timestamp_key_rotation_is_followed(fleet):
    agent, hub = fleet.agent, fleet.hub
    agent.step()
    trusted = config_dir(fleet.agent.state_dir).parent / "tuf" / "metadata" / "root.json"
    assert json.loads(trusted.read_bytes())["signed"]["version"] == 1
    _sohoa(
        "fleet",
        "keys",
        "rotate",
        "--keys",
        str(fleet.keys),
        "--dir",
        str(hub.dir),
        "--role",
        "root",
    )
    _sohoa(
        "fleet",
        "keys",
        "rotate",
        "--keys",
        str(fleet.keys),
        "--dir",
        str(hub.dir),
        "--role",
        "timestamp",
    )
    version = _publish(hub, "--group", GROUP, "--set", "signing.location=Xã D")
    agent.step()
    assert agent.state.config_version == version, agent.state.errors
    assert json.loads(trusted.read_bytes())["signed"]["version"] == 3
    # retired root keys stay readable offline, the active ones are new
    assert len(list(fleet.keys.glob("retired-v1-root-*.pem"))) == 3


def test_clock_far_off_is_reported_not_acted_on(fleet, monkeypatch):
    agent = fleet.agent
    agent.step()
    good = agent.state.config_version
    _publish(fleet.hub, "--group", GROUP, "--set", "signing.location=Xã E")
    import provisioning.agent.hub_link as hub_link

    real = time.time
    monkeypatch.setattr(hub_link, "time", SimpleNamespace(time=lambda: real() + 86400 * 400))
    agent.step()
    assert agent.state.clock_offset_s > 86400 * 399
    assert "clock_off" in _errors(agent)
    assert agent.state.config_version == good  # not refused, not accepted: waiting
    monkeypatch.undo()
    agent.step()  # the clock is right again (as seen from the hub): the change applies
    assert agent.state.config_version > good
    rows = json.loads(_sohoa("hub", "device", "list", "--json", "--dir", str(fleet.hub.dir)))
    assert any(e["code"] == "clock_off" for e in rows[0]["errors"])


def test_unchanged_poll_makes_no_tuf_request(fleet):
    agent = fleet.agent
    agent.step()
    sync = agent.duties[0]
    before = sync.last_fetcher.requests
    agent.step()
    assert sync.last_fetcher.requests == before


def test_applied_file_is_replaced_atomically_and_last_good_kept(fleet):
    agent = fleet.agent
    agent.step()
    _publish(fleet.hub, "--group", GROUP, "--set", "ui.idle_warning_s=20")
    agent.step()
    d = config_dir(agent.state_dir)
    assert (d / CURRENT).exists() and (d / "last-good.json").exists()
    assert (
        json.loads((d / "last-good.json").read_text())["version"]
        < read_applied(agent.state_dir)["version"]
    )
    assert not [p for p in d.iterdir() if p.name.startswith(".tmp")]


def test_cli_keys_init_refuses_twice_and_shows_documents(tmp_path):
    from tests.support.hub import init_hub_dir

    hub_dir = init_hub_dir(tmp_path / "hub")
    keys = tmp_path / "keys"
    out = _sohoa("fleet", "keys", "init", "--keys", str(keys), "--dir", str(hub_dir))
    assert "cần 2 chữ ký" in out
    assert len(list(keys.glob("root-*.pem"))) == 3 and (keys / "targets.pem").exists()
    online = sorted(p.name for p in (hub_dir / "tuf" / "keys").iterdir())
    assert online == ["config.pem", "snapshot.pem", "timestamp.pem"]  # no offline key
    r = run_sohoa(["fleet", "keys", "init", "--keys", str(keys), "--dir", str(hub_dir)])
    assert r.returncode == 1 and "rotate" in r.stderr
    r = run_sohoa(
        ["fleet", "config", "publish", "--dir", str(hub_dir), "--fleet", "--set", "camera.width=1"]
    )
    assert r.returncode == 1 and "camera" in r.stderr
    shown = json.loads(_sohoa("fleet", "config", "show", "--dir", str(hub_dir), "--fleet"))
    assert shown["scope"] == "fleet" and shown["settings"] == {}
