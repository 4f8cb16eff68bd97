"""`sohoa doctor` asks the hub whether it still accepts this kiosk (issue 16: after the
kiosk was revoked on the hub, doctor and the maintenance checks still showed ✓)."""

from __future__ import annotations

import pytest

from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.identity import enroll
from firmware.uplink.qr import parse_enroll_uri
from tests.conftest import run_sohoa

pytestmark = pytest.mark.integration

KIOSK = "kiosk-doctor"


def uplink_line(out: str) -> str:
    return next(line for line in out.splitlines() if " uplink " in line)


def test_doctor_checks_enrollment_and_the_hub_itself(hub, tmp_path):
    root = tmp_path / "kiosk"
    args = ["--data-dir", str(root), "doctor", "--lang", "en"]
    env = {"SOHOA_KIOSK_ID": KIOSK, "SOHOA_CAMERA__BACKEND": "none"}
    paths = DataPaths(root).ensure()
    cat = Catalog(paths.catalog)
    try:
        before = run_sohoa(args, env=env)
        assert "not enrolled" in before.stdout, before.stdout
        enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=cat)
    finally:
        cat.close()
    ok = run_sohoa(args, env=env)
    assert "accepts this kiosk" in ok.stdout and "certificate valid until" in ok.stdout, ok.stdout
    r = run_sohoa(["hub", "device", "revoke", KIOSK, "--dir", str(hub.dir), "--reason", "test"])
    assert r.returncode == 0, r.stderr
    revoked = run_sohoa(args, env=env)
    assert revoked.returncode == 1
    line = uplink_line(revoked.stdout)
    assert "revoked" in line, revoked.stdout
    hub.stop()
    gone = run_sohoa(args, env=env)
    assert gone.returncode == 1 and "hub_unreachable" in gone.stdout, gone.stdout
