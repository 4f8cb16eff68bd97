"""The kiosk core: capture sessions, the processing pool, sealing.

One :class:`Kiosk` per service process. It owns the catalog (the only writer), the devices
and the worker pool. Capture stays fast because it does only what the clerk must see at
once (frame saved, preview and quality verdict); full-resolution processing and OCR of page
N run in the pool while page N+1 is being captured, and the backlog is published.

Order of writes for a page (why no page is ever lost): frame file durable in ``spool/``
-> page row committed -> preview -> worker writes page image + OCR -> row marks it done.
A crash between any two steps is repaired by :mod:`firmware.recovery` at start-up.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import multiprocessing
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware import pipeline
from firmware.atomic import atomic_write_bytes
from firmware.catalog import Catalog, new_id
from firmware.config import Settings
from firmware.crashpoints import crashpoint
from firmware.errors import KioskError, disk_error
from firmware.events import EventBus
from firmware.frame_prep import FramePreparer, PreparedFrame
from firmware.jobs import PageJob, encode_jpeg, init_worker, rotate, run_page_job, warm_up
from firmware.ocr import OcrError, OcrResult, find_tessdata
from firmware.paths import DataPaths
from firmware.states import DOC_EDITABLE, DocState, PageState

log = logging.getLogger("sohoa.kiosk")

UNACCEPTABLE = {"no_page", "corrupt"}
#: A still exposed when the pedal went down serves the press that follows only this long
#: after it (a press is at most a long press; anything older is a stale picture).
EARLY_FRAME_MAX_AGE_S = 3.0


@dataclass
class CaptureOutcome:
    page: dict[str, Any] | None  # None when the frame was a cover sheet or separator
    quality: dict[str, Any]
    preview_path: str | None
    timings: dict[str, float]
    sheet: dict[str, Any] | None = None  # what a sheet did (firmware.sheet_flow)


class Kiosk:
    """The capture/processing/sealing service core (no web framework in here)."""

    def __init__(
        self,
        settings: Settings,
        *,
        camera: Any | None = None,
        pedal: Any | None = None,
        leds: Any | None = None,
        scanner: Any | None = None,
        workers: int | None = None,
    ):
        self.settings = settings
        self.paths = DataPaths(Path(settings.data_dir)).ensure()
        self.catalog = Catalog(self.paths.catalog)
        self.events = EventBus()
        self.camera = camera
        self.pedal = pedal
        self.leds = leds
        self.scanner = scanner
        self.capture_source = settings.capture_source
        self._workers = workers or settings.ocr.workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._capture_lock = threading.Lock()
        self._prep = FramePreparer(settings)
        self._early: _EarlyFrame | None = None
        self._early_lock = threading.Lock()
        self._enqueue_lock = threading.RLock()
        self._futures: dict[str, cf.Future[dict[str, Any]]] = {}
        self._futures_lock = threading.Lock()
        self._idle = threading.Condition()
        self.tessdata: str | None = None
        self.ocr_error: OcrError | None = None
        self.current_doc_id: str | None = None
        self.last_error: KioskError | None = None
        self.uplink: Any | None = None  # firmware.uplink.worker.UplinkWorker, set by the service

    # -- life cycle ---------------------------------------------------------------------
    def start(self, *, recover: bool = True) -> Kiosk:
        try:
            self.tessdata = find_tessdata(self.settings.ocr.tessdata, self.settings.ocr.languages)
        except OcrError as exc:
            self.ocr_error = exc
            self.catalog.audit("system", "ocr.unavailable", error=str(exc))
            log.error("%s", exc)
        if self.camera is not None:
            try:
                self.camera.open()
            except Exception as exc:  # a missing camera is a state, not a crash
                self._set_error(self._camera_error(exc))
        if self.pedal is not None:
            self.pedal.set_handler(self._on_pedal)
        if recover:
            from firmware.recovery import recover as run_recovery

            run_recovery(self)
        self._show("ready")
        return self

    def warm_up(self) -> None:
        """Start the OCR worker now rather than at the first capture: spawning it (imports,
        Tesseract engine) takes a core for a second, which the first pedal press would pay.
        The service calls this once it is up; a failure shows again at the first page."""
        try:
            self._get_pool().submit(warm_up)
        except Exception as exc:  # OCR unavailable: reported by status() and at capture
            log.warning("OCR worker not started: %s", exc)
        threading.Thread(target=self._warm_preview, name="warm-preview", daemon=True).start()

    def _warm_preview(self) -> None:
        """Run the frame-prep path once on a drawn page: its first call pays ~0.15 s of
        one-time set-up (OpenCV and NumPy, the prep threads, the sheet module) that would
        otherwise land on the first page."""
        import cv2
        import numpy as np

        import firmware.sheet_flow  # noqa: F401  (imported by the first page otherwise)

        img = np.full((600, 800, 3), 60, np.uint8)
        cv2.rectangle(img, (200, 100), (600, 520), (235, 235, 235), -1)
        cv2.putText(img, "SOHOA", (260, 300), cv2.FONT_HERSHEY_SIMPLEX, 2, (20, 20, 20), 4)
        try:
            prepared = self._prep.prepare(encode_jpeg(img, 85))
            prepared.sheet_read()
            prepared.preview_result()
        except Exception as exc:  # only a warm-up: the real capture reports problems
            log.debug("preview warm-up: %s", exc)

    def stop(self) -> None:
        self._drop_early()
        self._prep.close()
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=False)
                self._pool = None
        for dev in (self.camera, self.pedal, self.leds):
            if dev is not None:
                with contextlib.suppress(Exception):
                    dev.close()
        self.catalog.close()

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- devices ------------------------------------------------------------------------
    def _show(self, status: str) -> None:
        if self.leds is None:
            return
        with contextlib.suppress(Exception):
            from drivers.leds import Status

            self.leds.show(Status(status))

    def _beep(self, kind: str) -> None:
        if self.leds is not None:
            with contextlib.suppress(Exception):
                self.leds.beep(kind)

    def _on_pedal(self, event: Any) -> None:
        """Foot pedal without the UI (``sohoa scan``, tests): everything is done as "pedal"."""
        try:
            self.handle_pedal(event, "pedal")
        except KioskError as exc:
            log.warning("pedal %s: %s", getattr(event, "value", event), exc)

    def handle_pedal(self, event: Any, actor: str) -> None:
        """What the clerk's foot does, in one place (the UI calls it for the signed-in
        operator): a press captures the next page (or scans, when the scanner is the
        source), a long press finishes the document.

        A press is known only at release (until then it could become a long press), so the
        still is exposed and analysed as soon as the pedal goes *down* and the press that
        follows uses it: the clerk's hold time is not added to the wait for the thumbnail.
        A long press throws that still away; nothing is stored before the press.
        """
        kind = getattr(event, "value", str(event))
        if kind == "down":
            self.pedal_down()
        elif kind == "long_press":
            self._drop_early()
            if self.current_doc_id:
                self.finish(self.current_doc_id, actor)
        elif kind == "press":
            if self.capture_source == "scanner" and self.scanner is not None:
                self._drop_early()
                self.scan_batch(actor)
            else:
                self.capture(actor, early=self._take_early())

    def pedal_down(self) -> None:
        """Expose the camera's still now, and start its sheet check and preview."""
        if self.capture_source != "camera" or self.camera is None:
            return
        early = _EarlyFrame(time.monotonic(), cf.Future())
        with self._early_lock:
            old, self._early = self._early, early
        if old is not None:
            old.discard()
        threading.Thread(
            target=self._expose_early, args=(early,), name="early-frame", daemon=True
        ).start()

    def _expose_early(self, early: _EarlyFrame) -> None:
        if not early.done.set_running_or_notify_cancel():
            return
        try:
            assert self.camera is not None
            frame = self.camera.capture()
            if early.dropped:  # a long press, or the next press: no analysis for nothing
                raise RuntimeError("early still dropped")
            prepared = self._prep.prepare(frame.jpeg)
        except BaseException as exc:  # reported by the press that takes it
            early.done.set_exception(exc)
        else:
            early.done.set_result((frame, prepared))

    def _take_early(self) -> _EarlyFrame | None:
        with self._early_lock:
            early, self._early = self._early, None
        if early is not None and time.monotonic() - early.at > EARLY_FRAME_MAX_AGE_S:
            early.discard()
            return None
        return early

    def _drop_early(self) -> None:
        with self._early_lock:
            early, self._early = self._early, None
        if early is not None:
            early.discard()

    def _set_error(self, err: KioskError) -> None:
        self.last_error = err
        self._show("error")
        self.events.publish("error", **err.to_dict())

    @staticmethod
    def _camera_error(exc: Exception) -> KioskError:
        code = getattr(exc, "code", "io")
        if code == "gone":
            return KioskError(
                "camera_gone",
                "The camera is not responding. Check its cable; captured pages are safe.",
                "Máy ảnh không phản hồi. Hãy kiểm tra dây cắm; các trang đã chụp vẫn an toàn.",
                status=503,
            )
        if code == "end":
            return KioskError(
                "no_more_frames",
                "No more images in the source folder.",
                "Thư mục nguồn không còn ảnh nào.",
                status=409,
            )
        return KioskError(
            "camera_error",
            f"The camera failed: {exc}. Check the camera, then try again.",
            "Máy ảnh gặp lỗi. Hãy kiểm tra máy ảnh rồi thử lại.",
            status=503,
        )

    # -- the pool -----------------------------------------------------------------------
    def _get_pool(self) -> cf.ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                if self.tessdata is None:  # maybe fixed since start-up (package installed)
                    try:
                        self.tessdata = find_tessdata(
                            self.settings.ocr.tessdata, self.settings.ocr.languages
                        )
                        self.ocr_error = None
                    except OcrError as exc:
                        self.ocr_error = exc
                if self.tessdata is None:
                    assert self.ocr_error is not None
                    raise KioskError(
                        "ocr_unavailable",
                        str(self.ocr_error),
                        self.ocr_error.message_vi,
                        status=503,
                    )
                self._pool = cf.ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=init_worker,
                    initargs=(self.tessdata, self.settings.ocr.languages),
                )
            return self._pool

    def backlog(self) -> int:
        with self._futures_lock:
            return len(self._futures)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no page is being processed (CLI, tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self.backlog() == 0, timeout)

    def _page_job(self, page: dict[str, Any]) -> PageJob:
        d, p = page["doc_id"], page["id"]
        quad = page.get("quad")
        return PageJob(
            doc_id=d,
            page_id=p,
            frame_path=page["frame_path"],
            quad=quad,
            rotation=page.get("rotation") or 0,
            pipeline=self.settings.pipeline.model_dump(),
            image_path=str(self.paths.page_image(d, p)),
            ocr_path=str(self.paths.page_ocr(d, p)),
            preview_path=str(self.paths.preview(d, p)),
            preview_width=self.settings.pipeline.preview_width,
            image_dpi=self.settings.seal.image_dpi,
            jpeg_quality=self.settings.seal.jpeg_quality,
            scan_dpi=page.get("scan_dpi"),
        )

    def enqueue(self, page_id: str, actor: str = "system") -> None:
        """Hand a page to the worker pool; safe to call again (and from several threads)
        for a page already queued: the capture thread and "Finish" may race for it."""
        with self._enqueue_lock:
            page = self.catalog.get_page(page_id)
            with self._futures_lock:
                if page_id in self._futures:
                    return
            if page["state"] == PageState.DELETED:
                return
            if page["state"] != PageState.QUEUED:
                page = self.catalog.transition_page(page_id, PageState.QUEUED, actor)
            if self.backlog() >= self.settings.ocr.max_backlog:
                log.warning("OCR backlog at %d pages", self.backlog())
            # "processing" is recorded before the job can finish, so a fast result (or a
            # failure) always finds the page in the state it expects.
            self.catalog.transition_page(page_id, PageState.PROCESSING, "system")
            try:
                fut = self._submit(page)
            except KioskError as exc:
                # OCR cannot run (language data missing): the page stays on disk, marked
                # failed with the reason; finishing the document retries it once fixed.
                self.catalog.transition_page(
                    page_id,
                    PageState.FAILED,
                    "system",
                    error_code=exc.code,
                    error_message=exc.message_en,
                )
                self.events.publish("page", page_id=page_id, doc_id=page["doc_id"], state="failed")
                self._check_document_done(page["doc_id"])
                return
            with self._futures_lock:
                self._futures[page_id] = fut
        self.events.publish("backlog", backlog=self.backlog())
        fut.add_done_callback(lambda f, pid=page_id: self._on_job_done(pid, f))

    def _submit(self, page: dict[str, Any]) -> cf.Future[dict[str, Any]]:
        job = self._page_job(page)
        try:
            return self._get_pool().submit(run_page_job, job)
        except BrokenProcessPool:
            with self._pool_lock:  # a worker died (OOM, crash): start a fresh pool once
                self._pool = None
            return self._get_pool().submit(run_page_job, job)

    def _on_job_done(self, page_id: str, fut: cf.Future[dict[str, Any]]) -> None:
        try:
            self._record_job(page_id, fut)
        except Exception:  # never let a callback die silently
            log.exception("recording the result of page %s failed", page_id)
        finally:
            with self._futures_lock:
                self._futures.pop(page_id, None)
            self.events.publish("backlog", backlog=self.backlog())
            with self._idle:
                self._idle.notify_all()

    def _record_job(self, page_id: str, fut: cf.Future[dict[str, Any]]) -> None:
        page = self.catalog.get_page(page_id)
        if page["state"] == PageState.DELETED:
            return
        exc = fut.exception()
        if exc is not None:
            if isinstance(exc, cf.process.BrokenProcessPool):
                with self._pool_lock:
                    self._pool = None  # a worker died (OOM, crash): start a fresh pool
            code = "corrupt" if isinstance(exc, pipeline.CorruptFrame) else "processing_failed"
            self.catalog.transition_page(
                page_id,
                PageState.FAILED,
                "system",
                error_code=code,
                error_message=f"{type(exc).__name__}: {exc}",
            )
            self.events.publish("page", page_id=page_id, doc_id=page["doc_id"], state="failed")
        else:
            res = fut.result()
            self.catalog.set_page_text(page["doc_id"], page_id, res["text"])
            self.catalog.transition_page(
                page_id,
                PageState.DONE,
                "system",
                image_path=res["image_path"],
                ocr_path=res["ocr_path"],
                preview_path=res["preview_path"],
                paper=res["paper"],
                ocr_conf=res["mean_conf"],
            )
            self.events.publish(
                "page",
                page_id=page_id,
                doc_id=page["doc_id"],
                state="done",
                words=res["word_count"],
                conf=res["mean_conf"],
            )
        self._check_document_done(page["doc_id"])

    def _check_document_done(self, doc_id: str) -> None:
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
            self.catalog.transition_document(doc_id, DocState.REVIEW, "system")
        self.events.publish(
            "document", doc_id=doc_id, state=self.catalog.get_document(doc_id)["state"]
        )

    # -- documents ----------------------------------------------------------------------
    def new_document(self, actor: str, **kw: Any) -> dict[str, Any]:
        doc = self.catalog.create_document(actor, **kw)
        self.current_doc_id = doc["id"]
        self.events.publish("document", doc_id=doc["id"], state=doc["state"])
        return doc

    def _editable(self, doc_id: str) -> dict[str, Any]:
        doc = self.catalog.get_document(doc_id)
        if DocState(doc["state"]) not in DOC_EDITABLE:
            raise KioskError(
                "document_closed",
                f"Document {doc_id} is {doc['state']} and can no longer be changed.",
                "Tài liệu này đã lưu, không thể thay đổi.",
            )
        return doc

    def _capture_target(self, actor: str, doc_id: str | None, source: str = "camera") -> str:
        """The document a new page goes to: ``doc_id`` while it is still being captured,
        otherwise a new document."""
        if doc_id is not None and self.catalog.get_document(doc_id)["state"] in (
            DocState.OPEN,
            DocState.CAPTURING,
        ):
            return doc_id
        return self.new_document(actor, source=source)["id"]

    def capture(
        self,
        actor: str,
        doc_id: str | None = None,
        replaces: str | None = None,
        *,
        early: _EarlyFrame | None = None,
    ) -> CaptureOutcome:
        """Take a still from the camera and add it as the next page (or in place of one).

        ``early``: the still exposed when the pedal went down (:meth:`handle_pedal`).
        """
        if self.camera is None:
            raise KioskError(
                "no_camera", "No camera is configured.", "Chưa cấu hình máy ảnh.", status=409
            )
        with self._capture_lock:
            if replaces is not None:
                doc_id = doc_id or self.catalog.get_page(replaces)["doc_id"]
            else:
                doc_id = self._capture_target(actor, doc_id or self.current_doc_id)
            self._show("busy")
            prepared: PreparedFrame | None = None
            try:
                if early is not None:
                    frame, prepared = early.done.result()
                else:
                    frame = self.camera.capture()
            except Exception as exc:
                err = self._camera_error(exc)
                self.catalog.audit(
                    actor, "capture.error", doc_id, None, code=err.code, error=str(exc)
                )
                self._set_error(err)
                self._beep("error")
                raise err from exc
            return self.ingest_frame(
                frame.jpeg,
                actor,
                doc_id,
                replaces=replaces,
                truth=getattr(frame, "truth", None),
                prepared=prepared,
            )

    def ingest_frame(
        self,
        jpeg: bytes,
        actor: str,
        doc_id: str,
        *,
        replaces: str | None = None,
        truth: dict[str, Any] | None = None,
        prepared: PreparedFrame | None = None,
    ) -> CaptureOutcome:
        """Store a frame durably, register it, preview it and queue it if it is good.

        A frame showing a QR cover sheet or batch separator is acted on instead
        (:mod:`firmware.sheet_flow`) and answered with ``page=None`` and ``sheet`` set.
        The sheet check and the preview run side by side on the frame-prep threads, and the
        preview goes on while the frame is being stored (``prepared``: already started, e.g.
        when the pedal went down).
        """
        from firmware.sheet_flow import check_frame

        self._editable(doc_id)
        scanned = bool(truth and truth.get("source") == "scanner")
        source = "scanner" if scanned else "camera"
        scan_dpi = int(truth["dpi"]) if scanned and truth and truth.get("dpi") else None
        if prepared is None:
            prepared = self._prep.prepare(jpeg, scan_dpi=scan_dpi)
        # A QR cover sheet or separator is acted on and never becomes a page.
        try:
            sheet = check_frame(
                self,
                jpeg,
                actor,
                doc_id,
                replaces=replaces,
                truth=truth,
                read=prepared.sheet_read(),
            )
        except BaseException:
            prepared.drop()
            raise
        if sheet.outcome is not None:
            prepared.drop()
            return sheet.outcome
        if replaces is None:
            self.current_doc_id = doc_id
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
            if truth is not None:
                atomic_write_bytes(
                    self.paths.frame_truth(doc_id, page_id),
                    json.dumps(truth, ensure_ascii=False).encode(),
                )
        except OSError as exc:
            err = disk_error(exc, "page")
            self.catalog.audit(actor, "capture.error", doc_id, None, code=err.code, error=str(exc))
            self._set_error(err)
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
        outcome = self._preview_and_gate(page, actor, truth, prepared.preview_result())
        outcome.timings["store"] = t1 - t0
        outcome.timings["sheet"] = sheet.seconds
        return outcome

    def _preview_and_gate(
        self,
        page: dict[str, Any],
        actor: str,
        truth: dict[str, Any] | None = None,
        result: pipeline.PreviewResult | None = None,
    ) -> CaptureOutcome:
        """``result``: the preview already made from the frame's bytes; without it the
        stored frame is read (recovery)."""
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
            truth
            and truth.get("side") == "back"
            and "blank" in codes
            and self.settings.scanner.drop_blank_backs
        ):
            # A duplex scan's empty back side is not a page of the document.
            self.catalog.transition_page(page_id, PageState.DELETED, actor, reason="blank back")
            self.catalog.audit(
                actor, "page.blank_back_dropped", doc_id, page_id, sheet=truth.get("sheet")
            )
            self.events.publish("page", page_id=page_id, doc_id=doc_id, state="deleted")
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
            "page",
            page_id=page_id,
            doc_id=doc_id,
            state=page["state"],
            seq=page["seq"],
            quality=quality,
            preview=preview_path,
        )
        if ok:
            self._beep("ok")
            self._show("ready")
            self.enqueue(page_id, actor)
        else:
            self._beep("error")
            self._show("attention")
        return CaptureOutcome(self.catalog.get_page(page_id), quality, preview_path, timings)

    def accept_page(self, page_id: str, actor: str) -> dict[str, Any]:
        """The clerk keeps a page a quality gate flagged (e.g. a faint but legible copy)."""
        page = self.catalog.get_page(page_id)
        self._editable(page["doc_id"])
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
        self.catalog.audit(actor, "page.accept", page["doc_id"], page_id, issues=sorted(codes))
        self.enqueue(page_id, actor)
        return self.catalog.get_page(page_id)

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

    def scan_batch(self, actor: str, doc_id: str | None = None) -> list[CaptureOutcome]:
        """Scan with the document scanner: one flatbed page, or every sheet in the feeder.

        Each page enters the catalog as soon as the scanner delivers it, so a jam or an
        unplugged scanner mid-batch keeps the pages already scanned (and says so).
        """
        if self.scanner is None:
            raise KioskError(
                "no_scanner", "No scanner is configured.", "Chưa cấu hình máy quét.", status=409
            )
        with self._capture_lock:
            if doc_id is None:
                doc_id = self._capture_target(actor, self.current_doc_id, source="scanner")
            self._show("busy")
            outcomes: list[CaptureOutcome] = []
            try:
                for frame in self.scanner.iter_scan():
                    out = self.ingest_frame(frame.jpeg, actor, doc_id, truth=frame.truth)
                    outcomes.append(out)
                    if out.sheet is not None:  # a cover sheet or separator in the feeder
                        doc_id = out.sheet["doc_id"]
            except KioskError:
                raise
            except Exception as exc:
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
                self._set_error(err)
                self._beep("error")
                raise err from exc
            return outcomes

    def retake(self, page_id: str, actor: str) -> CaptureOutcome:
        page = self.catalog.get_page(page_id)
        return self.capture(actor, page["doc_id"], replaces=page_id)

    def delete_page(self, page_id: str, actor: str) -> None:
        page = self.catalog.get_page(page_id)
        self._editable(page["doc_id"])
        self.catalog.transition_page(page_id, PageState.DELETED, actor)
        self.events.publish("page", page_id=page_id, doc_id=page["doc_id"], state="deleted")
        self._check_document_done(page["doc_id"])

    def rotate_page(self, page_id: str, quarter_turns: int, actor: str) -> dict[str, Any]:
        page = self.catalog.get_page(page_id)
        self._editable(page["doc_id"])
        rotation = ((page.get("rotation") or 0) + quarter_turns) % 4
        self.catalog.update_page(page_id, actor, "page.rotate", rotation=rotation)
        if page["state"] in (PageState.DONE, PageState.FAILED):
            doc = self.catalog.get_document(page["doc_id"])
            if doc["state"] == DocState.REVIEW:
                self.catalog.transition_document(
                    doc["id"], DocState.PROCESSING, actor, reason="page rotated"
                )
            self.enqueue(page_id, actor)
        elif page.get("preview_path") and Path(page["preview_path"]).exists():
            import cv2

            img = cv2.imread(page["preview_path"])
            if img is not None:
                atomic_write_bytes(
                    page["preview_path"], encode_jpeg(rotate(img, quarter_turns), 80)
                )
        return self.catalog.get_page(page_id)

    def finish(self, doc_id: str, actor: str) -> dict[str, Any]:
        """The clerk is done capturing: process the rest, then review."""
        doc = self._editable(doc_id)
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
        for p in pages:
            if p["state"] in (PageState.CAPTURED, PageState.PREVIEWED, PageState.FAILED):
                self.enqueue(p["id"], actor)
        if self.current_doc_id == doc_id:
            self.current_doc_id = None
        self._check_document_done(doc_id)
        return self.catalog.get_document(doc_id)

    def park(self, actor: str, reason: str) -> str | None:
        """Set the open document aside (sign-out, idle reset); it stays in ``capturing``
        with every page, listed for resuming. Never discards anything."""
        with self._capture_lock:
            doc_id = self.current_doc_id
            if doc_id is None:
                return None
            self.current_doc_id = None
        self.catalog.audit(actor, "document.parked", doc_id, reason=reason)
        self.events.publish("document", doc_id=doc_id, state="parked")
        return doc_id

    def resume(self, doc_id: str, actor: str) -> dict[str, Any]:
        """Make a parked or finished-but-unsaved document the one being captured again."""
        doc = self.catalog.get_document(doc_id)
        if doc["state"] in (DocState.PROCESSING, DocState.REVIEW, DocState.FAILED):
            doc = self.catalog.transition_document(
                doc_id, DocState.CAPTURING, actor, reason="resumed to add or retake pages"
            )
        elif doc["state"] not in (DocState.OPEN, DocState.CAPTURING):
            raise KioskError(
                "not_resumable",
                "This document is saved; it can no longer be changed.",
                "Tài liệu này đã lưu, không thể thay đổi.",
            )
        with self._capture_lock:
            self.current_doc_id = doc_id
        self.catalog.audit(actor, "document.resume", doc_id)
        return doc

    def discard(self, doc_id: str, actor: str) -> None:
        self._editable(doc_id)
        self.catalog.transition_document(doc_id, DocState.DISCARDED, actor)
        if self.current_doc_id == doc_id:
            self.current_doc_id = None

    # -- sealing ------------------------------------------------------------------------
    def seal(
        self,
        doc_id: str,
        actor: str,
        *,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write the archival PDF/A, record its hash; a crash mid-way is redone at start."""
        doc = self.catalog.get_document(doc_id)
        if doc["state"] == DocState.REVIEW:
            fields: dict[str, Any] = {}
            if title is not None:
                fields["title"] = title
            if metadata is not None:
                fields["metadata"] = {**doc["metadata"], **metadata}
            doc = self.catalog.transition_document(doc_id, DocState.SEALING, actor, **fields)
        elif doc["state"] != DocState.SEALING:
            raise KioskError(
                "not_ready",
                f"Document {doc_id} is {doc['state']}; it can be saved once every page "
                "is processed.",
                "Tài liệu chưa xử lý xong, hãy đợi rồi lưu lại.",
            )
        return self._write_sealed(doc, actor)

    def _write_sealed(self, doc: dict[str, Any], actor: str) -> dict[str, Any]:
        from dataclasses import replace

        from firmware.metadata.glue import (
            catalog_metadata,
            prepare_archival,
            sidecar_fields,
            xmp_archival,
        )
        from firmware.metadata.model import MetadataError
        from firmware.seal import DocumentInfo, SealError, SealPage, seal_pdf
        from firmware.signing import SigningError, sign_with_config

        doc_id = doc["id"]
        pages = self.catalog.pages(doc_id)
        meta = doc["metadata"] or {}
        # Metadata first: a clerk's mistake sends the document back to review before any
        # file is written (and before a sequence number in the record file is taken).
        try:
            archival = prepare_archival(
                self.catalog,
                doc,
                actor,
                page_count=len(pages),
                types=self.settings.metadata.document_types,
                party_codes_file=self.settings.metadata.party_codes_file,
            )
        except MetadataError as exc:
            self.catalog.transition_document(
                doc_id,
                DocState.REVIEW,
                actor,
                reason="metadata_invalid",
                error_code="metadata_invalid",
                error_message=exc.message_en,
            )
            err = KioskError("metadata_invalid", exc.message_en, exc.message_vi, status=422)
            self._set_error(err)
            raise err from exc
        seal_pages = []
        for p in pages:
            ocr = json.loads(Path(p["ocr_path"]).read_text(encoding="utf-8"))
            words = OcrResult.from_dict(ocr).words
            image = Path(p["image_path"])
            seal_pages.append(
                SealPage(image=image, dpi=ocr["dpi"], words=words, encoded=image.read_bytes())
            )
        title = doc["title"] or self._default_title(doc)
        created = datetime.fromisoformat(doc["created_at"])
        info = DocumentInfo(
            doc_id=doc_id,
            title=title,
            created=created if created.tzinfo else created.replace(tzinfo=UTC),
            kiosk_id=self.settings.kiosk_id,
            language="vi",
            subject=archival.subject,
            keywords=list(archival.keywords),
            archival=xmp_archival(archival, meta),
        )
        out = self.paths.sealed_pdf(doc_id)
        signature: dict[str, Any] | None = None
        try:
            crashpoint("seal.write")
            result = seal_pdf(
                seal_pages,
                info,
                out,
                image_dpi=self.settings.seal.image_dpi,
                jpeg_quality=self.settings.seal.jpeg_quality,
            )
            crashpoint("seal.after_write")
            # PAdES as an incremental update of the sealed file, replacing it atomically:
            # the signed file is the one hashed, recorded and sent.
            signed = sign_with_config(out, out, self.settings.signing)
            if signed is not None:
                result = replace(result, sha256=signed.sha256, size=signed.size)
                signature = {
                    "backend": signed.backend,
                    "field": signed.field_name,
                    "signer": signed.signer,
                    "format": "PAdES B-B (ETSI.CAdES.detached)",
                }
            sidecar = {
                "id": doc_id,
                "title": title,
                "kiosk_id": self.settings.kiosk_id,
                "created": doc["created_at"],
                "sealed": datetime.now(UTC).isoformat(timespec="seconds"),
                "page_count": result.page_count,
                "sha256": result.sha256,
                "content_sha256": result.content_sha256,
                "metadata": meta,
                **sidecar_fields(archival),
                "signature": signature,
                "pages": [
                    {
                        "seq": p["seq"],
                        "id": p["id"],
                        "frame_sha256": p["frame_sha256"],
                        "paper": p["paper"],
                    }
                    for p in pages
                ],
            }
            atomic_write_bytes(
                self.paths.sealed_sidecar(doc_id),
                json.dumps(sidecar, ensure_ascii=False, indent=2).encode(),
            )
        except (SealError, SigningError, OSError, ValueError) as exc:
            if isinstance(exc, OSError):
                err = disk_error(exc, "document")
            elif isinstance(exc, SigningError):
                err = KioskError(exc.code, exc.message_en, exc.message_vi, status=503)
            else:
                err = KioskError(
                    "seal_failed",
                    f"Sealing failed: {exc}",
                    "Không tạo được tệp PDF lưu trữ; hãy thử lưu lại.",
                    status=500,
                )
            self.catalog.transition_document(
                doc_id,
                DocState.FAILED,
                actor,
                error_code=err.code,
                error_message=err.message_en,
            )
            self._set_error(err)
            raise err from exc
        doc = self.catalog.transition_document(
            doc_id,
            DocState.SEALED,
            actor,
            sha256=result.sha256,
            content_sha256=result.content_sha256,
            pdf_path=str(result.path),
            pdf_size=result.size,
            title=title,
            metadata=catalog_metadata(archival, meta),
        )
        self.events.publish("document", doc_id=doc_id, state="sealed", sha256=result.sha256)
        from firmware.register.hooks import after_seal  # register link, selection audit

        after_seal(self.catalog, self.settings, doc, actor)
        return self._route_sealed(doc, actor)

    def _route_sealed(self, doc: dict[str, Any], actor: str) -> dict[str, Any]:
        """Ordinary documents enter the uplink outbox (sealed -> queued, one transaction
        with the outbox row and audit); confidential ones stay sealed for secure USB."""
        from firmware.uplink.outbox import route_sealed

        crashpoint("seal.before_route")
        doc = route_sealed(self.catalog, doc, actor)
        if doc["state"] == DocState.QUEUED:
            self.events.publish("document", doc_id=doc["id"], state="queued")
            if self.uplink is not None:
                self.uplink.wake()
        return doc

    @staticmethod
    def _default_title(doc: dict[str, Any]) -> str:
        created = datetime.fromisoformat(doc["created_at"])
        return f"Tài liệu số hóa {created:%d/%m/%Y %H:%M}"

    # -- status -------------------------------------------------------------------------
    @property
    def capturing(self) -> bool:
        """A capture or scan is under way (its frame is being exposed, stored or
        previewed), so the live view rests and leaves the CPU to it."""
        early = self._early
        return self._capture_lock.locked() or (early is not None and early.busy)

    def status(self) -> dict[str, Any]:
        cam = self.camera
        return {
            "kiosk_id": self.settings.kiosk_id,
            "camera": {
                "backend": self.settings.camera.backend,
                "available": bool(cam is not None and getattr(cam, "available", True)),
            },
            "pedal": {
                "backend": self.settings.pedal.backend,
                "available": bool(
                    self.pedal is not None and getattr(self.pedal, "available", True)
                ),
            },
            "scanner": {"available": self.scanner is not None},
            "capture_source": self.capture_source,
            "ocr": {"available": self.tessdata is not None, "backlog": self.backlog()},
            "current_document": self.current_doc_id,
            "last_error": self.last_error.to_dict() if self.last_error else None,
            "audit_head": self.catalog.audit_head()[1],
            "uplink": self.uplink_status(),
        }

    def uplink_status(self) -> dict[str, Any]:
        """Upload queue for the status bar: n waiting, last success, last error in words."""
        from firmware.uplink.status import uplink_status

        return uplink_status(self.catalog, self.paths, self.settings.uplink, self.uplink)

    def extract_metadata(self, doc_id: str) -> dict[str, Any]:
        """Fields read from page 1's stored OCR words, for the review screen to pre-fill.

        Returns ``{"fields": {name: {"value", "confidence"}}, "metadata": {...},
        "low_confidence": [names], "page_id": ...}``; ``metadata`` uses the model's keys
        (``doc_type`` code, ``number``, ``symbol``, ``date``...), ready for :meth:`seal`.
        Raises :class:`KioskError` when page 1 is not processed yet.
        """
        from firmware.metadata.extract import extract_fields
        from firmware.metadata.types import registry

        pages = self.catalog.pages(doc_id)
        first = pages[0] if pages else None
        if first is None or first["state"] != PageState.DONE or not first.get("ocr_path"):
            raise KioskError(
                "page_not_ready",
                "Page 1 is not processed yet; metadata can be read once it is.",
                "Trang 1 chưa xử lý xong; hãy đợi rồi đọc lại thông tin.",
            )
        ocr = json.loads(Path(first["ocr_path"]).read_text(encoding="utf-8"))
        width, height = ocr.get("width"), ocr.get("height")  # OCR pixel space
        ext = extract_fields(
            ocr.get("words", []),
            page_width=width,
            page_height=height,
            types=registry(self.settings.metadata.document_types),
        )
        from firmware.sheet_flow import confirmed_fields

        result = {
            "page_id": first["id"],
            "fields": ext.to_dict(),
            "metadata": ext.to_metadata(),
            "low_confidence": ext.low_confidence(self.settings.metadata.low_confidence),
        }
        # Values read from a QR cover sheet are confirmed, not guessed: they win over OCR.
        return confirmed_fields(result, self.catalog.get_document(doc_id)["metadata"] or {})


@dataclass
class _EarlyFrame:
    """The still exposed when the pedal went down, waiting for the press at release."""

    at: float  # time.monotonic() of the pedal going down
    done: cf.Future[tuple[Any, PreparedFrame]]
    dropped: bool = False

    @property
    def busy(self) -> bool:
        if not self.done.done():
            return True
        if self.done.exception() is not None:
            return False
        return not self.done.result()[1].preview.done()

    def discard(self) -> None:
        self.dropped = True
        if self.done.cancel() or not self.done.done() or self.done.exception() is not None:
            return
        self.done.result()[1].drop()


def outcome_dict(outcome: CaptureOutcome) -> dict[str, Any]:
    return asdict(outcome)
