"""Failures of the issue's list not covered elsewhere, each with a clear status and nothing
lost: a stick that turns read-only while writing (the kernel remounts it after an I/O
error), a stick pulled during the read-back, a second stick plugged before the export
starts; plus the pieces the screen relies on: a preflight never powers the stick off, and
the background hash equals hashlib's."""

from __future__ import annotations

import errno
import hashlib
import io
import os

import pytest

from drivers.leds import Status as Led
from drivers.usb.sim import SimBackend, SimVolume
from firmware.export.exporter import SIGNATURE_NAME, ExportError
from firmware.export.hash_pipe import BackgroundSha256, read_sha256
from tests.support import export as sup

env = sup.env
recipient = sup.recipient


def states(env, docs):
    return [env.catalog.get_document(d["id"])["state"] for d in docs]


def test_stick_turning_read_only_mid_write_keeps_documents_waiting(env, monkeypatch):
    docs = [env.sealed(), env.sealed()]
    stick = env.stick()
    real_replace = SimVolume.replace
    calls = []

    def remounted_read_only(self, src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the first document landed, then the filesystem went ro
            raise OSError(errno.EROFS, "Read-only file system")
        return real_replace(self, src, dst)

    monkeypatch.setattr(SimVolume, "replace", remounted_read_only)
    with pytest.raises(ExportError) as exc:
        env.exporter().export("ab01", "archivist")
    assert exc.value.code == "usb_read_only"
    assert "chỉ đọc" in exc.value.message_vi and "vẫn đang chờ xuất" in exc.value.message_vi
    assert states(env, docs) == ["sealed", "sealed"]
    assert all(env.paths.sealed_pdf(d["id"]).exists() for d in docs)
    assert not list(stick.root.rglob(SIGNATURE_NAME))
    assert env.leds.status == Led.ERROR


def test_stick_pulled_during_read_back(env, monkeypatch):
    docs = [env.sealed(size=200_000)]
    stick = env.stick()
    real_open_read = SimVolume.open_read

    def pulled(self, rel):
        if rel.endswith(".p7m"):
            self.pull_out()  # the clerk pulls the stick while it is being checked
        return real_open_read(self, rel)

    monkeypatch.setattr(SimVolume, "open_read", pulled)
    with pytest.raises(ExportError) as exc:
        env.exporter().export("ab01", "archivist")
    assert exc.value.code == "usb_removed" and "cắm lại USB" in exc.value.message_vi
    assert states(env, docs) == ["sealed"]  # never marked exported without verification
    assert env.paths.sealed_pdf(docs[0]["id"]).exists()
    failed = [r for r in env.catalog.audit_records() if r["action"] == "export.failed"]
    assert failed[-1]["details"]["code"] == "usb_removed"
    assert not stick.plugged


def test_second_stick_plugged_before_the_export_starts(env):
    doc = env.sealed()
    env.stick("a")
    exporter = env.exporter()
    assert exporter.preflight().ready
    env.stick("b", serial="OTHER")  # plugged between the screen's check and the tap
    with pytest.raises(ExportError) as exc:
        exporter.export("ab01", "archivist")
    assert exc.value.code == "several_devices" and "chỉ để lại" in exc.value.message_vi
    assert states(env, [doc]) == ["sealed"]
    assert not list(env.sim_dir.rglob("sohoa-export-*"))


class RecordingBackend(SimBackend):
    """The sim backend, remembering whether each unmount powered the stick off."""

    def __init__(self, sim_dir):
        super().__init__(sim_dir)
        self.unmounts: list[bool] = []

    def unmount(self, dev, *, power_off=True):
        self.unmounts.append(power_off)
        super().unmount(dev, power_off=power_off)


def test_preflight_never_powers_the_stick_off_but_the_export_does(env):
    env.sealed()
    env.stick()
    backend = RecordingBackend(env.sim_dir)
    exporter = env.exporter()
    exporter.backend = backend
    assert exporter.preflight().ready
    assert backend.unmounts == [False]  # a powered-off stick could not be exported to
    result = exporter.export("ab01", "archivist")
    assert result.safe_to_remove and backend.unmounts == [False, True]


def test_real_volume_sync_flushes_only_its_filesystem(tmp_path):
    from drivers.usb.base import Volume

    vol = Volume(tmp_path, "ext4")
    with vol.open_write("a") as fh:
        fh.write(b"data")
    vol.sync()  # syncfs(2) on the volume: no error, data still there
    assert (tmp_path / "a").read_bytes() == b"data"


def test_background_hash_equals_hashlib():
    data = os.urandom(3_000_001)
    h = BackgroundSha256(depth=2)
    view = memoryview(data)
    for i in range(0, len(data), 65_536):
        h.update(view[i : i + 65_536])
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()  # idempotent
    with pytest.raises(ValueError):
        h.update(b"late")
    size, digest = read_sha256(io.BytesIO(data), 100_000)
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    assert read_sha256(io.BytesIO(b"")) == (0, hashlib.sha256(b"").hexdigest())


def test_cancel_check_stops_the_read_back():
    calls = []

    def cancel():
        calls.append(1)
        if len(calls) == 3:
            raise ExportError("export_cancelled", "stopped", "đã dừng")

    with pytest.raises(ExportError):
        read_sha256(io.BytesIO(b"x" * 10_000), 1_000, cancel)
    assert len(calls) == 3
