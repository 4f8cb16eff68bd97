"""``sohoa extract IMAGE|PDF``: read a document's metadata from its first page, as JSON.

For provincial IT and for checking the extractor on real paper: a camera photo or a scan
goes through the same page pipeline and OCR as on the kiosk; a PDF's first page is rendered
at 300 dpi with poppler's ``pdftoppm``. Output: ``{"kind": {"value", "confidence"}, "type":
..., "number", "symbol", "date" (ISO 8601), "issuer", "subject"}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

PDF_DPI = 300


class ExtractInputError(Exception):
    """The input cannot be read; messages in both languages."""

    def __init__(self, message_en: str, message_vi: str):
        super().__init__(message_en)
        self.message_en, self.message_vi = message_en, message_vi


def _render_pdf_page1(path: Path) -> np.ndarray:
    import cv2

    if shutil.which("pdftoppm") is None:
        raise ExtractInputError(
            "pdftoppm (poppler-utils) is needed to read PDF files",
            "Cần cài poppler-utils (pdftoppm) để đọc tệp PDF.",
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "page"
        proc = subprocess.run(
            ["pdftoppm", "-r", str(PDF_DPI), "-f", "1", "-l", "1", "-png", str(path), str(out)],
            capture_output=True,
            timeout=120,
        )
        pngs = sorted(Path(tmp).glob("page*.png"))
        if proc.returncode != 0 or not pngs:
            raise ExtractInputError(
                f"cannot render {path.name}: {proc.stderr.decode(errors='replace').strip()}",
                f"Không đọc được tệp PDF {path.name}.",
            )
        image = cv2.imread(str(pngs[0]))
    if image is None:
        raise ExtractInputError(f"cannot render {path.name}", f"Không đọc được {path.name}.")
    return image


def page_image(path: Path, settings: Any) -> tuple[np.ndarray, int]:
    """The flattened first page (BGR) and its dpi, from a photo, a scan or a PDF."""
    from firmware import pipeline

    if not path.is_file():
        raise ExtractInputError(f"{path} not found", f"Không tìm thấy tệp {path}.")
    if path.read_bytes()[:5] == b"%PDF-":
        return _render_pdf_page1(path), PDF_DPI
    try:
        result = pipeline.process_page(path, settings.pipeline)
    except pipeline.CorruptFrame as exc:
        raise ExtractInputError(
            f"{path.name} is not a readable image: {exc}",
            f"Tệp {path.name} không phải ảnh đọc được.",
        ) from exc
    return result.image, result.dpi


def extract_file(path: Path, settings: Any) -> dict[str, Any]:
    """OCR the first page of ``path`` and extract its fields (the JSON of the command)."""
    from firmware.metadata.extract import extract_fields
    from firmware.metadata.types import registry
    from firmware.ocr.engine import Engine, find_tessdata

    image, dpi = page_image(path, settings)
    engine = Engine(
        find_tessdata(settings.ocr.tessdata, settings.ocr.languages), settings.ocr.languages
    )
    try:
        ocr = engine.recognize(image, dpi)
    finally:
        engine.close()
    h, w = image.shape[:2]
    ext = extract_fields(
        ocr.words,
        page_width=w,
        page_height=h,
        types=registry(settings.metadata.document_types),
    )
    return ext.to_dict()


def cmd_extract(args: argparse.Namespace) -> int:
    from firmware.cli.args import settings_from_args
    from firmware.ocr.engine import OcrError

    settings = settings_from_args(args)
    try:
        fields = extract_file(Path(args.file), settings)
    except ExtractInputError as exc:
        print(f"{exc.message_vi}\n{exc.message_en}", file=sys.stderr)
        return 1
    except OcrError as exc:
        print(f"{exc.message_vi}\n{exc}", file=sys.stderr)
        return 1
    print(json.dumps(fields, ensure_ascii=False, indent=None if args.compact else 2))
    return 0


def register(sub: Any) -> None:
    """Add ``extract`` to the ``sohoa`` sub-commands (``sub`` from add_subparsers)."""
    p = sub.add_parser(
        "extract",
        help="read type, number, symbol, date, issuer, subject from page 1 (JSON)",
    )
    p.add_argument("file", help="photo or scan (JPEG/PNG/TIFF) or PDF of the document")
    p.add_argument("--compact", action="store_true", help="one line of JSON")
    p.set_defaults(func=cmd_extract)
