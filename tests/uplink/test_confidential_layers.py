"""Defence in depth of the confidentiality rule: each layer refuses on its own.

(1) routing is tests/test_routing.py; here (2) the catalog's own guard, (3) the uplink
worker's check just before each request (stored level and the sealed PDF's XMP), (4) the
hub at ingest, and start-up recovery of a classified row left in the outbox by an older
release. Each test asserts where the document really is: catalog state, outbox table,
hub storage and events."""

# ruff: noqa: F811
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from firmware.errors import KioskError
from firmware.routing import RoutingError
from firmware.store.catalog import Catalog
from firmware.store.states import DocState
from firmware.uplink.client import TusClient, UplinkError, UploadItem
from firmware.uplink.outbox import Outbox, route_sealed
from firmware.uplink.worker import UplinkWorker
from tests.support.uplink import pdf_with_level, sealed_document
from tests.uplink.test_uplink_hub import KIOSK, Kiosk, _run, _settings
from tests.uplink.test_uplink_hub import kiosk as kiosk  # noqa: PLC0414 - the fixture

pytestmark = pytest.mark.integration


def outbox_ids(cat: Catalog) -> set[str]:
    return {r[0] for r in cat.db.execute("SELECT document_id FROM outbox").fetchall()}


def hub_objects(hub) -> list[Path]:
    root = hub.settings().objects_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def legacy_classify(cat: Catalog, doc_id: str, level: str) -> None:
    """What the old seal endpoint did: set the level after the document was queued. The
    catalog's trigger forbids it now, so the test drops it, as on a kiosk's old database."""
    cat.db.execute("DROP TRIGGER IF EXISTS documents_classified_leaves_outbox")
    cat.db.execute("UPDATE documents SET confidentiality = ? WHERE id = ?", [level, doc_id])


# -- (2) the catalog -------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["mat", "toi_mat", "tuyet_mat", "garbage"])
def test_catalog_refuses_the_queued_state_and_the_outbox_row(tmp_path, level):
    from firmware.store.paths import DataPaths

    paths = DataPaths(tmp_path).ensure()
    cat = Catalog(paths.catalog)
    doc = sealed_document(cat, paths, level=level)
    with pytest.raises((RoutingError, KioskError)):
        cat.transition_document(doc["id"], DocState.QUEUED, "clerk")
    with pytest.raises(sqlite3.IntegrityError, match="confidential_not_uploadable"):
        cat.db.execute("UPDATE documents SET state = 'queued' WHERE id = ?", [doc["id"]])
    with pytest.raises(sqlite3.IntegrityError, match="confidential_not_uploadable"):
        cat.db.execute(
            "INSERT INTO outbox (document_id, sha256, size, path, next_attempt_at, queued_at) "
            "VALUES (?, ?, ?, ?, 'now', 'now')",
            [doc["id"], doc["sha256"], doc["pdf_size"], doc["pdf_path"]],
        )
    with pytest.raises(KioskError):
        Outbox(cat).enqueue(doc["id"], "clerk")
    # an ordinary document in the outbox cannot be classified behind the outbox's back
    plain = route_sealed(cat, sealed_document(cat, paths, seed=1), "clerk")
    assert plain["state"] == DocState.QUEUED
    with pytest.raises(sqlite3.IntegrityError, match="confidential_not_uploadable"):
        cat.db.execute("UPDATE documents SET confidentiality = 'mat' WHERE id = ?", [plain["id"]])
    assert cat.get_document(doc["id"])["state"] == DocState.SEALED
    assert outbox_ids(cat) == {plain["id"]}
    with pytest.raises(ValueError, match="confidentiality"):
        cat.update_document(doc["id"], "clerk", "x", metadata={"confidentiality": "thuong"})
    with pytest.raises(ValueError, match="confidentiality"):
        cat.update_document(doc["id"], "clerk", "x", confidentiality="thuong")
    cat.close()


# -- (3) the uplink worker, just before each request --------------------------------------------
def _refused(kiosk: Kiosk, doc_id: str) -> dict:
    cat = kiosk.catalog
    assert doc_id not in outbox_ids(cat)
    doc = cat.get_document(doc_id)
    assert doc["state"] == DocState.SEALED  # waits for the secure USB export
    records = [a for a in cat.audit_records(doc_id) if a["action"] == "uplink.refused_confidential"]
    assert len(records) == 1
    return records[0]["details"]


def test_worker_refuses_a_document_whose_xmp_says_mat(hub, kiosk, make_settings):
    kiosk.enroll(hub)
    ordinary = kiosk.queue(1, 60_000)[0]
    # stored Thường (routing let it in), but the sealed file itself says Mật
    doc = sealed_document(kiosk.catalog, kiosk.paths, size=60_000, seed=9, xmp_level="mat")
    assert route_sealed(kiosk.catalog, doc, "clerk")["state"] == DocState.QUEUED
    worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url))
    assert _run(worker, kiosk)
    details = _refused(kiosk, doc["id"])
    assert details["checked_by"] == "xmp" and details["xmp_level"] == "mat"
    assert kiosk.catalog.get_document(doc["id"])["confidentiality"] == "mat"  # XMP proves it
    # the hub never heard of it; the ordinary one went through
    db = hub.db()
    created = [e["detail"]["document_id"] for e in db.events.events("upload_created")]
    assert doc["id"] not in created and ordinary["id"] in created
    assert all(p.name != doc["sha256"] for p in hub_objects(hub))
    assert kiosk.state(ordinary) == DocState.PURGED


