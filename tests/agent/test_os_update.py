"""OS updates through Debian's rauc, for real: a signed bundle of an ext4 root image, two
file-backed root slots, the image's custom bootloader backend with an attempt counter, the
rauc service on a private D-Bus under ``unshare -m`` (root only; skipped with the reason
otherwise), and the agent's :class:`OsUpdater` with the health gate.

- ``rauc info`` accepts the bundle with the release keyring and refuses it with another;
- healthy: installed into slot B, booted, gate passed -> ``mark-good``, committed;
- gate fails -> ``mark-bad``, reboot -> the bootloader goes back to A, rolled back;
- the new OS never comes up -> the attempts run out, A boots, the agent reports rolled back;
- signed by another key -> rauc refuses it, slot B untouched, refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.support import rauc as R

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="rauc install under unshare -m needs root"),
    pytest.mark.skipif(bool(R.missing_tools()), reason=f"missing: {R.missing_tools()}"),
]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    d = tmp_path_factory.mktemp("rauc")
    key, cert = R.make_key(d, "release")
    other_key, other_cert = R.make_key(d, "other")
    image = R.root_image(d, "sohoa-os-2.0.0")
    return {
        "dir": d,
        "cert": cert,
        "other_cert": other_cert,
        "image": image,
        "good": R.bundle(d, image, key, cert, "2.0.0"),
        "foreign": R.bundle(d, image, other_key, other_cert, "2.0.0-other"),
    }


def _scenario(parts, tmp_path, case: str, bundle) -> dict:
    R.system(tmp_path, parts["cert"])
    data = bundle.read_bytes()
    proc = subprocess.run(
        ["unshare", "-m", "dbus-run-session", "--", sys.executable, "-m"]
        + ["tests.support.rauc_scenario", str(tmp_path), case, str(bundle)]
        + [hashlib.sha256(data).hexdigest(), str(len(data))],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=R.ROOT,
        env={**os.environ, "PYTHONPATH": str(R.ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_rauc_info_accepts_the_release_keyring_and_refuses_another(parts):
    ok = subprocess.run(
        ["rauc", "info", f"--keyring={parts['cert']}", "--output-format=json", str(parts["good"])],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["version"] == "2.0.0"
    bad = subprocess.run(
        ["rauc", "info", f"--keyring={parts['other_cert']}", str(parts["good"])],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_healthy_os_is_marked_good_after_the_gate(parts, tmp_path):
    out = _scenario(parts, tmp_path, "healthy", parts["good"])
    assert out["after_install"] == "reboot" and out["reboots"] == ["B"]
    assert out["outcome"] == "committed" and out["booted"] == "B"
    assert out["bootstate"]["B"] == "good" and out["bootstate"]["B_left"] == "3"
    assert (tmp_path / "slotB.img").read_bytes() == parts["image"].read_bytes()
    assert [r["outcome"] for r in out["reports"]] == ["committed"]
    assert out["again_step"] == "done"


def test_failed_gate_marks_bad_and_boots_back(parts, tmp_path):
    out = _scenario(parts, tmp_path, "unhealthy", parts["good"])
    assert out["outcome"] == "rolled_back" and "camera does not answer" in out["reason"]
    assert out["reboots"] == ["B", "A"] and out["booted"] == "A"
    assert out["bootstate"]["B"] == "bad" and out["slot_b_boot_status"] == "bad"
    assert out["failed"] == ["2.0.0"]
    assert [r["outcome"] for r in out["reports"]] == ["rolled_back"]


def test_an_os_that_never_comes_up_falls_back_after_its_attempts(parts, tmp_path):
    out = _scenario(parts, tmp_path, "no_boot", parts["good"])
    assert out["b_tries"] == 3 and out["reboots"][-1] == "A"  # U-Boot-like counter ran out
    assert out["outcome"] == "rolled_back" and "did not come up" in out["reason"]
    assert out["booted"] == "A"


def test_power_cut_before_rauc_ran_stays_on_the_old_os(parts, tmp_path):
    out = _scenario(parts, tmp_path, "cut_before_rauc", parts["good"])
    assert out["reboots"] == ["A"] and out["booted"] == "A"
    assert out["outcome"] == "refused" and "power cut" in out["reason"]
    assert out["again_step"] == "done"


def test_power_cut_after_rauc_switched_judges_the_new_os(parts, tmp_path):
    out = _scenario(parts, tmp_path, "cut_after_rauc", parts["good"])
    assert out["reboots"] == ["B"] and out["booted"] == "B"
    assert out["outcome"] == "committed" and out["bootstate"]["B"] == "good"


def test_a_bundle_signed_by_another_key_is_refused_and_nothing_is_written(parts, tmp_path):
    out = _scenario(parts, tmp_path, "wrong_key", parts["foreign"])
    assert out["after_install"] == "done" and out["outcome"] == "refused"
    assert out["booted"] == "A" and out["reboots"] == []
    assert (tmp_path / "slotB.img").read_bytes() == bytes(R.SLOT_SIZE)


def test_an_os_rollout_reaches_the_agent_and_is_committed_after_the_reboot(parts, hub, tmp_path):
    """The whole way: `sohoa release publish` of the bundle (offline release key), `sohoa hub
    rollout create`, the agent's heartbeat takes it, rauc installs it, the agent on the new
    slot runs the gate, marks it good, and the hub's rollout counts the kiosk committed."""
    from firmware.store.catalog import Catalog
    from firmware.store.paths import DataPaths
    from firmware.uplink.identity import enroll
    from firmware.uplink.qr import parse_enroll_uri
    from tests.conftest import run_sohoa

    def sohoa(*args: str) -> str:
        r = run_sohoa(list(args))
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    keys = tmp_path / "offline-keys"
    sohoa("fleet", "keys", "init", "--keys", str(keys), "--dir", str(hub.dir))
    out = sohoa(
        "release", "publish", "--artifact", str(parts["good"]), "--keys", str(keys),
        "--dir", str(hub.dir),
    )  # fmt: skip
    assert "version 2.0.0" in out
    made = sohoa(
        "hub", "rollout", "create", "--dir", str(hub.dir), "--version", "2.0.0",
        "--kiosk", "kiosk-os-01", "--waves", "100:0",
    )  # fmt: skip
    rollout_id = made.strip().rsplit(" ", 1)[-1]
    R.system(tmp_path, parts["cert"])
    app = tmp_path / "app" / "current" / "bin"
    app.mkdir(parents=True)
    (app / "sohoa").write_text(
        "#!/bin/sh\nexec sleep 600\n"
    )  # the kiosk service's stand-in; the scenario's kiosk side answers the self-test
    (app / "sohoa").chmod(0o755)
    cfg = tmp_path / "sohoa.toml"
    cfg.write_text(
        f"""data_dir = "{tmp_path / "data"}"
kiosk_id = "kiosk-os-01"
[pedal]
backend = "none"
[leds]
backend = "none"
[agent]
system = "recording"
[updates]
release_root = "{tmp_path / "app"}"
supervisor = "process"
trial_s = 1
os_updates = true
rauc_conf = "{tmp_path / "system.conf"}"
"""
    )
    paths = DataPaths(tmp_path / "data").ensure()
    cat = Catalog(paths.catalog)
    enroll(paths, "kiosk-os-01", parse_enroll_uri(hub.mint_token("os").uri), catalog=cat)
    cat.close()
    proc = subprocess.run(
        ["unshare", "-m", "dbus-run-session", "--", sys.executable, "-m"]
        + ["tests.support.rauc_scenario", str(tmp_path), "agent", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=R.ROOT,
        env={**os.environ, "PYTHONPATH": str(R.ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["error"] is None and res["after_install"] == "reboot", res
    assert res["reboot_asked"] == ["reboot"] and res["boots"] == ["B"]
    assert res["outcome"] == "committed" and res["booted"] == "B"
    assert res["bootstate"]["B"] == "good"
    assert (tmp_path / "slotB.img").read_bytes() == parts["image"].read_bytes()
    assert res["unreported_before"] == 1 and res["unreported_after"] == 0
    show = json.loads(sohoa("hub", "rollout", "show", rollout_id, "--dir", str(hub.dir), "--json"))
    assert show["wave_status"][0]["committed"] == 1
