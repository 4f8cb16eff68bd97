#!/usr/bin/env python3
"""Page pipeline benchmark: Sohoa versus OCRmyPDF and the tesseract CLI on the same frames.

Run with ``make bench`` (or ``.venv/bin/python bench/pipeline.py --frames 6``). Prints one
table. Nothing here is a test: timings depend on the machine; the figures go into the
closing note next to the budgets of the foundation issue:

* preview (decode + detect + warp + flatten + quality) <= 0.3 s for a 12 MP frame
* full page (decode -> sealed PDF page) <= 0.5 x OCRmyPDF's time
* <= 200 KB per page at 200 dpi colour; body CER <= 1 %; corner error <= 1 % of diagonal
* peak RSS of the service <= 400 MB with 3 pages in flight
* sustained: pages captured every 2 s finish with a backlog that stops growing
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmware.config import PipelineConfig, load_settings  # noqa: E402
from firmware.metrics import body_cer, corner_error  # noqa: E402


def pdftotext(pdf: Path) -> str:
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
    )
    return unicodedata.normalize("NFC", out.stdout.decode("utf-8"))


def peak_rss_of_tree(pid: int, stop: threading.Event, result: list[int]) -> None:
    """Sample the process tree: peak of summed RSS and of summed PSS (shared pages split).

    RSS summed over processes counts shared libraries (OpenCV, Tesseract) once per worker;
    PSS divides each shared page among its users, so its sum is what the tree really costs.
    """
    import psutil

    root = psutil.Process(pid)
    peak_rss = peak_pss = 0
    while not stop.is_set():
        rss = pss = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                mi = p.memory_full_info()
                rss += mi.rss
                pss += mi.pss
            except psutil.Error:
                pass
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.05)
    result.extend([peak_rss, peak_pss])


def run_sohoa(frames: list[Path], work: Path, workers: int) -> dict[str, list[float]]:
    """Per frame: preview timing, full page timing (one worker, sequential), size, CER."""
    from firmware import pipeline
    from firmware.archive.seal import DocumentInfo, SealPage, seal_pdf
    from firmware.ocr.engine import Engine, find_tessdata

    cfg = PipelineConfig()
    settings = load_settings(None)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    engine = Engine(find_tessdata(), settings.ocr.languages)
    res: dict[str, list[float]] = {"preview": [], "full": [], "bytes": [], "cer": [], "corner": []}
    for i, frame in enumerate(frames):
        truth = json.loads(frame.with_suffix(".truth.json").read_text(encoding="utf-8"))
        data = frame.read_bytes()
        t0 = time.perf_counter()
        prev = pipeline.make_preview(data, cfg)
        res["preview"].append(time.perf_counter() - t0)
        if prev.quad is not None:
            res["corner"].append(corner_error(prev.quad, truth["corners"]))
        t0 = time.perf_counter()
        page = pipeline.process_page(data, cfg)
        ocr = engine.recognize(page.image, page.dpi)
        words = ocr.words
        from datetime import UTC, datetime

        out = work / f"sohoa-{i:03d}.pdf"
        seal_pdf(
            [SealPage(image=page.image, dpi=page.dpi, words=words)],
            DocumentInfo(
                doc_id=f"bench-{i}", title="bench", created=datetime.now(UTC), kiosk_id="bench"
            ),
            out,
            image_dpi=settings.seal.image_dpi,
            jpeg_quality=settings.seal.jpeg_quality,
        )
        res["full"].append(time.perf_counter() - t0)
        res["bytes"].append(out.stat().st_size)
        res["cer"].append(body_cer(pdftotext(out), truth["body_text"]))
    engine.close()
    return res


def run_peer(name: str, frames: list[Path], work: Path) -> dict[str, list[float]] | None:
    res: dict[str, list[float]] = {"full": [], "bytes": [], "cer": []}
    for i, frame in enumerate(frames):
        truth = json.loads(frame.with_suffix(".truth.json").read_text(encoding="utf-8"))
        out = work / f"{name}-{i:03d}.pdf"
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        if name == "ocrmypdf":
            if not shutil.which("ocrmypdf"):
                return None
            cmd = [
                "ocrmypdf",
                "-q",
                "-l",
                "vie",
                "--image-dpi",
                "300",
                "--output-type",
                "pdf",
                "--optimize",
                "0",
                "--jobs",
                "1",
                str(frame),
                str(out),
            ]
        else:
            if not shutil.which("tesseract"):
                return None
            cmd = [
                "tesseract",
                str(frame),
                str(out.with_suffix("")),
                "-l",
                "vie",
                "--dpi",
                "300",
                "pdf",
            ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=env)
        if proc.returncode != 0:
            print(f"{name} failed on {frame.name}: {proc.stderr.decode()[-300:]}", file=sys.stderr)
            return None
        res["full"].append(time.perf_counter() - t0)
        res["bytes"].append(out.stat().st_size)
        res["cer"].append(body_cer(pdftotext(out), truth["body_text"]))
    return res


def run_in_flight(frames: list[Path], work: Path, workers: int) -> dict[str, float]:
    """Peak RSS of a real service process tree (``sohoa scan``) with 3 pages in flight."""
    src = work / "inflight"
    src.mkdir(exist_ok=True)
    for f in frames[:3]:
        shutil.copy(f, src / f.name)
    exe = Path(sys.executable).with_name("sohoa")
    cmd = [
        str(exe),
        "--data-dir",
        str(work / "var-inflight"),
        "scan",
        "--camera",
        "folder",
        "--source",
        str(src),
        "--out",
        str(work / "out-inflight"),
    ]
    env = {**os.environ, "SOHOA_OCR__WORKERS": str(workers)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    peak: list[int] = []
    t = threading.Thread(target=peak_rss_of_tree, args=(proc.pid, stop, peak))
    t.start()
    proc.wait()
    total = time.perf_counter() - t0
    stop.set()
    t.join()
    return {
        "peak_rss_mb": peak[0] / 2**20,
        "peak_pss_mb": peak[1] / 2**20,
        "doc_seconds": total,
        "rc": proc.returncode,
    }


def run_sustained(count: int, interval: float, work: Path, workers: int) -> dict[str, object]:
    """Capture ``count`` sim pages one every ``interval`` s; sample the backlog."""
    from drivers.camera.sim import SimCamera
    from firmware.kiosk import Kiosk

    settings = load_settings(None, data_dir=str(work / "sustained"), ocr={"workers": workers})
    kiosk = Kiosk(settings, camera=SimCamera(seed=7)).start()
    doc = kiosk.new_document("bench")
    backlog = []
    t0 = time.perf_counter()
    for i in range(count):
        due = t0 + i * interval
        time.sleep(max(0.0, due - time.perf_counter()))
        kiosk.capture("bench", doc["id"])
        backlog.append(kiosk.backlog())
    t_cap = time.perf_counter()
    kiosk.finish(doc["id"], "bench")
    kiosk.wait_idle()
    drain = time.perf_counter() - t_cap
    kiosk.stop()
    q = max(1, count // 4)
    return {
        "pages": count,
        "backlog_quartiles_max": [max(backlog[i : i + q]) for i in range(0, count, q)],
        "drain_after_last_s": drain,
    }


def fmt(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values) * scale:.{digits}f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=6, help="sim frames (12 MP) to compare on")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument(
        "--workers",
        type=int,
        default=load_settings(None).ocr.workers,
        help="OCR workers (default: the kiosk's default setting)",
    )
    ap.add_argument(
        "--sustained",
        type=int,
        default=0,
        help="also capture N pages one every --interval s (e.g. 100)",
    )
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--keep", type=Path, help="keep outputs in this directory")
    args = ap.parse_args()

    from drivers.camera.sim import write_dataset

    work = args.keep or Path(tempfile.mkdtemp(prefix="sohoa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    frames = write_dataset(work / "frames", args.frames, seed=args.seed)
    frames = [Path(f) for f in frames]
    print(f"{len(frames)} sim frames (4000x3000) in {work / 'frames'}", flush=True)

    sohoa = run_sohoa(frames, work, args.workers)
    peers = {name: run_peer(name, frames, work) for name in ("ocrmypdf", "tesseract")}
    inflight = run_in_flight(frames, work, args.workers)

    rows = [("sohoa", sohoa)] + [(n, r) for n, r in peers.items() if r is not None]
    print()
    print(
        f"{'engine':<11}{'preview s':>10}{'page s':>9}{'KB/page':>9}{'body CER %':>12}"
        f"{'corner %':>10}"
    )
    for name, r in rows:
        print(
            f"{name:<11}{fmt(r.get('preview', [])):>10}{fmt(r['full']):>9}"
            f"{fmt(r['bytes'], 1 / 1024, 0):>9}{fmt(r['cer'], 100, 2):>12}"
            f"{fmt(r.get('corner', []), 100, 2):>10}"
        )
    ocrm = peers.get("ocrmypdf")
    if ocrm:
        ratio = statistics.median(sohoa["full"]) / statistics.median(ocrm["full"])
        print(f"\nsohoa / ocrmypdf page time: {ratio:.2f} (budget <= 0.50)")
    print(
        f"max preview s: {max(sohoa['preview']):.3f} (budget 0.3)   "
        f"max corner error %: {max(sohoa['corner'] or [0]) * 100:.2f} (budget 1.0)   "
        f"max body CER %: {max(sohoa['cer']) * 100:.2f} (budget 1.0)"
    )
    print(
        f"3 pages in flight ({args.workers} workers): service tree peak PSS "
        f"{inflight['peak_pss_mb']:.0f} MiB, summed RSS {inflight['peak_rss_mb']:.0f} MiB "
        f"(budget 400), document done in "
        f"{inflight['doc_seconds']:.1f} s (sohoa scan, 3 pages, exit {inflight['rc']})"
    )
    if args.sustained:
        s = run_sustained(args.sustained, args.interval, work, args.workers)
        print(
            f"sustained {s['pages']} pages every {args.interval} s: backlog max per quarter "
            f"{s['backlog_quartiles_max']}, drained {s['drain_after_last_s']:.1f} s after "
            "the last capture"
        )
    print(f"\nmachine: {os.cpu_count()} cores; numpy {np.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