def test_worker_refuses_a_legacy_row_whose_stored_level_is_mat(hub, kiosk, make_settings):
    kiosk.enroll(hub)
    doc = kiosk.queue(1, 60_000)[0]
    legacy_classify(kiosk.catalog, doc["id"], "mat")
    worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url))
    assert _run(worker, kiosk)
    details = _refused(kiosk, doc["id"])
    assert details["checked_by"] == "catalog" and details["stored_level"] == "mat"
    assert hub.db().events.events("upload_created") == []
    assert hub_objects(hub) == []


def test_worker_checks_again_before_every_chunk(hub, kiosk, make_settings):
    """The level changes while the upload is under way: the next request is not made."""
    kiosk.enroll(hub)
    doc = kiosk.queue(1, 400_000)[0]
    worker = UplinkWorker(
        kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url, chunk_kb=32)
    )
    chunks = []
    record = worker.outbox.record_progress

    def progress(doc_id, url, offset):
        record(doc_id, url, offset)
        chunks.append(offset)
        if offset > 0 and len(chunks) == 2:
            legacy_classify(kiosk.catalog, doc_id, "toi_mat")

    worker.outbox.record_progress = progress
    assert _run(worker, kiosk)
    _refused(kiosk, doc["id"])
    assert 0 < max(chunks) < doc["pdf_size"]  # stopped part way: the rest never left
    assert hub_objects(hub) == []
    assert hub.db().events.events("upload_stored") == []


# -- (4) the hub at ingest ----------------------------------------------------------------------
def test_hub_refuses_classified_metadata_and_xmp_and_records_it(hub, kiosk, tmp_path):
    from firmware.uplink.identity import load_identity

    kiosk.enroll(hub)
    ident = load_identity(kiosk.paths)
    mat = tmp_path / "mat.pdf"
    mat.write_bytes(pdf_with_level("mat", 80_000, "hub"))
    import hashlib

    sha = hashlib.sha256(mat.read_bytes()).hexdigest()
    with TusClient(hub.url, ident.ssl_context(), chunk_size=32 * 1024) as c:
        said = UploadItem("D-said", mat, sha, mat.stat().st_size, confidentiality="mat")
        with pytest.raises(UplinkError) as exc:
            c.upload(said, lambda u, o: None)
        assert exc.value.code == "hub_classified_refused"
        assert "mật" in exc.value.message_vi
        # a kiosk that lies (or an old one) in the metadata: the file's XMP gives it away
        lied = UploadItem("D-lied", mat, sha, mat.stat().st_size, confidentiality="thuong")
        with pytest.raises(UplinkError) as exc:
            c.upload(lied, lambda u, o: None)
        assert exc.value.code == "hub_classified_refused"
    db = hub.db()
    refused = db.events.events("upload_refused_classified")
    assert [(e["detail"]["document_id"], e["detail"]["found_in"]) for e in refused] == [
        ("D-said", "metadata"),
        ("D-lied", "xmp"),
    ]
    assert all(e["kiosk_id"] == KIOSK for e in refused)
    assert hub_objects(hub) == []  # nothing stored
    assert db.receipts.receipt_count() == 0  # nothing receipted


def test_worker_takes_the_hub_refusal_as_a_refusal(hub, kiosk, make_settings, monkeypatch):
    """Even with the kiosk's own check gone, the hub's refusal takes the row out."""
    from firmware.uplink import guard

    kiosk.enroll(hub)
    doc = sealed_document(kiosk.catalog, kiosk.paths, size=60_000, seed=4, xmp_level="mat")
    route_sealed(kiosk.catalog, doc, "clerk")
    monkeypatch.setattr(guard.SendGuard, "check", lambda self, d, p: "thuong")
    worker = UplinkWorker(kiosk.catalog, kiosk.paths, _settings(make_settings, hub.url))
    assert _run(worker, kiosk)
    assert _refused(kiosk, doc["id"])["checked_by"] == "hub"
    assert hub_objects(hub) == []
    assert [
        e["detail"]["found_in"] for e in hub.db().events.events("upload_refused_classified")
    ] == ["xmp"]


# -- start-up recovery --------------------------------------------------------------------------
def test_recovery_takes_classified_rows_of_an_older_release_out_of_the_outbox(make_settings):
    from firmware.kiosk import Kiosk as KioskCore

    settings = make_settings()
    first = Kiosk(Path(settings.data_dir))
    cat = first.catalog
    # 1: queued, then the level set afterwards (the bug)
    a = first.queue(1, 30_000, seed=1)[0]
    legacy_classify(cat, a["id"], "mat")
    # 2: queued with the level only in its metadata (the old seal endpoint's copy)
    b = first.queue(1, 30_000, seed=2)[0]
    cat.db.execute(
        "UPDATE documents SET metadata = json_set(metadata, '$.confidentiality', 'toi_mat') "
        "WHERE id = ?",
        [b["id"]],
    )
    # 3: an ordinary one stays queued
    c = first.queue(1, 30_000, seed=3)[0]
    cat.close()

    kiosk = KioskCore(settings).start()
    try:
        k = kiosk.catalog
        assert outbox_ids(k) == {c["id"]}
        for doc_id, level in ((a["id"], "mat"), (b["id"], "toi_mat")):
            doc = k.get_document(doc_id)
            assert doc["state"] == DocState.SEALED and doc["confidentiality"] == level
            assert "confidentiality" not in doc["metadata"]
            actions = [r["action"] for r in k.audit_records(doc_id)]
            assert "recovery.classified_pulled" in actions
        assert k.get_document(c["id"])["state"] == DocState.QUEUED
        done = [r for r in k.audit_records() if r["action"] == "recovery.done"][-1]
        assert done["details"]["classified_pulled"] == 2
        # and they are what the secure USB export offers
        from firmware.export.exporter import Exporter

        pending = {d["id"] for d in Exporter.for_kiosk(kiosk, backend=object()).pending()}
        assert {a["id"], b["id"]} <= pending
        assert k.verify_audit().ok
    finally:
        kiosk.stop()
