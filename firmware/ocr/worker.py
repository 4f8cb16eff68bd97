"""Work that runs in the OCR worker processes: full-resolution page processing and OCR.

A job is plain data in and plain data out (paths, numbers, strings), so it crosses the
process boundary cheaply and a worker holds no catalog connection: the service process is
the only writer of the catalog. Outputs are written atomically before the result is
returned, so a result that reaches the catalog always points at complete files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from drivers.camera.base import downscale_for_preview
from firmware.store.crashpoints import crashpoint
from sohoa_common.atomic import atomic_write_bytes

_ENGINE: Any = None


@dataclass
class PageJob:
    doc_id: str
    page_id: str
    frame_path: str
    quad: list[list[float]] | None
    rotation: int  # quarter turns clockwise chosen by the clerk
    pipeline: dict[str, Any]  # PipelineConfig as a dict
    image_path: str
    ocr_path: str
    preview_path: str
    preview_width: int
    image_dpi: int = 200  # archival image layer resolution (seal.image_dpi)
    jpeg_quality: int = 55  # archival image layer JPEG quality (seal.jpeg_quality)
    scan_dpi: int | None = None  # set for scanner pages: no perspective, known size
    first_page: bool = False  # page 1: its header is read again, enlarged (metadata)


def init_worker(tessdata: str, languages: str) -> None:
    """Process-pool initializer: one Tesseract engine per worker, single-threaded."""
    global _ENGINE
    os.environ["OMP_THREAD_LIMIT"] = "1"
    # Background work yields to the clerk: capture, preview and the UI run in the service
    # process at normal priority, so a pedal press is answered while OCR of earlier pages
    # keeps both cores busy.
    try:
        os.nice(10)
    except OSError:
        pass
    cv2.setNumThreads(1)
    from firmware.ocr.engine import Engine

    _ENGINE = Engine(tessdata, languages)


def warm_up() -> int:
    """A no-op job: makes the pool start its worker (imports, Tesseract engine) now."""
    return os.getpid()


def _trim_heap() -> None:
    """Give freed page buffers back to the OS: a worker idles between pages, and on a 2 GB
    Pi the browser needs that memory more than glibc's free lists do."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rotate(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    k = quarter_turns % 4
    if k == 0:
        return image
    codes = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(image, codes[k])


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def recognize_page(engine: Any, image: np.ndarray, dpi: int, *, first_page: bool) -> Any:
    """OCR a page as the archive keeps it: page 1's header read again enlarged for lines
    the page pass missed, and headings in capitals with their marks back (the text layer
    and the index read "QUYẾT ĐỊNH", not "QUYET DINH"). The extraction bench calls this
    too, so it measures what the kiosk stores."""
    from firmware.metadata.reread import reread_header
    from firmware.metadata.textlayer import restore_text, restore_words

    ocr = engine.recognize(image, dpi)
    # A page the full pass found no word on is a picture, a map or an empty form: reading
    # its top band enlarged only makes Tesseract see words in lines and shading (the SANE
    # grid read "Ta ng : nn Ee"), so it keeps its empty text layer and its note.
    if first_page and ocr.words:
        extra = reread_header(engine, image, dpi, ocr.words)
        ocr.words.extend(extra)
        missed: dict[int, list[str]] = {}
        for w in extra:
            missed.setdefault(w.line, []).append(w.text)
        if missed:
            lines = "\n".join(" ".join(v) for v in missed.values())
            ocr.text = ocr.text.rstrip("\n") + "\n" + lines + "\n"
    restore_words(ocr.words)
    ocr.text = restore_text(ocr.text)
    return ocr


def run_page_job(job: PageJob) -> dict[str, Any]:
    """Warp/flatten the frame at full resolution, OCR it, write the page image and words."""
    from firmware.config import PipelineConfig
    from firmware.pipeline import process_page

    if _ENGINE is None:  # called outside a pool (tests, single-process mode)
        from firmware.ocr.engine import find_tessdata

        init_worker(find_tessdata(), "vie+eng")
    cfg = PipelineConfig(**job.pipeline)
    quad = np.array(job.quad, dtype=np.float32) if job.quad else None
    result = process_page(Path(job.frame_path), cfg, quad, scan_dpi=job.scan_dpi)
    image = rotate(result.image, job.rotation)
    crashpoint("ocr.running")
    ocr = recognize_page(_ENGINE, image, result.dpi, first_page=job.first_page)
    from firmware.archive.image_layer import encode_archival_jpeg

    archival = encode_archival_jpeg(image, result.dpi, job.image_dpi, job.jpeg_quality)
    atomic_write_bytes(job.image_path, archival)
    atomic_write_bytes(
        job.preview_path, encode_jpeg(downscale_for_preview(image, job.preview_width), 80)
    )
    height, width = image.shape[:2]
    payload = {
        "dpi": result.dpi,
        "width": width,
        "height": height,
        "paper": result.paper,
        **ocr.to_dict(),
    }
    atomic_write_bytes(job.ocr_path, json.dumps(payload, ensure_ascii=False).encode())
    dpi, paper, skew = result.dpi, result.paper, result.skew_deg
    del image, result
    _trim_heap()
    crashpoint("ocr.after_write")
    return {
        "page_id": job.page_id,
        "doc_id": job.doc_id,
        "image_path": job.image_path,
        "ocr_path": job.ocr_path,
        "preview_path": job.preview_path,
        "text": ocr.text,
        "mean_conf": ocr.mean_conf,
        "word_count": len(ocr.words),
        "dpi": dpi,
        "paper": paper,
        "skew_deg": skew,
    }
