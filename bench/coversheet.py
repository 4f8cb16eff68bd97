"""What reading QR cover sheets costs per captured frame, and how often it reads them.

Not a test (tests never assert timings): run it by hand on the target machine,

    .venv/bin/python bench/coversheet.py --frames 20

It prints the PDF the kiosk prints (``sohoa coversheet``: a register entry, a record file
cover and a separator), renders it with pdftoppm, photographs it with the sim camera at
12 MP (perspective, rotation, uneven warm light, vignette, blur, noise, desks) and compares,
side by side on the same frames:

- ``sohoa``: the kiosk's reader (reduced-scale JPEG decode + ArUco QR detector, full
  resolution only for a located but unread QR);
- ``opencv full``: ``cv2.QRCodeDetector().detectAndDecode`` on the fully decoded frame;
- ``aruco full``: ``cv2.QRCodeDetectorAruco`` on the fully decoded frame.

Columns: median and worst seconds per frame on ordinary document photos (every page pays
this), on cover sheet photos, read rate per condition, and false readings on documents.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.render import render_frame, render_sheet_frame
from firmware.coversheet.payload import CoverSheet, SeparatorSheet, decode, fit
from firmware.coversheet.printing import render_pdf
from firmware.coversheet.reader import find_qr

CONDITIONS = {
    "normal": {},
    "soft lens (blur 2.0)": {"blur_sigma": 2.0},
    "steep (keystone 0.06)": {"keystone": 0.06, "tilt": 0.035},
    "dim, uneven light": {"light": {"exposure": 0.55, "gradient": 0.45, "vignette": 0.4}},
    "blurred (defect)": "blurred",
}


def _sheets() -> list:
    return [
        CoverSheet.build(
            register="Sổ văn bản đến 2025",
            direction="in",
            entry="1234",
            number="64-CV/TW",
            date="10/04/2025",
            issuer="Văn phòng Tỉnh ủy Hà Giang",
            subject="V/v triển khai số hóa tài liệu lưu trữ của Đảng bộ tỉnh",
        ),
        CoverSheet.build(record_code="H49.61.8.2019.05", sequence=3),
        SeparatorSheet(1),
    ]


def _images(sheets: list, dpi: int) -> list[np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "s.pdf"
        render_pdf(sheets, pdf)
        subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), f"{tmp}/p"], check=True)
        pages = sorted(Path(tmp).glob("p-*.png"))
        return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in pages]


def _sohoa(jpeg: bytes) -> str | None:
    return find_qr(jpeg).text


def _full(detector: Callable[[], object]) -> Callable[[bytes], str | None]:
    def read(jpeg: bytes) -> str | None:
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        text = detector().detectAndDecode(img)[0]
        return text or None

    return read


READERS: dict[str, Callable[[bytes], str | None]] = {
    "sohoa": _sohoa,
    "opencv full": _full(cv2.QRCodeDetector),
    "aruco full": _full(cv2.QRCodeDetectorAruco),
}


def _timed(reader: Callable[[bytes], str | None], jpeg: bytes) -> tuple[str | None, float]:
    t0 = time.perf_counter()
    text = reader(jpeg)
    return text, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20, help="photos per condition")
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--dpi", type=int, default=150, help="rendering of the printed sheet")
    args = ap.parse_args()
    sheets = _sheets()
    images = _images(sheets, args.dpi)
    expected = [fit(s) for s in sheets]
    W, H = args.width, args.height

    docs = [
        render_frame(500 + i, 1, "party" if i % 2 else "state", 1, W, H, 92)[0]
        for i in range(args.frames)
    ]
    photos: dict[str, list[tuple[bytes, int]]] = {}
    for name, effect in CONDITIONS.items():
        shots = []
        for i in range(args.frames):
            k = i % len(sheets)
            scenario = effect if isinstance(effect, str) else "document"
            extra = effect if isinstance(effect, dict) else {}
            jpeg, _ = render_sheet_frame(images[k], W, H, 92, scenario, [77, i], **extra)
            shots.append((jpeg, k))
        photos[name] = shots
    for reader in READERS.values():
        reader(docs[0])  # warm up OpenCV's lazy initialisation

    rows = []
    for rname, reader in READERS.items():
        doc_t, false = [], 0
        for jpeg in docs:
            text, t = _timed(reader, jpeg)
            doc_t.append(t)
            false += text is not None
        rates, sheet_t = [], []
        for shots in photos.values():
            ok = 0
            for jpeg, k in shots:
                text, t = _timed(reader, jpeg)
                sheet_t.append(t)
                try:
                    ok += text is not None and decode(text) == expected[k]
                except ValueError:
                    pass
            rates.append(f"{ok}/{len(shots)}")
        rows.append(
            [
                rname,
                f"{statistics.median(doc_t):.3f}",
                f"{max(doc_t):.3f}",
                f"{statistics.median(sheet_t):.3f}",
                *rates,
                f"{false}/{len(docs)}",
            ]
        )

    head = ["reader", "doc med s", "doc max s", "sheet med s", *CONDITIONS, "false"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    print(f"QR cover sheets on {W}x{H} sim photos ({args.frames} per condition)")
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
