"""Secure USB export end to end on the simulated stick, checked with the real openssl."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pytest

from drivers.leds import Status as Led
from drivers.usb.sim import SimVolume
from firmware.errors import KioskError
from firmware.export.exporter import MANIFEST_NAME, README_NAME, SIGNATURE_NAME, ExportError, Status
from tests.support import export as sup

env = sup.env
recipient = sup.recipient
export_dir_of, make_cert, openssl = sup.export_dir_of, sup.make_cert, sup.openssl


def decrypt_with_openssl(p7m: Path | bytes, key: Path, tmp: Path) -> zipfile.ZipFile:
    src = tmp / "joined.p7m"
    src.write_bytes(p7m if isinstance(p7m, bytes) else p7m.read_bytes())
    res = openssl(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(src), "-inkey", str(key)
    )
    assert res.returncode == 0, res.stderr.decode()
    return zipfile.ZipFile(io.BytesIO(res.stdout))


def states(env, docs):
    return [env.catalog.get_document(d["id"])["state"] for d in docs]


def test_export_encrypts_verifies_records_and_purges(env, tmp_path):
    secret_word = "Xyzzyquantumcipher"
    docs = [env.sealed(level="mat", text=f"Mật {secret_word}"), env.sealed(level="toi_mat")]
    ordinary = env.sealed(level="thuong")
    stick = env.stick()
    seen = []
    result = env.exporter().export("ab01", "archivist", on_progress=seen.append)

    assert sorted(result.exported) == sorted(d["id"] for d in docs)
    assert result.safe_to_remove and env.leds.status == Led.SAFE_TO_REMOVE
    out = export_dir_of(stick.root)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [MANIFEST_NAME, SIGNATURE_NAME, README_NAME] + [f"{d['id']}.p7m" for d in docs]
    )
    # The receiving office's tools read it: openssl verifies the kiosk's signature ...
    kiosk_cert = env.paths.root / "keys" / "signing.crt.pem"
    res = openssl(
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(out / SIGNATURE_NAME),
        "-content",
        str(out / MANIFEST_NAME),
        "-CAfile",
        str(kiosk_cert),
        "-out",
        "/dev/null",
    )
    assert res.returncode == 0, res.stderr.decode()
    # ... and decrypts each document: the ZIP holds the exact sealed PDF, metadata, OCR text.
    for d in docs:
        zf = decrypt_with_openssl(out / f"{d['id']}.p7m", env.recipient_key, tmp_path)
        assert zf.read(f"{d['id']}.pdf") == d["pdf_bytes"]
        assert json.loads(zf.read(f"{d['id']}.json"))["title"] == d["title"]
        assert "trang 2" in zf.read(f"{d['id']}.txt").decode()
    # The manifest lists every file with size and hash, and nothing confidential.
    manifest_bytes = (out / MANIFEST_NAME).read_bytes()
    manifest = json.loads(manifest_bytes)
    assert manifest["operator"] == "ab01" and manifest["kiosk_id"] == "kiosk-test"
    for f in manifest["files"]:
        assert (out / f["name"]).stat().st_size == f["size"]
    for needle in (docs[0]["title"], secret_word, "bí mật"):
        assert needle.encode() not in manifest_bytes
    # One audit record per document: who, stick serial, recipients; then the purge.
    fp = result.recipients[0]
    for d in docs:
        recs = env.catalog.audit_records(d["id"])
        exported = [r for r in recs if r["action"] == "document.exported"]
        assert len(exported) == 1 and exported[0]["actor"] == "ab01"
        assert (
            "4C530001" in exported[0]["details"]["reason"]
            and fp in exported[0]["details"]["reason"]
        )
        assert recs[-1]["action"] == "document.purged"
    assert states(env, docs) == ["purged", "purged"]
    assert env.catalog.get_document(ordinary["id"])["state"] == "sealed"  # not exported
    assert env.catalog.get_document(docs[0]["id"])["metadata"]["export"]["stick"]["serial"] == (
        "4C530001"
    )
    # Local copies, frames, work files and OCR text are gone, even from the database file.
    for d in docs:
        assert not env.paths.sealed_pdf(d["id"]).exists()
        assert not env.paths.sealed_sidecar(d["id"]).exists()
        assert not (env.paths.spool / d["id"]).exists() and not (env.paths.work / d["id"]).exists()
        assert env.catalog.document_text(d["id"]) == ""
    assert env.catalog.search(secret_word) == []
    raw = b"".join(p.read_bytes() for p in env.paths.root.glob("catalog.db*"))
    assert secret_word.encode() not in raw and secret_word.lower().encode() not in raw
    assert env.catalog.verify_audit().ok
    assert {e["phase"] for e in seen} >= {"writing", "verifying"}


@pytest.mark.parametrize(
    ("setup", "status", "reason"),
    [
        (lambda e: None, Status.NO_DEVICE, ""),
        (lambda e: (e.stick("a"), e.stick("b", serial="OTHER")), Status.SEVERAL_DEVICES, ""),
        (lambda e: e.stick(serial="NOT-LISTED"), Status.UNAUTHORIZED, "not_listed"),
        (
            lambda e: e.stick(interfaces=["08:06:50", "03:01:01"]),
            Status.UNAUTHORIZED,
            "foreign_interface",
        ),
        (
            lambda e: e.stick(interfaces=["08:06:50", "e0:01:01"]),
            Status.UNAUTHORIZED,
            "foreign_interface",
        ),
        (lambda e: e.stick(faults={"read_only": True}), Status.READ_ONLY, ""),
        (lambda e: e.stick(fstype="hfsplus"), Status.UNSUPPORTED_FILESYSTEM, ""),
        (lambda e: e.stick(fstype=None), Status.UNSUPPORTED_FILESYSTEM, ""),
        (lambda e: e.stick(faults={"mount_error": True}), Status.MOUNT_ERROR, ""),
        (lambda e: e.stick(capacity=10_000), Status.NOT_ENOUGH_SPACE, ""),
        (lambda e: e.stick(), Status.READY, ""),
    ],
)
def test_preflight_statuses(env, setup, status, reason):
    doc = env.sealed()
    setup(env)
    exporter = env.exporter()
    pf = exporter.preflight()
    assert pf.status == status and pf.reason == reason
    assert pf.message_vi and pf.message_en and pf.message_vi != pf.message_en
    assert pf.to_dict()["status"] == status.value
    if status == Status.READY:
        return
    with pytest.raises(ExportError) as exc:
        exporter.export("ab01", "archivist")
    assert exc.value.code == status.value and exc.value.preflight is not None
    assert env.catalog.get_document(doc["id"])["state"] == "sealed"
    assert env.paths.sealed_pdf(doc["id"]).exists()
    written = [p for p in env.sim_dir.rglob("sohoa-export-*")]
    assert written == []
    refused = [r for r in env.catalog.audit_records() if r["action"] == "export.refused"]
    assert refused and refused[-1]["details"]["code"] == status.value


def test_composite_stick_message_names_the_keyboard(env):
    env.sealed()
    env.stick(interfaces=["08:06:50", "03:01:01"])
    pf = env.exporter().preflight()
    assert "HID" in pf.message_en and "bàn phím" in pf.message_vi
    rejected = [r for r in env.catalog.audit_records() if r["action"] == "usb.rejected"]
    assert len(rejected) == 1 and rejected[0]["details"]["device"]["interfaces"][1] == "03:01:01"


@pytest.mark.parametrize(
    ("fault", "code"),
    [({"full_at": 20_000}, "usb_full"), ({"remove_at": 45_000}, "usb_removed")],
)
def test_failure_mid_write_loses_nothing_and_export_restarts(env, tmp_path, fault, code):
    docs = [env.sealed(size=30_000), env.sealed(size=30_000)]
    stick = env.stick(faults=fault)
    exporter = env.exporter()
    with pytest.raises(ExportError) as exc:
        exporter.export("ab01", "archivist")
    assert exc.value.code == code and exc.value.message_vi
    assert states(env, docs) == ["sealed", "sealed"]  # still waiting, nothing lost
    assert all(env.paths.sealed_pdf(d["id"]).exists() for d in docs)
    assert env.leds.status == Led.ERROR
    # No partial file is ever taken for complete: no signed manifest on the stick.
    assert not list(stick.root.rglob(SIGNATURE_NAME))
    failed = [r for r in env.catalog.audit_records() if r["action"] == "export.failed"]
    assert failed[-1]["details"]["code"] == code
    # The clerk re-inserts the stick (faults gone) and exports again: clean and complete.
    stick.plug()
    stick.clear_faults()
    result = env.exporter().export("ab01", "archivist")
    assert sorted(result.exported) == sorted(d["id"] for d in docs)
    out = export_dir_of(stick.root)  # the stale partial export was removed
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]
    zf = decrypt_with_openssl(out / f"{docs[1]['id']}.p7m", env.recipient_key, tmp_path)
    assert zf.read(f"{docs[1]['id']}.pdf") == docs[1]["pdf_bytes"]


def test_fat32_limit_splits_files(env, tmp_path):
    doc = env.sealed(size=50_000)
    stick = env.stick()
    result = env.exporter(max_file_size=16_384).export("ab01", "archivist")
    out = export_dir_of(stick.root)
    parts = sorted(out.glob(f"{doc['id']}.p7m.*"))
    assert len(parts) >= 4 and not (out / f"{doc['id']}.p7m").exists()
    assert all(p.stat().st_size <= 16_384 for p in parts)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["documents"][0]["files"] == [p.name for p in parts]
    assert [f["part"] for f in manifest["files"] if f.get("document")] == list(
        range(1, len(parts) + 1)
    )
    joined = b"".join(p.read_bytes() for p in parts)  # what `cat DOC.p7m.0*` does
    zf = decrypt_with_openssl(joined, env.recipient_key, tmp_path)
    assert zf.read(f"{doc['id']}.pdf") == doc["pdf_bytes"]
    assert result.exported == [doc["id"]]


def test_default_volume_limit_is_fat32():
    from drivers.usb.base import FAT32_MAX_FILE, Volume

    assert Volume(Path("/"), "vfat").max_file_size == FAT32_MAX_FILE
    assert Volume(Path("/"), "exfat").max_file_size is None


@pytest.mark.parametrize("role", ["operator", "maintainer", ""])
def test_only_an_archivist_may_export(env, role):
    doc = env.sealed()
    env.stick()
    with pytest.raises(ExportError) as exc:
        env.exporter().export("op01", role)
    assert exc.value.code == "export_forbidden" and exc.value.status == 403
    assert env.catalog.get_document(doc["id"])["state"] == "sealed"
    assert env.catalog.audit_records()[-1]["action"] == "export.refused"


def test_ordinary_documents_are_refused_unless_explicitly_allowed(env):
    ordinary = env.sealed(level="thuong")
    stick = env.stick()
    exporter = env.exporter()
    with pytest.raises(ExportError) as exc:
        exporter.export("ab01", "archivist", [ordinary["id"]])
    assert exc.value.code == "not_confidential" and "Mật" in exc.value.message_vi
    with pytest.raises(ExportError) as exc:  # nothing confidential waiting
        exporter.export("ab01", "archivist")
    assert exc.value.code == "nothing_to_export"
    result = exporter.export("ab01", "archivist", [ordinary["id"]], allow_ordinary=True)
    assert result.copies == [ordinary["id"]] and result.exported == []
    # An ordinary document keeps its way over the network: it stays sealed, copy audited.
    assert env.catalog.get_document(ordinary["id"])["state"] == "sealed"
    assert env.paths.sealed_pdf(ordinary["id"]).exists()
    actions = [r["action"] for r in env.catalog.audit_records(ordinary["id"])]
    assert "document.export_copy" in actions
    assert (export_dir_of(stick.root) / f"{ordinary['id']}.p7m").exists()


def test_top_secret_is_never_exported(env):
    doc = env.sealed(level="tuyet_mat")
    env.stick()
    with pytest.raises(ExportError) as exc:
        env.exporter().export("ab01", "archivist", [doc["id"]])
    assert exc.value.code == "top_secret_refused"


@pytest.mark.parametrize(
    ("cert_kw", "code"),
    [
        ({"days": 10, "start_days": -20}, "recipient_expired"),
        ({"key_usage": "sign"}, "recipient_wrong_usage"),
        ({"ca": True, "key_usage": None}, "recipient_wrong_usage"),
    ],
)
def test_bad_recipient_certificate_refuses_before_writing(env, tmp_path, cert_kw, code):
    doc = env.sealed()
    stick = env.stick()
    _, cert = make_cert(tmp_path / "bad", "bad", **cert_kw)
    with pytest.raises(KioskError) as exc:
        env.exporter(recipients=[str(cert)]).export("ab01", "archivist")
    assert getattr(exc.value, "code", None) == code and exc.value.message_vi
    assert env.catalog.get_document(doc["id"])["state"] == "sealed"
    assert list(stick.root.iterdir()) == []


def test_no_recipient_configured(env):
    env.sealed()
    env.stick()
    with pytest.raises(KioskError) as exc:
        env.exporter(recipients=None).export("ab01", "archivist")
    assert getattr(exc.value, "code", None) == "no_recipients"


def test_retention_in_days_purges_later(env):
    doc = env.sealed()
    env.stick()
    now = dt.datetime.now(dt.UTC)
    exporter = env.exporter(retention=7)
    result = exporter.export("ab01", "archivist")
    assert result.purged == [] and env.catalog.get_document(doc["id"])["state"] == "exported"
    assert env.paths.sealed_pdf(doc["id"]).exists()
    assert exporter.purge_due(now=now + dt.timedelta(days=6)) == []
    assert exporter.purge_due(now=now + dt.timedelta(days=7, minutes=1)) == [doc["id"]]
    assert env.catalog.get_document(doc["id"])["state"] == "purged"
    assert not env.paths.sealed_pdf(doc["id"]).exists()


def test_purge_refuses_documents_not_exported(env):
    doc = env.sealed()
    with pytest.raises(ExportError) as exc:
        env.exporter().purge([doc["id"]], "ab01")
    assert exc.value.code == "not_purgeable"
    assert env.paths.sealed_pdf(doc["id"]).exists()


def test_damaged_sealed_copy_is_left_out(env):
    good, bad = env.sealed(), env.sealed()
    pdf = env.paths.sealed_pdf(bad["id"])
    data = bytearray(pdf.read_bytes())
    data[100] ^= 0xFF
    pdf.write_bytes(bytes(data))
    stick = env.stick()
    result = env.exporter().export("ab01", "archivist")
    assert result.exported == [good["id"]]
    assert [f["doc_id"] for f in result.failed] == [bad["id"]]
    assert env.catalog.get_document(bad["id"])["state"] == "sealed"
    assert not (export_dir_of(stick.root) / f"{bad['id']}.p7m").exists()


def test_read_back_mismatch_keeps_documents_waiting(env, monkeypatch):
    doc = env.sealed()
    env.stick()
    real_open_read = SimVolume.open_read

    def corrupt(self, rel):
        fh = real_open_read(self, rel)
        if rel.endswith(".p7m"):
            data = bytearray(fh.read())
            fh.close()
            data[-1] ^= 1
            return io.BytesIO(bytes(data))
        return fh

    monkeypatch.setattr(SimVolume, "open_read", corrupt)
    with pytest.raises(ExportError) as exc:
        env.exporter().export("ab01", "archivist")
    assert exc.value.code == "verify_failed"
    assert env.catalog.get_document(doc["id"])["state"] == "sealed"


def test_export_events_reach_the_ui_bus(env):
    env.sealed()
    env.stick()
    q = env.events.subscribe()
    env.exporter().export("ab01", "archivist")
    phases = []
    while not q.empty():
        ev = q.get_nowait()
        if ev["kind"] == "export":
            phases.append(ev["phase"])
    assert phases[0] == "start" and phases[-1] == "done" and "verifying" in phases
