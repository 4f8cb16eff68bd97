"""The document life cycle around capture, and the clerk's page edits.

Which document is being captured (:attr:`DocumentFlow.current_doc_id`), opening one,
finishing it (the rest of its pages to OCR, then review), parking, resuming and discarding
it, and the edits a clerk makes to pages before sealing: keep a flagged page, delete one,
rotate one. The move to review happens here too (:meth:`DocumentFlow.check_done`), when
the clerk has finished and the OCR pool settled the last page.

``capture_lock`` is held by a capture or scan and by every change of the current document,
so parking or discarding never races a page being added to it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2

from firmware.capture.discard import remove_content
from firmware.errors import KioskError
from firmware.events import EventBus, EventKind
from firmware.metadata.page_one import PageOneReader
from firmware.metadata.review import cache_extraction
from firmware.ocr.pool import OcrPool
from firmware.ocr.worker import encode_jpeg, rotate
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.store.states import DOC_CAPTURING, DocState, PageState, is_editable
from sohoa_common.atomic import atomic_write_bytes

#: Quality issues a clerk cannot overrule: there is no page in the picture to keep.
UNACCEPTABLE = {"no_page", "corrupt"}


class DocumentFlow:
    """Documents from opening to review, and the page edits allowed meanwhile."""

    def __init__(
        self,
        catalog: Catalog,
        paths: DataPaths,
        events: EventBus,
        ocr: OcrPool,
        reader: PageOneReader,
    ):
        self.catalog = catalog
        self.paths = paths
        self.events = events
        self.ocr = ocr
        self.reader = reader
        self.current_doc_id: str | None = None
        self.capture_lock = threading.Lock()

    def new_document(self, actor: str, **kw: Any) -> dict[str, Any]:
        """Open a document and make it the one being captured."""
        doc = self.catalog.create_document(actor, **kw)
        self.current_doc_id = doc["id"]
        self.events.publish(EventKind.DOCUMENT, doc_id=doc["id"], state=doc["state"])
        return doc

    def editable(self, doc_id: str) -> dict[str, Any]:
        """The document, if it is still open (the one "document is closed" check)."""
        doc = self.catalog.get_document(doc_id)
        if not is_editable(doc["state"]):
            raise KioskError(
                "document_closed",
                f"Document {doc_id} is {doc['state']} and can no longer be changed.",
                "Tài liệu này đã lưu, không thể thay đổi.",
            )
        return doc

    def capture_target(
        self, actor: str, doc_id: str | None, source: str = "camera", *, explicit: bool = False
    ) -> str:
        """The document a new page goes to: ``doc_id`` while it is still being captured,
        otherwise a new document. A document the caller named (``explicit``) that is past
        capturing (finished, sealed, delivered...) is refused rather than silently replaced
        by a new one: the clerk would believe the page joined that document."""
        if doc_id is not None:
            state = self.catalog.get_document(doc_id)["state"]
            if state in DOC_CAPTURING:
                return doc_id
            if explicit:
                raise KioskError(
                    "document_closed",
                    f"Document {doc_id} is {state}: pages can no longer be added to it. "
                    "Start a new document.",
                    f"Tài liệu {doc_id} đã kết thúc chụp (trạng thái {state}), không thêm "
                    "trang được nữa. Hãy bắt đầu tài liệu mới.",
                    status=409,
                )
        return self.new_document(actor, source=source)["id"]

    def check_done(self, doc_id: str) -> None:
        """When the clerk has finished and every page is processed, move on to review."""
        doc = self.catalog.get_document(doc_id)
        if doc["state"] != DocState.PROCESSING:
            return
        pages = self.catalog.pages(doc_id)
        if any(p["state"] not in (PageState.DONE, PageState.FAILED) for p in pages):
            return
        failed = [p for p in pages if p["state"] == PageState.FAILED]
        if failed:
            self.catalog.transition_document(
                doc_id,
                DocState.FAILED,
                "system",
                error_code="page_failed",
                error_message="pages "
                + ", ".join(str(p["seq"]) for p in failed)
                + " could not be processed; retake or delete them",
            )
        else:
            # Read page 1 now, off the UI, so the review form opens filled (cached in the
            # catalog); a reader failure leaves the form to the clerk, never blocks review.
            cache_extraction(self.catalog, doc_id, self.reader.extract)
            self.catalog.transition_document(doc_id, DocState.REVIEW, "system")
        self.events.publish(
            EventKind.DOCUMENT, doc_id=doc_id, state=self.catalog.get_document(doc_id)["state"]
        )

    def accept_page(self, page_id: str, actor: str) -> dict[str, Any]:
        """The clerk keeps a page a quality gate flagged (e.g. a faint but legible copy)."""
        page = self.catalog.get_page(page_id)
        self.editable(page["doc_id"])
        codes = {i["code"] for i in (page.get("quality") or {}).get("issues", [])}
        if page["state"] != PageState.REJECTED:
            raise KioskError(
                "not_rejected",
                "Only a flagged page can be accepted.",
                "Chỉ có thể giữ lại trang bị cảnh báo.",
            )
        if codes & UNACCEPTABLE:
            raise KioskError(
                "cannot_accept",
                "No page was found in this image; retake it.",
                "Không tìm thấy trang tài liệu trong ảnh này, hãy chụp lại.",
            )
        # The verdict stays (the page *was* flagged); ``kept_by`` says the clerk chose to
        # keep it, so the screen shows it as kept rather than as a problem (issue 16).
        quality = {**(page.get("quality") or {}), "kept_by": actor}
        self.catalog.update_page(page_id, actor, "page.accept", quality=quality)
        self.ocr.enqueue(page_id, actor)
        return self.catalog.get_page(page_id)

    def delete_page(self, page_id: str, actor: str) -> None:
        page = self.catalog.get_page(page_id)
        self.editable(page["doc_id"])
        self.catalog.transition_page(page_id, PageState.DELETED, actor)
        self.events.publish(EventKind.PAGE, page_id=page_id, doc_id=page["doc_id"], state="deleted")
        self.check_done(page["doc_id"])

    def rotate_page(self, page_id: str, quarter_turns: int, actor: str) -> dict[str, Any]:
        """Turn a page by quarter turns: a processed page is processed again upright, a
        page still waiting has its preview turned now (the worker turns the rest)."""
        page = self.catalog.get_page(page_id)
        self.editable(page["doc_id"])
        rotation = ((page.get("rotation") or 0) + quarter_turns) % 4
        self.catalog.update_page(page_id, actor, "page.rotate", rotation=rotation)
        if page["state"] in (PageState.DONE, PageState.FAILED):
            doc = self.catalog.get_document(page["doc_id"])
            if doc["state"] == DocState.REVIEW:
                self.catalog.transition_document(
                    doc["id"], DocState.PROCESSING, actor, reason="page rotated"
                )
            self.ocr.enqueue(page_id, actor)
        elif page.get("preview_path") and Path(page["preview_path"]).exists():
            img = cv2.imread(page["preview_path"])
            if img is not None:
                atomic_write_bytes(
                    page["preview_path"], encode_jpeg(rotate(img, quarter_turns), 80)
                )
        return self.catalog.get_page(page_id)

    def finish(self, doc_id: str, actor: str) -> dict[str, Any]:
        """The clerk is done capturing: process the rest, then review."""
        doc = self.editable(doc_id)
        pages = self.catalog.pages(doc_id)
        if not pages:
            raise KioskError(
                "no_pages", "The document has no pages yet.", "Tài liệu chưa có trang nào."
            )
        flagged = [p for p in pages if p["state"] == PageState.REJECTED]
        if flagged:
            raise KioskError(
                "pages_need_attention",
                "Pages "
                + ", ".join(str(p["seq"]) for p in flagged)
                + " were flagged: retake, keep or delete them first.",
                "Trang "
                + ", ".join(str(p["seq"]) for p in flagged)
                + " cần chụp lại, giữ lại hoặc xóa trước khi hoàn tất.",
            )
        if doc["state"] in (DocState.OPEN, DocState.CAPTURING, DocState.FAILED):
            self.catalog.transition_document(doc_id, DocState.PROCESSING, actor)
            # The screen follows at once (a pedal hold has no other answer): the review
            # screen shows the pages still being read, instead of the scan screen sitting
            # unchanged until the last page's OCR is done.
            self.events.publish(EventKind.DOCUMENT, doc_id=doc_id, state=DocState.PROCESSING.value)
        for p in pages:
            if p["state"] in (PageState.CAPTURED, PageState.PREVIEWED, PageState.FAILED):
                self.ocr.enqueue(p["id"], actor)
        if self.current_doc_id == doc_id:
            self.current_doc_id = None
        self.check_done(doc_id)
        return self.catalog.get_document(doc_id)

    def park(self, actor: str, reason: str) -> str | None:
        """Set the open document aside (sign-out, idle reset); it stays in ``capturing``
        with every page, listed for resuming. Never discards anything."""
        with self.capture_lock:
            doc_id = self.current_doc_id
            if doc_id is None:
                return None
            self.current_doc_id = None
        self.catalog.audit(actor, "document.parked", doc_id, reason=reason)
        self.events.publish(EventKind.DOCUMENT, doc_id=doc_id, state="parked")
        return doc_id

    def resume(self, doc_id: str, actor: str) -> dict[str, Any]:
        """Make a parked or finished-but-unsaved document the one being captured again."""
        doc = self.editable(doc_id)
        if doc["state"] not in DOC_CAPTURING:
            doc = self.catalog.transition_document(
                doc_id, DocState.CAPTURING, actor, reason="resumed to add or retake pages"
            )
        with self.capture_lock:
            self.current_doc_id = doc_id
        self.catalog.audit(actor, "document.resume", doc_id)
        return doc

    def discard(self, doc_id: str, actor: str, *, reason: str = "") -> dict[str, Any]:
        """Abandon an unsealed document: state ``discarded`` and every trace of its content
        removed from this kiosk (frames, previews, page images, OCR files, the search
        index), audited with what was removed. The catalog row and the audit trail stay.
        Serves the clerk's "Hủy tài liệu" and the Tuyệt mật refusal (such a capture must
        not stay on the kiosk)."""
        doc = self.editable(doc_id)
        with self.capture_lock:
            if self.current_doc_id == doc_id:
                self.current_doc_id = None
        self.catalog.transition_document(doc_id, DocState.DISCARDED, actor, reason=reason or None)
        removed = remove_content(self.catalog, self.paths, doc_id)
        self.catalog.audit(actor, "document.content_removed", doc_id, None, **removed)
        self.events.publish(EventKind.DOCUMENT, doc_id=doc_id, state="discarded")
        return {**self.catalog.get_document(doc_id), "removed": removed, "was": doc["state"]}
