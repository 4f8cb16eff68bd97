"""A rollout end to end on loopback, as IT and the kiosk live it: the real hub (uvicorn, mutual
TLS, SQLite), keys from `sohoa fleet keys init`, releases of this checkout built by `sohoa
release build` and signed by `sohoa release publish` with the offline release key,
`sohoa hub rollout create`; the real agent's heartbeat picks the assignment up, checks it
against TUF, downloads it with Range over its mTLS identity, installs it with the updater and
the in-process supervisor running the real `sohoa run`, and reports.

- healthy -> committed on the kiosk, counted committed by the hub's rollout;
- broken -> rolled back on the kiosk, reported, the rollout pauses at its failure threshold,
  and the release is never taken again;
- not signed by the release role (unsigned, signed by the hub into its own config role, or
  the releases role re-signed with a key the hub holds), or signed but assigned with other
  bytes' length and hash -> refused before any download.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from tuf.api.metadata import TargetFile

from firmware.config import load_settings
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.identity import enroll
from firmware.uplink.qr import parse_enroll_uri
from provisioning.agent.agent import Agent
from provisioning.agent.updates.duty import UpdateDuty, updates_dir
from provisioning.fleet_schemas import RELEASE_ROLE, release_target
from provisioning.hub.tuf_repo import ConfigRepository
from tests.conftest import run_sohoa
from tests.support.fleet import audit_actions
from tests.support.releases import (
    BASE,
    BROKEN,
    HEALTHY,
    Release,
    kiosk_config,
    leftovers,
    release_version,
    seed,
)

pytestmark = pytest.mark.integration
KIOSK = "kiosk-upd-01"
GROUP = "huyen-b"


def _sohoa(*args: str) -> str:
    r = run_sohoa(list(args))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _rollout(hub, *args: str) -> str:
    out = _sohoa("hub", "rollout", "create", "--dir", str(hub.dir), "--kiosk", KIOSK, *args)
    m = re.search(r"(ro-\d{8}-[0-9a-f]{6})", out)
    assert m, out
    return m.group(1)


def _show(hub, rollout_id: str) -> dict:
    return json.loads(_sohoa("hub", "rollout", "show", rollout_id, "--dir", str(hub.dir), "--json"))


def _kiosk(hub, tmp: Path, *, seeded: Release | None) -> SimpleNamespace:
    cfg = kiosk_config(
        tmp,
        top=f'kiosk_id = "{KIOSK}"',
        extra="[uplink]\nconnect_timeout_s = 3\nio_timeout_s = 20\n"
        "[agent]\nbackoff_base_s = 1\nbackoff_max_s = 2\n",
    )
    settings = load_settings(cfg)
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token(GROUP).uri), catalog=catalog)
    layout = seed(tmp / "root", seeded, tmp) if seeded else None
    agent = Agent(settings, child_args=["--config", str(cfg)])
    duty = next(d for d in agent.duties if isinstance(d, UpdateDuty))
    return SimpleNamespace(
        agent=agent,
        duty=duty,
        layout=layout,
        paths=paths,
        catalog=catalog,
        cfg=cfg,
        settings=settings,
    )


def _audit(k: SimpleNamespace) -> list[str]:
    """The kiosk's hash-chained audit log once the kiosk's side took the agent's records over
    (the agent itself may not write the catalog)."""
    return [r["action"] for r in audit_actions(k.settings, k.catalog)]


def _staged(k: SimpleNamespace) -> list[str]:
    staging = updates_dir(k.settings) / "staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


@pytest.fixture
def keys(hub, tmp_path) -> Path:
    keys = tmp_path / "offline-keys"
    _sohoa("fleet", "keys", "init", "--keys", str(keys), "--dir", str(hub.dir))
    return keys


def test_rollout_reaches_the_kiosk_commits_then_a_broken_one_pauses(hub, keys, releases, tmp_path):
    for v in (HEALTHY, BROKEN):
        out = _sohoa(
            "release", "publish", "--artifact", str(releases[v].path), "--keys", str(keys),
            "--dir", str(hub.dir),
        )  # fmt: skip
        assert f"version {v}" in out and releases[v].expected().sha256 in out
    # the release key stayed offline: the hub holds only its online keys
    assert (keys / "release.pem").exists()
    assert sorted(p.name for p in (hub.dir / "tuf" / "keys").iterdir()) == [
        "config.pem",
        "snapshot.pem",
        "timestamp.pem",
    ]
    k = _kiosk(hub, tmp_path, seeded=releases[BASE])
    try:
        good = _rollout(hub, "--version", HEALTHY, "--waves", "100:0")
        k.agent.step()
        assert k.agent.status == "ok"
        assert k.duty.busy() or k.layout.current() == HEALTHY  # the heartbeat took it up
        assert k.duty.wait(300), "the update did not finish"
        assert k.duty.last_error is None, k.duty.last_error
        assert k.layout.current() == HEALTHY and release_version(k.layout) == HEALTHY
        j = k.duty.updater.journal.load()
        assert j.outcome == "committed" and j.unreported == []  # the hub has the report
        st = _show(hub, good)
        assert st["wave_status"][0]["committed"] == 1 and st["state"] == "completed"
        assert "update.committed" in _audit(k)

        bad = _rollout(hub, "--version", BROKEN, "--waves", "100:0", "--failure", "0.05")
        k.agent.step()
        assert k.duty.wait(300)
        assert k.layout.current() == HEALTHY and release_version(k.layout) == HEALTHY
        j = k.duty.updater.journal.load()
        assert j.outcome == "rolled_back" and BROKEN in j.failed and j.unreported == []
        st = _show(hub, bad)
        assert st["state"] == "paused", st
        assert st["wave_status"][0]["rolled_back"] == 1
        assert st["rollback_reasons"] and "rolled back in wave 1" in st["reason"]

        k.agent.step()  # nothing offered again, nothing downloaded again
        assert not k.duty.busy() and _staged(k) == []
        assert k.layout.installed() == [BASE, HEALTHY]
    finally:
        k.agent.close()
        k.catalog.close()
    assert leftovers(k.layout.root) == []


def _forge_in_config_role(repo: ConfigRepository, name: str, t: TargetFile) -> None:
    """What a compromised hub can sign: a target in its own online config role."""
    config = repo.load("config")
    config.signed.targets[name] = t
    config.signed.version += 1
    config.sign(repo.online_signer("config"))
    repo.install_offline("config", config)


def _forge_releases_role(repo: ConfigRepository, name: str, t: TargetFile) -> None:
    """The releases role re-signed by the hub with a key it holds (not the release key)."""
    md = repo.load(RELEASE_ROLE)
    md.signed.targets[name] = t
    md.signed.version += 1
    md.signatures.clear()
    md.sign(repo.online_signer("config"))
    repo.install_offline(RELEASE_ROLE, md)


@pytest.mark.parametrize(
    "how", ["unsigned", "hub_config_role", "hub_resigned_releases", "hub_swaps_the_hash"]
)
def test_a_release_the_release_role_did_not_sign_is_refused_before_download(
    hub, keys, releases, tmp_path, how
):
    rel = releases[HEALTHY]
    exp = rel.expected()
    name = release_target(rel.path.name)
    repo = ConfigRepository(hub.dir / "tuf")
    # the bytes are there for the taking: only the signature is missing
    served = repo.targets_dir / "releases" / f"{exp.sha256}.{rel.path.name}"
    served.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(rel.path, served)
    forged = TargetFile(
        exp.length,
        {"sha256": exp.sha256},
        name,
        unrecognized_fields={"custom": {"version": HEALTHY}},
    )
    if how == "hub_config_role":
        _forge_in_config_role(repo, name, forged)
    elif how == "hub_resigned_releases":
        _forge_releases_role(repo, name, forged)
    elif how == "hub_swaps_the_hash":  # signed properly, but the hub names other bytes
        _sohoa(
            "release", "publish", "--artifact", str(rel.path), "--keys", str(keys),
            "--dir", str(hub.dir),
        )  # fmt: skip
        exp = releases[BROKEN].expected()
        served = repo.targets_dir / "releases" / f"{exp.sha256}.{rel.path.name}"
        shutil.copyfile(releases[BROKEN].path, served)
    rid = _rollout(
        hub, "--version", HEALTHY, "--target", name, "--sha256", exp.sha256,
        "--length", str(exp.length), "--waves", "100:0",
    )  # fmt: skip
    k = _kiosk(hub, tmp_path, seeded=None)
    try:
        k.agent.step()
        assert not k.duty.busy() and k.duty.worker is None
        codes = [e["code"] for e in k.agent.state.errors]
        assert "update_untrusted" in codes, k.agent.state.errors
        assert _staged(k) == []  # not a byte was downloaded
        assert k.duty.updater.journal.load().version is None  # the updater never started
        assert "update.untrusted" in _audit(k)
        st = _show(hub, rid)
        assert st["wave_status"][0]["refused"] == 1 and st["state"] == "paused"
        k.agent.step()  # the same offer is not checked or reported again
        assert _audit(k).count("update.untrusted") == 1
    finally:
        k.agent.close()
        k.catalog.close()
