"""`sohoa release build`: the artifact's contents, and two builds are byte-identical."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile

from provisioning.release.manifest import parse_lock
from tests.conftest import run_sohoa
from tests.support.releases import BASE, EPOCH, ROOT, Release


def test_two_builds_from_the_same_inputs_are_byte_identical(releases: dict[str, Release], tmp_path):
    first = releases[BASE].path
    proc = run_sohoa(
        [
            "release",
            "build",
            "--version",
            BASE,
            "--out",
            str(tmp_path),
            "--epoch",
            str(EPOCH),
            "--source",
            str(ROOT),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    second = tmp_path / first.name
    assert hashlib.sha256(second.read_bytes()).hexdigest() in proc.stdout
    assert second.read_bytes() == first.read_bytes()


def test_artifact_holds_wheel_lock_and_a_manifest_that_names_them(releases: dict[str, Release]):
    with tarfile.open(releases[BASE].path) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert all(m.mtime == EPOCH and m.uid == 0 and m.gid == 0 and not m.uname for m in members)
        data = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    manifest = json.loads(data["manifest.json"])
    assert manifest["version"] == BASE and manifest["source_date_epoch"] == EPOCH
    assert manifest["python"].startswith("cp3") and manifest["arch"]
    for f in manifest["files"]:
        assert len(data[f["path"]]) == f["length"]
        assert hashlib.sha256(data[f["path"]]).hexdigest() == f["sha256"]
    lock = parse_lock(data["requirements.lock"].decode())
    assert {"pydantic", "httpx", "tuf", "pikepdf"} <= set(lock)
    assert "sohoa" not in lock and "pytest" not in lock  # runtime closure, not the test env
    wheel = next(n for n in data if n.startswith("wheels/"))
    with zipfile.ZipFile(io.BytesIO(data[wheel])) as zf:
        assert f'__version__ = "{BASE}"' in zf.read("firmware/__init__.py").decode()
