"""``sohoa selftest``: can this installed release do the kiosk's job right now?

The update health gate (:mod:`provisioning.agent.updates.gate`) runs it from the *new*
release after a switch, so it checks what an update can break, with the release's own code:
the catalog opens and answers, a capture device answers (the camera, else a scanner), OCR
recognizes a sample page rendered here, the data directory takes a durable write. It exits
0, or 1 with the first reason (Vietnamese first, English second). It never writes to the
catalog, so it may run while the service runs.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from firmware.config import Settings
from firmware.doctor import check_camera, check_disk

if TYPE_CHECKING:  # numpy is imported where the page is drawn, not at start-up
    import numpy as np

SAMPLE_WORDS = ("SOHOA", "2026")


@dataclass
class SelfCheck:
    name: str
    ok: bool
    reason_en: str = ""
    reason_vi: str = ""


def check_catalog(s: Settings) -> SelfCheck:
    from firmware.store.paths import DataPaths

    path = DataPaths(s.data_dir).catalog
    if not path.exists():  # a fresh kiosk: the service creates it at start
        return SelfCheck("catalog", True)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            row = con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return SelfCheck(
            "catalog", False, f"catalog does not open: {exc}", "Không mở được sổ dữ liệu"
        )
    if row is None or row[0] != "ok":
        return SelfCheck("catalog", False, f"catalog damaged: {row}", "Sổ dữ liệu bị hỏng")
    return SelfCheck("catalog", True)


def check_capture(s: Settings) -> SelfCheck:
    if s.camera.backend != "none":
        c = check_camera(s)
        return SelfCheck("capture", c.ok, c.detail_en, c.detail_vi)
    if s.scanner.enabled:
        from drivers.scanner import ScannerError, list_scanners

        try:
            found = list_scanners(timeout_s=20)
        except ScannerError as exc:
            return SelfCheck("capture", False, f"scanner: {exc}", "Máy quét không trả lời")
        if found:
            return SelfCheck("capture", True)
        return SelfCheck("capture", False, "no scanner answers", "Không thấy máy quét")
    return SelfCheck(
        "capture",
        False,
        "no camera and no scanner configured",
        "Chưa cấu hình máy ảnh hay máy quét",
    )


def sample_page() -> np.ndarray:
    """A small page with known words, drawn here (no test data shipped in the release)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (900, 220), 255)
    draw = ImageDraw.Draw(img)
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(
            "DejaVuSans.ttf", 64
        )
    except OSError:
        font = ImageFont.load_default(size=64)
    draw.text((40, 60), " ".join(SAMPLE_WORDS), fill=0, font=font)
    return np.asarray(img)


def check_ocr(s: Settings) -> SelfCheck:
    from firmware.ocr.engine import Engine, OcrError, find_tessdata

    try:
        engine = Engine(find_tessdata(s.ocr.tessdata, s.ocr.languages), s.ocr.languages)
    except (OcrError, RuntimeError) as exc:
        return SelfCheck(
            "ocr", False, f"OCR does not start: {exc}", "Nhận dạng chữ không khởi động được"
        )
    try:
        result = engine.recognize(sample_page(), dpi=300)
    finally:
        engine.close()
    text = " ".join(w.text for w in result.words).upper()
    missing = [w for w in SAMPLE_WORDS if w not in text]
    if missing:
        return SelfCheck(
            "ocr",
            False,
            f"OCR misread the sample page: {text!r}",
            "Nhận dạng chữ sai trên trang mẫu",
        )
    return SelfCheck("ocr", True)


def check_writable(s: Settings) -> SelfCheck:
    c = check_disk(s)
    if not c.ok and "cannot write" in c.detail_en:
        return SelfCheck("disk", False, c.detail_en, c.detail_vi)
    probe = Path(s.data_dir) / ".selftest-probe"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"ok")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        return SelfCheck(
            "disk", False, f"data directory not writable: {exc}", "Không ghi được dữ liệu"
        )
    return SelfCheck("disk", True)


CHECKS: tuple[Callable[[Settings], SelfCheck], ...] = (
    check_catalog,
    check_capture,
    check_ocr,
    check_writable,
)


def run_selftest(s: Settings) -> list[SelfCheck]:
    return [check(s) for check in CHECKS]
