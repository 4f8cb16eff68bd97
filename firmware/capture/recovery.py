"""Start-up recovery: reconcile the catalog with the disk after a power cut.

Invariants it restores (each repair is audited):
- no temporary file from an interrupted atomic write survives;
- a frame on disk without a page row (crash between the two) becomes a page again if its
  document can still take pages, otherwise it is moved to ``spool/orphans`` and reported;
- a page whose processing was interrupted is queued again; a page whose files vanished is
  re-processed from its frame (the frame is the source of truth until the document is sealed);
- a document caught in ``sealing`` is sealed again from its pages (the PDF on disk may be
  from the interrupted attempt and is never trusted without its catalog row);
- a sealed document whose PDF is missing or does not match its recorded hash is reported;
- a sealed ordinary document the cut caught before routing enters the uplink outbox;
- no classified document waits in the outbox: one found there (a kiosk in the field may
  hold such rows from before the level was stored once) is taken out, returned to
  ``sealed`` to wait for the secure USB export, and audited; a level an older release
  kept only in the metadata becomes the document's one stored level (the stricter wins).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.classification import set_level
from firmware.errors import KioskError
from firmware.routing import Level, parse_level, stricter
from firmware.store.catalog import Catalog
from firmware.store.states import DOC_BEFORE_SEAL, DOC_EDITABLE, DocState, PageState
from firmware.uplink.outbox import route_sealed
from sohoa_common.atomic import remove_stale_temporaries, sha256_file

if TYPE_CHECKING:
    from firmware.kiosk import Kiosk

log = logging.getLogger("sohoa.recovery")

ACTOR = "recovery"


def recover(kiosk: Kiosk) -> dict[str, Any]:
    """Run every repair; return a summary (also audited)."""
    cat, paths = kiosk.catalog, kiosk.paths
    summary: dict[str, Any] = {
        "temporaries_removed": 0,
        "frames_adopted": 0,
        "frames_orphaned": 0,
        "pages_requeued": 0,
        "documents_resealed": 0,
        "integrity_errors": 0,
        "documents_queued": 0,
        "classified_pulled": 0,
    }
    summary["classified_pulled"] = pull_classified(cat)
    for d in (paths.spool, paths.work, paths.sealed, paths.outbox):
        summary["temporaries_removed"] += len(remove_stale_temporaries(d))

    # 1. frames without rows
    known = {Path(r["frame_path"]).resolve() for r in cat.db.query("SELECT frame_path FROM pages")}
    for frame in sorted(paths.spool.glob("*/*.jpg")):
        if frame.resolve() in known or frame.parent.name == "orphans":
            continue
        doc_id, page_id = frame.parent.name, frame.stem
        try:
            doc = cat.get_document(doc_id)
        except KeyError:
            doc = None
        if doc is not None and DocState(doc["state"]) in DOC_EDITABLE:
            cat.add_page(
                doc_id,
                ACTOR,
                page_id=page_id,
                frame_path=str(frame),
                frame_sha256=sha256_file(frame),
            )
            summary["frames_adopted"] += 1
        else:
            dest = paths.spool / "orphans" / f"{doc_id}-{frame.name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(frame), dest)
            cat.audit(
                ACTOR, "recovery.orphan_frame", doc_id if doc else None, page_id, moved_to=str(dest)
            )
            summary["frames_orphaned"] += 1

    # 2. pages whose work was interrupted
    live_docs = sorted(DOC_BEFORE_SEAL)
    to_preview: list[dict[str, Any]] = []
    to_queue: list[str] = []
    for doc in cat.list_documents(live_docs, limit=100000):
        for page in cat.pages(doc["id"]):
            st = PageState(page["state"])
            frame = Path(page["frame_path"])
            if not frame.exists():
                if st != PageState.FAILED:
                    cat.transition_page(
                        page["id"],
                        PageState.FAILED,
                        ACTOR,
                        error_code="frame_lost",
                        error_message="the captured frame is missing from disk; retake the page",
                    )
                continue
            if st == PageState.CAPTURED:
                to_preview.append(page)
            elif st in (PageState.QUEUED, PageState.PROCESSING):
                to_queue.append(page["id"])
            elif st == PageState.DONE and not (
                page.get("image_path")
                and Path(page["image_path"]).exists()
                and page.get("ocr_path")
                and Path(page["ocr_path"]).exists()
            ):
                to_queue.append(page["id"])
            elif st == PageState.PREVIEWED:
                to_queue.append(page["id"])

    for page in to_preview:
        kiosk.session.preview_and_gate(page, ACTOR)  # queues the page itself when it passes
        summary["pages_requeued"] += 1
    for page_id in to_queue:
        page = cat.get_page(page_id)
        if page["state"] == PageState.PROCESSING:
            cat.transition_page(page_id, PageState.QUEUED, ACTOR, reason="interrupted")
        kiosk.ocr.enqueue(page_id, ACTOR)
        summary["pages_requeued"] += 1

    # 3. documents: finish what a crash interrupted
    for doc in cat.list_documents([DocState.PROCESSING], limit=100000):
        kiosk.documents.check_done(doc["id"])
    resealing = cat.list_documents([DocState.SEALING], limit=100000)
    if resealing:
        kiosk.ocr.wait_idle()
    for doc in resealing:
        stale = paths.sealed_pdf(doc["id"])
        if stale.exists():
            stale.unlink()
        try:
            kiosk.sealer.write_sealed(cat.get_document(doc["id"]), ACTOR)
            summary["documents_resealed"] += 1
        except Exception as exc:  # recorded as a failed document by write_sealed
            log.error("re-sealing %s failed: %s", doc["id"], exc)

    # 4. sealed files must match their recorded hash
    for doc in cat.list_documents([DocState.SEALED, DocState.QUEUED], limit=100000):
        pdf = Path(doc["pdf_path"]) if doc["pdf_path"] else None
        problem = None
        if pdf is None or not pdf.exists():
            problem = "sealed PDF missing"
        elif sha256_file(pdf) != doc["sha256"]:
            problem = "sealed PDF does not match its recorded SHA-256"
        if problem:
            summary["integrity_errors"] += 1
            cat.audit(ACTOR, "integrity.error", doc["id"], None, problem=problem)
            log.error("document %s: %s", doc["id"], problem)
        elif doc["state"] == DocState.SEALED:
            # 5. routing a power cut interrupted: ordinary documents go to the outbox
            before = doc["state"]
            if route_sealed(cat, doc, ACTOR)["state"] != before:
                summary["documents_queued"] += 1

    if any(summary.values()):
        cat.audit(ACTOR, "recovery.done", None, None, **summary)
    return summary


def pull_classified(cat: Catalog) -> int:
    """Take every document that is not ordinary out of the outbox (see module docstring);
    returns how many were taken out."""
    pulled = 0
    legacy = cat.db.execute(
        "SELECT id, confidentiality, metadata FROM documents "
        "WHERE json_extract(metadata, '$.confidentiality') IS NOT NULL"
    ).fetchall()
    for doc_id, column, meta_text in legacy:
        meta = json.loads(meta_text)
        level = stricter(column, _level_or_strict(meta.pop("confidentiality")))
        with cat.transaction():
            if level != Level.THUONG:
                pulled += _take_out(cat, doc_id, level)
            cat.db.execute(
                "UPDATE documents SET metadata = ? WHERE id = ?",
                [json.dumps(meta, ensure_ascii=False), doc_id],
            )
            set_level(cat, doc_id, level, ACTOR, source="recovery", evidence=True)
    stuck = cat.db.execute(
        "SELECT d.id, d.confidentiality FROM documents d JOIN outbox o ON o.document_id = d.id "
        "WHERE o.delivered_at IS NULL AND d.confidentiality IS NOT ?",
        [Level.THUONG.value],
    ).fetchall()
    for doc_id, level in stuck:
        with cat.transaction():
            pulled += _take_out(cat, doc_id, level)
    return pulled


def _level_or_strict(value: object) -> Level:
    """A legacy metadata level; one that cannot be read counts as the strictest."""
    try:
        return parse_level(str(value) if value is not None else None)
    except KioskError:
        return Level.TOI_MAT


def _take_out(cat: Catalog, doc_id: str, level: str) -> int:
    row = cat.db.execute(
        "SELECT delivered_at FROM outbox WHERE document_id = ?", [doc_id]
    ).fetchone()
    if row is None or row[0] is not None:
        return 0
    cat.db.execute("DELETE FROM outbox WHERE document_id = ?", [doc_id])
    if cat.get_document(doc_id)["state"] == DocState.QUEUED:
        cat.transition_document(
            doc_id,
            DocState.SEALED,
            ACTOR,
            reason="classified document found in the upload queue: waits for USB export",
        )
    cat.audit(ACTOR, "recovery.classified_pulled", doc_id, None, level=str(level))
    log.error("document %s (%s) was in the upload queue; taken out", doc_id, level)
    return 1
