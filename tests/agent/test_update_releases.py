"""Real releases of this checkout installed by the real updater under a temporary root,
with the in-process supervisor running the real `sohoa run` from `current` (Restart=always).

- healthy -> committed after the trial, the previous release kept;
- broken (its `sohoa` raises at import) -> rolled back within the gate's bound, reported,
  never retried;
- hub down throughout -> committed all the same; the report waits and goes out later;
- kill -9 at every named step (slow) -> after the restart one coherent release is current.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from firmware.config import load_settings
from firmware.store.catalog import Catalog
from provisioning.agent.updates.duty import build_updater, updates_dir
from provisioning.agent.updates.gate import GateConfig
from provisioning.agent.updates.journal import JournalFile
from provisioning.agent.updates.layout import ReleaseLayout
from provisioning.agent.updates.supervisor import ProcessSupervisor
from tests.conftest import run_sohoa
from tests.support.fleet import audit_actions as kiosk_audit
from tests.support.releases import (
    BASE,
    BROKEN,
    HEALTHY,
    Release,
    free_port,
    kiosk_config,
    leftovers,
    release_version,
    seed,
)


def update_cli(cfg: Path, rel: Release, **kw) -> tuple[int, dict]:
    exp = rel.expected()
    proc = run_sohoa(
        [
            "--config",
            str(cfg),
            "agent",
            "update",
            "--version",
            rel.version,
            "--artifact",
            str(rel.path),
        ]
        + ["--sha256", exp.sha256, "--length", str(exp.length)],
        **kw,
    )
    if proc.returncode < 0:
        return proc.returncode, {}
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def journal_of(tmp: Path) -> JournalFile:
    return JournalFile(updates_dir_for(tmp))


def _settings(tmp: Path):
    from firmware.config import load_settings

    return load_settings(None, data_dir=str(tmp / "data"))


def updates_dir_for(tmp: Path) -> Path:
    return updates_dir(_settings(tmp))


def audit_actions(tmp: Path) -> list[str]:
    """The kiosk's audit log once the kiosk took the agent's records over."""
    cat = Catalog(tmp / "data" / "catalog.db")
    return [r["action"] for r in kiosk_audit(_settings(tmp), cat)]


def test_healthy_release_is_committed_after_the_trial(releases, tmp_path):
    cfg = kiosk_config(tmp_path)
    layout = seed(tmp_path / "root", releases[BASE], tmp_path)
    rc, out = update_cli(cfg, releases[HEALTHY])
    assert rc == 0, out
    assert out["outcome"] == "committed" and out["current"] == HEALTHY
    print(f"install {out['install_s']} s, gate (restart + selftest + 2 s trial) {out['gate_s']} s")
    assert layout.current() == HEALTHY and release_version(layout) == HEALTHY
    assert layout.installed() == [BASE, HEALTHY]  # the previous release is kept
    j = journal_of(tmp_path).load()
    assert j.step == "done" and j.failed == []
    assert [e["outcome"] for e in j.unreported] == ["committed"]
    assert "update.committed" in audit_actions(tmp_path)
    # the service really ran the new release under the supervisor, and nothing outlives it
    assert "Sohoa kiosk running" in (updates_dir_for(tmp_path) / "service.log").read_text()
    assert leftovers(layout.root) == []


def test_broken_release_rolls_back_is_reported_and_not_retried(releases, tmp_path):
    cfg = kiosk_config(tmp_path)
    layout = seed(tmp_path / "root", releases[BASE], tmp_path)
    rc, out = update_cli(cfg, releases[BROKEN])
    assert rc == 1
    assert out["outcome"] == "rolled_back" and out["current"] == BASE
    # the reason quotes the crash (the service's last words), not only "it stopped"
    assert (
        "its last words: RuntimeError: " in out["reason"] and "broken on purpose" in out["reason"]
    )
    bound = GateConfig().start_timeout_s + GateConfig().selftest_timeout_s
    assert out["gate_s"] < bound
    assert layout.current() == BASE and release_version(layout) == BASE
    assert layout.installed() == [BASE]
    j = journal_of(tmp_path).load()
    assert j.failed == [BROKEN]
    assert [(e["version"], e["outcome"]) for e in j.unreported] == [(BROKEN, "rolled_back")]
    assert "update.rolled_back" in audit_actions(tmp_path)
    rc, again = update_cli(cfg, releases[BROKEN])  # offered again: not even downloaded
    assert again["install_s"] == 0 and again["current"] == BASE
    assert layout.installed() == [BASE]
    assert len(journal_of(tmp_path).load().unreported) == 1
    assert leftovers(layout.root) == []


class _Hub(BaseHTTPRequestHandler):
    got: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hub.got.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_hub_down_throughout_the_update_is_no_reason_to_roll_back(releases, tmp_path):
    cfg = kiosk_config(tmp_path)
    layout = seed(tmp_path / "root", releases[BASE], tmp_path)
    settings = load_settings(cfg)
    hub = {"url": f"http://127.0.0.1:{free_port()}/fleet/v1/updates/report"}  # nothing listens

    def report(entry: dict) -> bool:
        return httpx.post(hub["url"], json=entry, timeout=2).status_code == 204

    sup = ProcessSupervisor(layout.root, ["--config", str(cfg), "run"])
    updater = build_updater(
        settings, global_args=["--config", str(cfg)], supervisor=sup, reporter=report
    )
    try:
        rel = releases[HEALTHY]
        j = updater.update(
            rel.version, rel.expected(), lambda dest: dest.write_bytes(rel.path.read_bytes())
        )
    finally:
        sup.stop()
    assert j.outcome == "committed" and layout.current() == HEALTHY
    assert [e["outcome"] for e in j.unreported] == ["committed"]  # waits for the hub
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hub["url"] = f"http://127.0.0.1:{server.server_address[1]}/fleet/v1/updates/report"
        assert updater.flush_reports() == 0
    finally:
        server.shutdown()
    assert [(e["version"], e["outcome"]) for e in _Hub.got] == [(HEALTHY, "committed")]
    assert updater.journal.load().unreported == []
    assert leftovers(layout.root) == []


# After a power cut at each point: where the kiosk must end, given the release offered.
KILL_CASES = [
    ("update.download", HEALTHY, BASE),
    ("update.verify", HEALTHY, BASE),
    ("update.unpack", HEALTHY, BASE),
    ("update.install", HEALTHY, BASE),
    ("update.switch", HEALTHY, HEALTHY),  # the new release gets its trial after the restart
    ("update.trial", HEALTHY, HEALTHY),
    ("update.commit", HEALTHY, HEALTHY),
    ("update.report", HEALTHY, HEALTHY),
    ("update.rollback", BROKEN, BASE),
]


def test_the_kill_matrix_covers_every_update_crash_point():
    from firmware.store.crashpoints import UPDATE_POINTS

    assert sorted(c[0] for c in KILL_CASES) == sorted(UPDATE_POINTS)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "offered", "ends_on"), KILL_CASES, ids=[c[0] for c in KILL_CASES]
)
def test_kill_9_at_every_step_ends_on_one_coherent_release(
    releases, tmp_path, point, offered, ends_on
):
    cfg = kiosk_config(tmp_path)
    layout: ReleaseLayout = seed(tmp_path / "root", releases[BASE], tmp_path)
    rc, _ = update_cli(
        cfg, releases[offered], env={"SOHOA_CRASH_AT": point}, start_new_session=True
    )
    assert rc == -9, "the crash point was not reached"
    assert journal_of(tmp_path).load().in_progress() or point == "update.report"
    proc = run_sohoa(["--config", str(cfg), "agent", "update", "--recover"])
    assert proc.returncode in (0, 1), proc.stderr
    assert layout.current() == ends_on
    assert release_version(layout) == ends_on  # the code under `current` is that release
    j = journal_of(tmp_path).load()
    assert j.step == "done"
    assert set(layout.installed()) <= {BASE, offered} and ends_on in layout.installed()
    assert list((updates_dir_for(tmp_path) / "staging").glob("*")) == []
    if offered == BROKEN:
        assert BROKEN in j.failed and BROKEN not in layout.installed()
    if ends_on == offered:
        assert j.outcome == "committed"
    assert leftovers(layout.root) == []
