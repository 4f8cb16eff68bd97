"""The one place that knows where things live under the data directory.

Layout: ``catalog.db`` (SQLite, WAL), ``spool/`` (raw frames as captured), ``work/``
(flattened pages, previews, OCR results), ``sealed/`` (archival PDFs and JSON sidecars),
``outbox/`` (documents waiting for the uplink). File names derive from ids only, so
recovery can rebuild the relation between rows and files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.db"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def sealed(self) -> Path:
        return self.root / "sealed"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> DataPaths:
        """Create the directories; the data dir is the service user's alone (0750: the
        group may back it up), since it holds classified documents and their text."""
        for d in (self.root, self.spool, self.work, self.sealed, self.outbox, self.logs):
            d.mkdir(mode=0o750, parents=True, exist_ok=True)
        if self.root.stat().st_mode & 0o027:
            self.root.chmod(0o750)
        return self

    # Per-page files -----------------------------------------------------------------
    def frame(self, doc_id: str, page_id: str) -> Path:
        """Raw camera frame as captured (JPEG), the page's source of truth until sealed."""
        return self.spool / doc_id / f"{page_id}.jpg"

    def frame_truth(self, doc_id: str, page_id: str) -> Path:
        """Ground truth the sim camera knows about a frame (tests and benchmarks only; the
        kiosk never reads it back: how a frame was taken is in the page's catalog row)."""
        return self.spool / doc_id / f"{page_id}.truth.json"

    def preview(self, doc_id: str, page_id: str) -> Path:
        return self.work / doc_id / f"{page_id}.preview.jpg"

    def page_image(self, doc_id: str, page_id: str) -> Path:
        """The page's archival image layer: flattened, deskewed, resampled to the seal's
        image dpi and JPEG-encoded exactly as it will be embedded in the PDF/A."""
        return self.work / doc_id / f"{page_id}.archival.jpg"

    def page_ocr(self, doc_id: str, page_id: str) -> Path:
        return self.work / doc_id / f"{page_id}.ocr.json"

    # Per-document files ---------------------------------------------------------------
    def sealed_pdf(self, doc_id: str) -> Path:
        return self.sealed / f"{doc_id}.pdf"

    def sealed_sidecar(self, doc_id: str) -> Path:
        return self.sealed / f"{doc_id}.json"

    def document_files(self, doc_id: str) -> tuple[list[Path], list[Path]]:
        """Every local copy of a document: (files, directories), for purging after a
        verified delivery or export. Catalog rows, metadata and audit are not files."""
        return (
            [self.sealed_pdf(doc_id), self.sealed_sidecar(doc_id)],
            [self.spool / doc_id, self.work / doc_id],
        )

    def remove_document_files(self, doc_id: str) -> None:
        """Delete a document's local copies; missing ones are fine (a purge may be redone),
        one that cannot be removed raises so the purge is not recorded as done."""
        import errno
        import shutil

        files, dirs = self.document_files(doc_id)
        for p in files:
            p.unlink(missing_ok=True)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
            if d.exists():
                raise OSError(errno.EBUSY, f"could not remove {d}")
