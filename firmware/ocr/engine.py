"""OCR with Tesseract through tesserocr: one engine per worker process.

Why processes: Tesseract holds the GIL-free C++ engine but tesserocr's API object is not
safe to share, and a crash or memory blow-up in an engine must not take the kiosk service
down. Each worker builds its engine once (loading ``vie`` takes ~0.5 s) and reuses it for
every page. ``OMP_THREAD_LIMIT=1`` keeps Tesseract from oversubscribing the Pi's cores:
parallelism comes from the pool, never from OpenMP inside one page.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware.errors import KioskError

SYSTEM_TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


class OcrError(KioskError):
    """OCR cannot run; ``code`` is stable ("tessdata_missing", "engine")."""

    def __init__(self, code: str, message: str, message_vi: str = ""):
        super().__init__(code, message, message_vi or message, status=503)


@dataclass
class Word:
    """One OCR word with its box in the page image (pixels, origin top-left); the same
    record travels from the worker through the OCR JSON into the PDF text layer."""

    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float  # 0..100
    line: int = 0  # line index: words of a line share a baseline
    baseline: int | None = None  # optional baseline y in pixels


@dataclass
class OcrResult:
    words: list[Word] = field(default_factory=list)
    text: str = ""
    mean_conf: float = 0.0
    languages: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "words": [asdict(w) for w in self.words],
            "text": self.text,
            "mean_conf": self.mean_conf,
            "languages": self.languages,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OcrResult:
        return cls(
            words=[Word(**w) for w in d.get("words", [])],
            text=d.get("text", ""),
            mean_conf=d.get("mean_conf", 0.0),
            languages=d.get("languages", ""),
        )


def find_tessdata(configured: str = "", languages: str = "vie+eng") -> str:
    """Return a tessdata directory holding every requested language, or raise OcrError."""
    wanted = [lang for lang in languages.split("+") if lang]
    candidates = [configured] if configured else []
    if not configured:
        env = os.environ.get("TESSDATA_PREFIX")
        if env:
            candidates.append(env)
        candidates += list(SYSTEM_TESSDATA_CANDIDATES)
    for cand in candidates:
        if cand and all((Path(cand) / f"{lang}.traineddata").is_file() for lang in wanted):
            return cand
    where = configured or ", ".join(candidates)
    missing = ", ".join(f"{lang}.traineddata" for lang in wanted)
    raise OcrError(
        "tessdata_missing",
        f"Tesseract language data not found ({missing} in {where}); "
        "install tesseract-ocr-vie (apt) or set ocr.tessdata",
        "Thiếu dữ liệu nhận dạng chữ tiếng Việt (tesseract-ocr-vie); "
        "hãy báo cán bộ kỹ thuật cài đặt lại.",
    )


#: Leptonica's message level that prints nothing (``L_SEVERITY_NONE`` in environ.h).
_LEPT_SEVERITY_NONE = 6


def quiet_leptonica() -> bool:
    """Stop Leptonica's stderr chatter ("Error in boxClipToRectangle: box outside
    rectangle", two lines on many pages): Tesseract's layout analysis handles those returns
    itself, and on a kiosk they only flood the journal that IT reads for real faults.

    The library is the one Tesseract has loaded (a wheel bundles its own copy, Debian
    links the system one), found in this process's memory map. Returns whether it worked.
    """
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "lept" in line.rsplit("/", 1)[-1]}
        for path in sorted(paths):
            if path.startswith("/") and ".so" in path:
                ctypes.CDLL(path).setMsgSeverity(_LEPT_SEVERITY_NONE)
                return True
    except (OSError, AttributeError):
        pass
    return False


class Engine:
    """A Tesseract engine bound to one process; reuse it for many pages."""

    def __init__(self, tessdata: str, languages: str = "vie+eng"):
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        import tesserocr  # imported here: only workers need the C++ library loaded

        self._tesserocr = tesserocr
        quiet_leptonica()
        self.languages = languages
        self.api = tesserocr.PyTessBaseAPI(
            path=tessdata.rstrip("/") + "/",
            lang=languages,
            psm=tesserocr.PSM.AUTO,
            oem=tesserocr.OEM.LSTM_ONLY,
        )
        # Pages are dark text on flattened white paper: skip the inverted-text retry,
        # which otherwise re-recognises every low-confidence word (slow on a Pi).
        self.api.SetVariable("tessedit_do_invert", "0")
        self.api.SetVariable("preserve_interword_spaces", "0")

    def close(self) -> None:
        self.api.End()

    def recognize(self, image: np.ndarray, dpi: int = 300) -> OcrResult:
        """OCR a page image (BGR or grey uint8) and return words with boxes and confidences."""
        from PIL import Image

        tr = self._tesserocr
        if image.ndim == 3:
            import cv2

            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # uint8: no float temporaries
        else:
            grey = image
        pil = Image.fromarray(grey)
        self.api.SetImage(pil)
        self.api.SetSourceResolution(dpi)
        self.api.Recognize()
        words: list[Word] = []
        it = self.api.GetIterator()
        line_no = -1
        level = tr.RIL.WORD
        if it is not None:
            while True:
                if it.IsAtBeginningOf(tr.RIL.TEXTLINE):
                    line_no += 1
                text = _text_or_empty(it.GetUTF8Text, level)
                box = it.BoundingBox(level)
                if text and text.strip() and box:
                    x1, y1, x2, y2 = box
                    base = it.Baseline(tr.RIL.TEXTLINE)
                    baseline = None
                    if base:
                        (bx1, by1), (bx2, by2) = base
                        if bx2 != bx1:
                            cx = (x1 + x2) / 2
                            baseline = int(round(by1 + (by2 - by1) * (cx - bx1) / (bx2 - bx1)))
                        else:
                            baseline = int(by1)
                    words.append(
                        Word(
                            text=unicodedata.normalize("NFC", text.strip()),
                            left=int(x1),
                            top=int(y1),
                            width=int(x2 - x1),
                            height=int(y2 - y1),
                            conf=float(it.Confidence(level)),
                            line=max(line_no, 0),
                            baseline=baseline,
                        )
                    )
                if not it.Next(level):
                    break
        # A photograph, map, drawing, empty form or signature-only page has no text:
        # tesserocr raises "No text returned"; the page is kept with an empty text layer.
        text = unicodedata.normalize("NFC", _text_or_empty(self.api.GetUTF8Text))
        mean = float(np.mean([w.conf for w in words])) if words else 0.0
        self.api.Clear()
        return OcrResult(words=words, text=text, mean_conf=mean, languages=self.languages)


def _text_or_empty(get: Any, *args: Any) -> str:
    """tesserocr's text getters raise RuntimeError("No text returned") on a page or word
    without text; that is an answer (no text), not a failure."""
    try:
        return get(*args) or ""
    except RuntimeError as exc:
        if "No text" not in str(exc):
            raise
        return ""


#: The informational note of a page on which OCR found no text (it is archived anyway).
NO_TEXT_NOTE = {
    "code": "no_text",
    "severity": "info",
    "message_vi": "Không tìm thấy chữ trên trang (ảnh, bản đồ, bản vẽ, chữ ký...): trang vẫn "
    "được lưu, không có lớp chữ.",
    "message_en": "No text found on the page (a photograph, map, drawing, signature...): "
    "the page is archived without a text layer.",
}
