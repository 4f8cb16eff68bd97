"""The OCR pool: full-resolution processing and OCR of each page, beside capture.

Work for page N+1 (capture, preview) never waits for OCR of page N: pages go to a bounded
pool of worker processes (spawned, one Tesseract engine each) and the backlog is
published. The pool records each result in the catalog (page ``done`` with its image and
words, or ``failed`` with the reason) and then tells its owner the page settled
(:attr:`OcrPool.on_settled`), so the document flow can move the document on to review.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from firmware import pipeline
from firmware.config import Settings
from firmware.errors import KioskError
from firmware.events import EventBus, EventKind
from firmware.ocr.engine import NO_TEXT_NOTE, OcrError, find_tessdata
from firmware.ocr.worker import PageJob, init_worker, run_page_job, warm_up
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.store.states import PageState

log = logging.getLogger("sohoa.kiosk")


def _nothing(doc_id: str) -> None:
    """Default :attr:`OcrPool.on_settled`: nobody is waiting for the document."""


class OcrPool:
    """The worker processes, the pages they hold, and the recording of their results."""

    def __init__(
        self,
        settings: Settings,
        paths: DataPaths,
        catalog: Catalog,
        events: EventBus,
        *,
        workers: int,
    ):
        self.settings = settings
        self.paths = paths
        self.catalog = catalog
        self.events = events
        self.tessdata: str | None = None
        self.ocr_error: OcrError | None = None
        #: Called with the document id once a page of it settled (done, failed, not run).
        self.on_settled: Callable[[str], None] = _nothing
        self._workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._enqueue_lock = threading.RLock()
        self._futures: dict[str, cf.Future[dict[str, Any]]] = {}
        self._futures_lock = threading.Lock()
        self._idle = threading.Condition()

    def locate_language_data(self) -> None:
        """Find Tesseract's language data at start-up; missing data is a state (audited,
        shown by the status), not a crash: capture goes on and OCR waits for it."""
        try:
            self.tessdata = find_tessdata(self.settings.ocr.tessdata, self.settings.ocr.languages)
        except OcrError as exc:
            self.ocr_error = exc
            self.catalog.audit("system", "ocr.unavailable", error=str(exc))
            log.error("%s", exc)

    def warm_up(self) -> None:
        """Start the OCR worker now rather than at the first capture: spawning it (imports,
        Tesseract engine) takes a core for a second, which the first pedal press would pay.
        A failure shows again at the first page."""
        try:
            self._get_pool().submit(warm_up)
        except Exception as exc:  # OCR unavailable: reported by status() and at capture
            log.warning("OCR worker not started: %s", exc)

    def shutdown(self) -> None:
        """Stop the workers without waiting for the backlog: the page each worker is on
        finishes (an OCR run is not interrupted halfway), the pages not started go back to
        ``queued`` in the catalog and the next start's recovery hands them to the pool again.
        Waiting for a backlog of pages kept a stopping service (SIGTERM, an update's
        restart) busy far past systemd's stop timeout."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

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
        """Pages handed to the workers and not recorded yet."""
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
            first_page=page.get("seq") == 1,
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
                self.events.publish(
                    EventKind.PAGE, page_id=page_id, doc_id=page["doc_id"], state="failed"
                )
                self.on_settled(page["doc_id"])
                return
            with self._futures_lock:
                self._futures[page_id] = fut
        self.events.publish(EventKind.BACKLOG, backlog=self.backlog())
        fut.add_done_callback(functools.partial(self._on_job_done, page_id))

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
            self.events.publish(EventKind.BACKLOG, backlog=self.backlog())
            with self._idle:
                self._idle.notify_all()

    def _record_job(self, page_id: str, fut: cf.Future[dict[str, Any]]) -> None:
        page = self.catalog.get_page(page_id)
        if page["state"] == PageState.DELETED:
            return
        if fut.cancelled():  # not started when the pool stopped: waiting for a worker again
            if page["state"] == PageState.PROCESSING:
                self.catalog.transition_page(page_id, PageState.QUEUED, "system", reason="stopped")
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
            self.events.publish(
                EventKind.PAGE, page_id=page_id, doc_id=page["doc_id"], state="failed"
            )
        else:
            res = fut.result()
            self.catalog.set_page_text(page["doc_id"], page_id, res["text"])
            extra: dict[str, Any] = {}
            if res["word_count"] == 0:  # a page without text is a page: note it, keep it
                quality = dict(page.get("quality") or {})
                issues = [i for i in quality.get("issues", []) if i.get("code") != "no_text"]
                quality["issues"] = [*issues, NO_TEXT_NOTE]
                extra["quality"] = quality
            self.catalog.transition_page(
                page_id,
                PageState.DONE,
                "system",
                image_path=res["image_path"],
                ocr_path=res["ocr_path"],
                preview_path=res["preview_path"],
                paper=res["paper"],
                ocr_conf=res["mean_conf"],
                **extra,
            )
            self.events.publish(
                EventKind.PAGE,
                page_id=page_id,
                doc_id=page["doc_id"],
                state="done",
                words=res["word_count"],
                conf=res["mean_conf"],
            )
        self.on_settled(page["doc_id"])
