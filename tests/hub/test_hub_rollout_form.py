"""The admin page's new-rollout form offers the releases the offline release role signed,
over HTTPS against the real hub: picking one starts a rollout of exactly that signed target
(version, name, SHA-256 and length from the signed metadata, not from the form), and a name
the release role never signed is refused with the reason in both languages."""

from __future__ import annotations

import hashlib
import re
import ssl

import httpx
import pytest

from provisioning.hub.fleet_keys import publish_release
from provisioning.hub.rollouts import RolloutService
from provisioning.hub.tuf_repo import ConfigRepository
from tests.conftest import run_sohoa

pytestmark = pytest.mark.integration


def test_the_form_starts_a_rollout_of_a_signed_release_and_refuses_an_unsigned_name(hub, tmp_path):
    keys = tmp_path / "offline"
    r = run_sohoa(["fleet", "keys", "init", "--keys", str(keys), "--dir", str(hub.dir)])
    assert r.returncode == 0, r.stderr
    artifact = tmp_path / "sohoa-2.0.0-x86_64.tar"
    artifact.write_bytes(b"release bytes " * 1000)
    publish_release(keys, ConfigRepository(hub.dir / "tuf"), artifact, "2.0.0")
    (tmp_path / "pw").write_text("mat-khau-rat-dai-1")
    r = run_sohoa(
        ["fleet", "admin", "add", "it1", "--dir", str(hub.dir), "--role", "administrator"]
        + ["--name", "Cán bộ IT", "--password-file", str(tmp_path / "pw")]
    )
    assert r.returncode == 0, r.stderr
    trust = ssl.create_default_context(cafile=str(hub.ca_path))  # a browser: no client cert
    with httpx.Client(base_url=hub.url, verify=trust, timeout=30) as c:
        r = c.post("/admin/login", data={"username": "it1", "password": "mat-khau-rat-dai-1"})
        assert r.status_code == 303, r.text
        page = c.get("/admin/rollouts").text
        assert '<option value="releases/sohoa-2.0.0-x86_64.tar">2.0.0' in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        form = {"csrf": csrf, "waves": "100:0", "success": "95", "failure": "5"}
        bad = c.post("/admin/rollouts", data={**form, "release": "releases/sohoa-6.6.6.tar"})
        assert "không phải bản phát hành đã được ký" in bad.text
        assert "is not a release signed by the release role" in bad.text
        # the typed numbers are overridden by the signed ones
        ok = c.post(
            "/admin/rollouts",
            data={**form, "release": "releases/sohoa-2.0.0-x86_64.tar", "sha256": "0" * 64},
        )
        assert ok.status_code == 303, ok.text
    db = hub.db()
    try:
        rows = RolloutService(db).list()
    finally:
        db.close()
    assert len(rows) == 1
    data = artifact.read_bytes()
    assert rows[0]["release"] == {
        "version": "2.0.0",
        "target": "releases/sohoa-2.0.0-x86_64.tar",
        "sha256": hashlib.sha256(data).hexdigest(),
        "length": len(data),
    }
