"""The capture session: camera stills and scanner pages into the catalog, with the
per-page preview and quality verdict the clerk sees at once.

Capture stays fast because it does only what the clerk must see at once (frame saved,
preview and quality verdict); full-resolution processing and OCR go to the OCR pool.

Order of writes for a page (why no page is ever lost): frame file durable in ``spool/``
-> page row committed -> preview -> the pool writes page image + OCR -> row marks it done.
A crash between any two steps is repaired by :mod:`firmware.capture.recovery` at start-up,
which calls :meth:`CaptureSession.preview_and_gate` for a page stored but not previewed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from drivers.camera.base import Frame
from drivers.scanner.errors import ScannerError
from firmware import pipeline
from firmware.capture.documents import DocumentFlow
from firmware.capture.frame_prep import FramePreparer, PreparedFrame
from firmware.capture.indicators import Indicators
from firmware.capture.outcome import CaptureOutcome
from firmware.capture.pedal_still import EarlyFrame, PedalStill
from firmware.config import Settings
from firmware.coversheet.actions import check_frame
from firmware.errors import KioskError, camera_error, disk_error, no_camera
from firmware.events import EventBus, EventKind
from firmware.ocr.pool import OcrPool
from firmware.ocr.worker import encode_jpeg, rotate
from firmware.store.catalog import Catalog, new_id
from firmware.store.crashpoints import crashpoint
from firmware.store.paths import DataPaths
from firmware.store.states import DocState, PageState
from sohoa_common.atomic import atomic_write_bytes

if TYPE_CHECKING:  # the drivers import their hardware libraries when loaded
    from drivers.camera.base import Camera
    from drivers.scanner.base import Scanner

log = logging.getLogger("sohoa.kiosk")


class CaptureSession:
    """The capture devices and what a press, a scan or a frame does."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        paths: DataPaths,
        events: EventBus,
        *,
        indicators: Indicators,
        documents: DocumentFlow,
        ocr: OcrPool,
        camera: Camera | None = None,
        scanner: Scanner | None = None,
    ):
        self.settings = settings
        self.catalog = catalog
        self.paths = paths
        self.events = events
        self.indicators = indicators
        self.documents = documents
        self.ocr = ocr
        self.camera = camera
        self.scanner = scanner
        self.capture_source: str = settings.capture_source  # "camera" or "scanner"
        self.prep = FramePreparer(settings)
        self.still = PedalStill(self.prep)
        #: The agent is switching the software (its update notice covers every screen):
        #: nothing is captured until it commits or rolls back (:meth:`hold_for_update`).
        self.updating = False

    # -- life cycle ---------------------------------------------------------------------
    def open_camera(self) -> None:
        """Open the camera; a missing camera is a state (shown, reported), not a crash."""
        if self.camera is None:
            return
        try:
            self.camera.open()
        except Exception as exc:
            self.indicators.report(camera_error(exc))

    def warm_up(self) -> None:
        """Run the frame-prep path once on a drawn page (on a thread): its first call pays
        ~0.15 s of one-time set-up (OpenCV and NumPy, the prep threads) that would
        otherwise land on the first page."""
        threading.Thread(target=self._warm_preview, name="warm-preview", daemon=True).start()

    def _warm_preview(self) -> None:
        img = np.full((600, 800, 3), 60, np.uint8)
        cv2.rectangle(img, (200, 100), (600, 520), (235, 235, 235), -1)
        cv2.putText(img, "SOHOA", (260, 300), cv2.FONT_HERSHEY_SIMPLEX, 2, (20, 20, 20), 4)
        try:
            prepared = self.prep.prepare(encode_jpeg(img, 85))
            prepared.sheet_read()
            prepared.preview_result()
        except Exception as exc:  # only a warm-up: the real capture reports problems
            log.debug("preview warm-up: %s", exc)

    def close(self) -> None:
        """Drop a waiting still and stop the frame-prep threads."""
        self.still.drop()
        self.prep.close()

    @property
    def capturing(self) -> bool:
        """A capture or scan is under way (its frame is being exposed, stored or
        previewed), so the live view rests and leaves the CPU to it."""
        return self.documents.capture_lock.locked() or self.still.busy

    # -- the software update -----------------------------------------------------------
    def hold_for_update(self, switching: bool) -> None:
        """Refuse captures while the update notice is up. Why: the clerk cannot see the
        scan screen under the notice, and the service may restart under a capture; a page
        taken then would be one nobody looked at."""
        self.updating = switching
        if switching:
            self.still.drop()

    def _refuse_while_updating(self) -> None:
        if self.updating:
            self.indicators.beep("error")
            raise updating_now()

    # -- the pedal ----------------------------------------------------------------------
    def on_pedal(self, event: Any) -> None:
        """Foot pedal without the UI (``sohoa scan``, tests): everything is done as "pedal"."""
        try:
            self.handle_pedal(event, "pedal")
        except KioskError as exc:
            log.warning("pedal %s: %s", getattr(event, "value", event), exc)

    def handle_pedal(self, event: Any, actor: str) -> None:
        """What the clerk's foot does, in one place (the UI calls it for the signed-in
        operator): a press captures the next page (or scans, when the scanner is the
        source), a long press finishes the document.

        The still is exposed when the pedal goes *down* (:mod:`firmware.capture.pedal_still`)
        and the press that follows uses it; a long press throws it away.
        """
        kind = getattr(event, "value", str(event))
        if kind == "down":
            self.pedal_down()
        elif kind == "long_press":
            self.still.drop()
            if self.documents.current_doc_id:
                self.documents.finish(self.documents.current_doc_id, actor)
        elif kind == "press":
            if self.capture_source == "scanner" and self.scanner is not None:
                self.still.drop()
                self.scan_batch(actor)
            else:
                self.capture(actor, early=self.still.take())

    def pedal_down(self) -> None:
        """Expose the camera's still now, and start its sheet check and preview (none
        while the update notice is up: the press that follows is refused)."""
        if self.updating or self.capture_source != "camera" or self.camera is None:
            return
        self.still.expose(self.camera)

    # -- sources ------------------------------------------------------------------------
    def sources(self) -> list[str]:
        """The capture sources this kiosk has: "camera", "scanner" or both."""
        return [n for n, dev in (("camera", self.camera), ("scanner", self.scanner)) if dev]

    def set_capture_source(self, source: str, actor: str) -> str:
        """Choose what the pedal and the capture button use (Scan screen, both present)."""
        if source not in self.sources():
            raise KioskError(
                "no_such_source",
                f"This kiosk has no {source}.",
                "Máy không có thiết bị này." if source != "scanner" else "Máy không có máy quét.",
                status=409,
            )
        if source != self.capture_source:
            self.capture_source = source
            self.catalog.audit(actor, "capture.source", None, None, source=source)
        return source

    # -- capture ------------------------------------------------------------------------
    def capture(
        self,
        actor: str,
        doc_id: str | None = None,
        replaces: str | None = None,
        *,
        early: EarlyFrame | None = None,
    ) -> CaptureOutcome:
        """Take a still from the camera and add it as the next page (or in place of one).

        ``early``: the still exposed when the pedal went down (:meth:`handle_pedal`).
        """
        if self.camera is None:
            raise no_camera()
        self._refuse_while_updating()
        docs = self.documents
        with docs.capture_lock:
            if replaces is not None:
                doc_id = doc_id or self.catalog.get_page(replaces)["doc_id"]
            else:
                doc_id = docs.capture_target(
                    actor, doc_id or docs.current_doc_id, explicit=doc_id is not None
                )
            self.indicators.show("busy")
            prepared: PreparedFrame | None = None
            try:
                if early is not None:
                    frame, prepared = early.done.result()
                else:
                    frame = self.camera.capture()
            except Exception as exc:
                err = camera_error(exc)
                self.catalog.audit(
                    actor, "capture.error", doc_id, None, code=err.code, error=str(exc)
                )
                self.indicators.report(err)
                self.indicators.beep("error")
                raise err from exc
            return self.ingest_frame(frame, actor, doc_id, replaces=replaces, prepared=prepared)

    def retake(self, page_id: str, actor: str) -> CaptureOutcome:
        """Capture a page again, in place of ``page_id``."""
        page = self.catalog.get_page(page_id)
        return self.capture(actor, page["doc_id"], replaces=page_id)

    def scan_batch(self, actor: str, doc_id: str | None = None) -> list[CaptureOutcome]:
        """Scan with the document scanner: one flatbed page, or every sheet in the feeder.

        Each page enters the catalog as soon as the scanner delivers it, so a jam or an
        unplugged scanner mid-batch keeps the pages already scanned (and says so).
        """
        if self.scanner is None:
            raise KioskError(
                "no_scanner", "No scanner is configured.", "Chưa cấu hình máy quét.", status=409
            )
        self._refuse_while_updating()
        docs = self.documents
        with docs.capture_lock:
            if doc_id is None:
                doc_id = docs.capture_target(actor, docs.current_doc_id, source="scanner")
            self.indicators.show("busy")
            outcomes: list[CaptureOutcome] = []
            try:
                for frame in self.scanner.iter_scan():
                    out = self.ingest_frame(frame, actor, doc_id)
                    outcomes.append(out)
                    if out.sheet is not None:  # a cover sheet or separator in the feeder
                        doc_id = out.sheet["doc_id"]
            except Exception as exc:
                if isinstance(exc, KioskError) and not isinstance(exc, ScannerError):
                    raise  # the kiosk's own refusal (disk full...), already in words
                code = getattr(exc, "code", "io")
                kept = sum(1 for o in outcomes if o.page is not None)  # sheets are no pages
                err = KioskError(
                    f"scanner_{code}",
                    getattr(exc, "message", str(exc)) + f" ({kept} pages kept)",
                    getattr(exc, "message_vi", "Máy quét gặp lỗi.")
                    + f" Đã giữ {kept} trang đã quét.",
                    status=503,
                )
                self.catalog.audit(
                    actor,
                    "scan.error",
                    doc_id,
                    None,
                    code=err.code,
                    error=str(exc),
                    pages_kept=kept,
                )
                self.indicators.report(err)
                self.indicators.beep("error")
                raise err from exc
            return outcomes

    def ingest_frame(
        self,
        frame: Frame | bytes,
        actor: str,
        doc_id: str,
        *,
        replaces: str | None = None,
        prepared: PreparedFrame | None = None,
    ) -> CaptureOutcome:
        """Store a frame durably, register it, preview it and queue it if it is good.

        ``frame``: a driver's :class:`Frame` (its ``source``, ``dpi``, ``side`` and ``sheet``
        say how it was taken), or bare JPEG bytes taken as a camera still.

        A frame showing a QR cover sheet or batch separator is acted on instead
        (:mod:`firmware.coversheet.actions`) and answered with ``page=None`` and ``sheet`` set.
        The sheet check and the preview run side by side on the frame-prep threads, and the
        preview goes on while the frame is being stored (``prepared``: already started, e.g.
        when the pedal went down).
        """
        if isinstance(frame, bytes):
            frame = Frame(frame, 0, 0, time.time())  # the size is read from the JPEG itself
        jpeg = frame.jpeg
        self.documents.editable(doc_id)
        source = "scanner" if frame.source == "scanner" else "camera"
        scan_dpi = frame.dpi if source == "scanner" else None
        if prepared is None:
            prepared = self.prep.prepare(jpeg, scan_dpi=scan_dpi)
        # A QR cover sheet or separator is acted on and never becomes a page.
        try:
            sheet = check_frame(
                self.settings,
                self.documents,
                self.indicators,
                jpeg,
                actor,
                doc_id,
                replaces=replaces,
                source=source,
                read=prepared.sheet_read(),
            )
        except BaseException:
            prepared.drop()
            raise
        if sheet.outcome is not None:
            prepared.drop()
            return sheet.outcome
        if replaces is None:
            self.documents.current_doc_id = doc_id
        doc = self.catalog.get_document(doc_id)
        if doc["state"] in (DocState.PROCESSING, DocState.REVIEW, DocState.FAILED):
            # A new or retaken page reopens the document: it is finished again later.
            self.catalog.transition_document(
                doc_id, DocState.CAPTURING, actor, reason="page added or retaken"
            )
        page_id = new_id("P")
        frame_path = self.paths.frame(doc_id, page_id)
        t0 = time.perf_counter()
        try:
            atomic_write_bytes(frame_path, jpeg)
            if frame.truth is not None:
                atomic_write_bytes(
                    self.paths.frame_truth(doc_id, page_id),
                    json.dumps(frame.truth, ensure_ascii=False).encode(),
                )
        except OSError as exc:
            err = disk_error(exc, "page")
            self.catalog.audit(actor, "capture.error", doc_id, None, code=err.code, error=str(exc))
            self.indicators.report(err)
            raise err from exc
        crashpoint("capture.after_frame")
        page = self.catalog.add_page(
            doc_id,
            actor,
            page_id=page_id,
            frame_path=str(frame_path),
            frame_sha256=hashlib.sha256(jpeg).hexdigest(),
            replaces=replaces,
            source=source,
            scan_dpi=scan_dpi,
        )
        crashpoint("capture.after_row")
        t1 = time.perf_counter()
        outcome = self.preview_and_gate(page, actor, frame, prepared.preview_result())
        outcome.timings["store"] = t1 - t0
        outcome.timings["sheet"] = sheet.seconds
        return outcome

    def preview_and_gate(
        self,
        page: dict[str, Any],
        actor: str,
        frame: Frame | None = None,
        result: pipeline.PreviewResult | None = None,
    ) -> CaptureOutcome:
        """Write the page's preview, record the quality verdict, and queue a good page for
        OCR (a flagged one waits for the clerk). ``frame``: the frame just taken (its duplex
        ``side``); ``result``: the preview already made from the frame's bytes; without them
        the stored frame is read (recovery, which cannot tell a back side: the page stays)."""
        page_id, doc_id = page["id"], page["doc_id"]
        preview_path: str | None = None
        try:
            res = result or pipeline.make_preview(
                Path(page["frame_path"]), self.settings.pipeline, scan_dpi=page.get("scan_dpi")
            )
            quality = res.quality.to_dict()
            timings = dict(res.timings)
            quad = res.quad.tolist() if res.quad is not None else None
            if res.preview is not None:
                p = self.paths.preview(doc_id, page_id)
                prev = rotate(res.preview, page.get("rotation") or 0)
                atomic_write_bytes(p, encode_jpeg(prev, 80))
                preview_path = str(p)
            ok = res.quality.ok
            paper = res.paper
        except OSError as exc:
            raise disk_error(exc, "preview") from exc
        codes = {i["code"] for i in quality.get("issues", [])}
        if (
            frame is not None
            and frame.side == "back"
            and "blank" in codes
            and self.settings.scanner.drop_blank_backs
        ):
            # A duplex scan's empty back side is not a page of the document.
            self.catalog.transition_page(page_id, PageState.DELETED, actor, reason="blank back")
            self.catalog.audit(actor, "page.blank_back_dropped", doc_id, page_id, sheet=frame.sheet)
            self.events.publish(EventKind.PAGE, page_id=page_id, doc_id=doc_id, state="deleted")
            return CaptureOutcome(self.catalog.get_page(page_id), quality, None, timings)
        target = PageState.PREVIEWED if ok else PageState.REJECTED
        reason = (
            None
            if ok
            else ",".join(i["code"] for i in quality["issues"] if i["severity"] == "error")
        )
        page = self.catalog.transition_page(
            page_id,
            target,
            actor,
            reason=reason,
            quad=quad,
            quality=quality,
            preview_path=preview_path,
            paper=paper,
        )
        self.events.publish(
            EventKind.PAGE,
            page_id=page_id,
            doc_id=doc_id,
            state=page["state"],
            seq=page["seq"],
            quality=quality,
            preview=preview_path,
        )
        if ok:
            self.indicators.beep("ok")
            self.indicators.show("ready")
            self.ocr.enqueue(page_id, actor)
        else:
            self.indicators.beep("error")
            self.indicators.show("attention")
        return CaptureOutcome(self.catalog.get_page(page_id), quality, preview_path, timings)


def updating_now() -> KioskError:
    return KioskError(
        "updating",
        "The software is being updated. Wait until the screen says it is done, then "
        "capture again; nothing was captured.",
        "Đang cập nhật phần mềm. Chờ màn hình báo xong rồi chụp tiếp; trang này chưa được chụp.",
        status=409,
    )
