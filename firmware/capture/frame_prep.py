"""The clerk's per-frame feedback, computed side by side: QR sheet search and page preview.

Every captured frame needs two independent looks before it becomes a page (or not): the
QR search for a cover sheet or separator (:mod:`firmware.coversheet.reader`) and the page preview with
its quality verdict (:func:`firmware.pipeline.make_preview`). Both are pure functions of the
JPEG bytes, mostly spent in OpenCV and libjpeg, which release the GIL; run on two threads
they overlap each other, and the preview also overlaps the durable write of the frame (which
waits for the sheet verdict: a sheet is never stored as a page), so the thumbnail reaches
the screen sooner (budget: pedal press -> thumbnail 0.5 s).

:class:`PreparedFrame` holds the two futures. Nothing here writes a file or touches the
catalog: if the frame turns out to be a sheet, the preview is simply dropped.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from dataclasses import dataclass

from firmware import pipeline
from firmware.config import Settings
from firmware.coversheet.reader import SheetRead, read_sheet

log = logging.getLogger("sohoa.frame_prep")


@dataclass
class PreparedFrame:
    """One frame's sheet check and preview, under way (or done)."""

    sheet: cf.Future[SheetRead] | None  # None when cover sheets are off
    preview: cf.Future[pipeline.PreviewResult]

    def sheet_read(self) -> SheetRead | None:
        return None if self.sheet is None else self.sheet.result()

    def preview_result(self) -> pipeline.PreviewResult:
        return self.preview.result()

    def drop(self) -> None:
        """The frame will not become a page: stop what has not started."""
        self.preview.cancel()
        if self.sheet is not None:
            self.sheet.cancel()


class FramePreparer:
    """Two worker threads for the per-frame looks (one frame at a time is the norm; a
    scanner batch queues its pages in order)."""

    def __init__(self, settings: Settings, workers: int = 2) -> None:
        self.settings = settings
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="frame-prep")

    def prepare(self, jpeg: bytes, *, scan_dpi: int | None = None) -> PreparedFrame:
        sheet = None
        if self.settings.metadata.cover_sheets:
            sheet = self._pool.submit(read_sheet, jpeg, types=self.settings.metadata.document_types)
        preview = self._pool.submit(
            pipeline.make_preview, jpeg, self.settings.pipeline, scan_dpi=scan_dpi
        )
        return PreparedFrame(sheet, preview)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
