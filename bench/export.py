#!/usr/bin/env python3
"""Secure USB export benchmark: encrypted, signed, read-back-verified export versus a plain
copy of the same files to the same target.

Run: ``.venv/bin/python bench/export.py`` (100 MB, three runs each, median) and, for the
memory budget, ``--rss-mb 500`` (streams a 500 MB document and reports peak RSS). Prints a
table; nothing here is a test (timings depend on the machine), CI never runs it. Budgets
from the export issue:

* encryption + verification overhead <= 20 % over a plain copy (``cp`` + ``sync``)
* peak RSS of the kiosk process < 100 MB while exporting a 500 MB document

The plain copy is what a clerk would otherwise do with an unsafe stick: copy the PDF, its
metadata and text, and flush (fsync) before pulling it out. The export adds AES-256 CMS
(``openssl cms -stream``), SHA-256 of every file, the signed manifest and the read-back of
every file from the medium with the page cache dropped.

``--profile`` adds a table of where the export spends its time. On a stick, encryption and
hashing hide behind the stick's write speed (they run in other threads and in openssl); what
remains is the read-back itself, which cannot cost less than write time x write speed /
read speed of the stick (printed as the floor): 22 % for a 20:90 MB/s stick, 33 % for a
10:30 USB 2.0 stick. On the local disk (``overhead`` without ``--stick``) the copy runs at
memory speed and the figure measures CPU cost instead (AES-256-CBC and three SHA-256 passes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from drivers.usb.sim import SimBackend, create_stick  # noqa: E402
from firmware.config import ExportConfig  # noqa: E402
from firmware.export.exporter import Exporter  # noqa: E402
from firmware.store.catalog import Catalog, new_id  # noqa: E402
from firmware.store.paths import DataPaths  # noqa: E402

MB = 1_000_000
CHUNK = 1 << 20
STICK = {"vid": "0781", "pid": "5581", "serial": "BENCH0001", "label": "bench"}


def recipient_cert(directory: Path) -> Path:
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench archive")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    path = directory / "recipient.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def seed_document(paths: DataPaths, catalog: Catalog, size: int) -> str:
    """A sealed confidential document whose PDF is ``size`` bytes (written in chunks)."""
    doc_id = catalog.create_document("bench", title="bench")["id"]
    pdf = paths.sealed_pdf(doc_id)
    digest = hashlib.sha256()
    with open(pdf, "wb") as fh:
        left = size
        while left > 0:
            chunk = os.urandom(min(CHUNK, left))
            digest.update(chunk)
            fh.write(chunk)
            left -= len(chunk)
    paths.sealed_sidecar(doc_id).write_text(
        json.dumps({"id": doc_id, "sha256": digest.hexdigest()})
    )
    page_id = new_id("P")
    frame = paths.frame(doc_id, page_id)
    frame.parent.mkdir(parents=True, exist_ok=True)
    frame.write_bytes(b"frame")
    catalog.add_page(doc_id, "bench", page_id=page_id, frame_path=str(frame), frame_sha256="0" * 64)
    catalog.set_page_text(doc_id, page_id, "Văn bản mật " * 2000)
    with catalog.transaction() as db:
        db.execute(
            "UPDATE documents SET state='sealed', confidentiality='mat', sha256=? WHERE id=?",
            [digest.hexdigest(), doc_id],
        )
    return doc_id


def setup(work: Path, size: int, faults: dict | None = None) -> tuple[Exporter, DataPaths, str]:
    paths = DataPaths(work / "var").ensure()
    catalog = Catalog(paths.catalog)
    cfg = ExportConfig(
        recipients=[str(recipient_cert(work))],
        allowed_sticks=[STICK],
        retention=30,  # keep the source so the plain copy reads the same file
        sim_dir=str(work / "usb"),
    )
    create_stick(work / "usb", "stick", serial=STICK["serial"], capacity=10**12, faults=faults)
    exporter = Exporter(catalog, paths, cfg, kiosk_id="bench", backend=SimBackend(work / "usb"))
    return exporter, paths, seed_document(paths, catalog, size)


def drop_caches(paths: list[Path]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def plain_copy(sources: list[Path], backend: SimBackend, directory: str) -> float:
    """Copy through the same (simulated) stick the export writes to, then fsync."""
    dev = backend.devices()[0]
    vol = backend.mount(dev)
    t0 = time.perf_counter()
    vol.mkdir(directory)
    for src in sources:
        with open(src, "rb") as fi, vol.open_write(f"{directory}/{src.name}") as fo:
            while chunk := fi.read(CHUNK):
                fo.write(chunk)
            vol.fsync(fo)
    vol.fsync_dir(directory)
    took = time.perf_counter() - t0
    backend.unmount(dev)
    return took


def reset(exporter: Exporter, doc_id: str) -> None:
    """Put the document back to sealed so the next run exports it again (bench only)."""
    with exporter.catalog.transaction() as db:
        db.execute("UPDATE documents SET state='sealed' WHERE id=?", [doc_id])


def timed_export(exporter: Exporter, doc_id: str) -> float:
    t0 = time.perf_counter()
    exporter.export("bench", "archivist", [doc_id])
    return time.perf_counter() - t0


def overhead(size_mb: int, runs: int, base: Path, stick: tuple[float, float] | None) -> None:
    faults = None
    if stick:
        faults = {"slow_bytes_per_s": stick[0] * MB, "slow_read_bytes_per_s": stick[1] * MB}
    with tempfile.TemporaryDirectory(prefix="sohoa-bench-", dir=base) as tmp:
        work = Path(tmp)
        exporter, paths, doc_id = setup(work, size_mb * MB, faults)
        sources = [paths.sealed_pdf(doc_id), paths.sealed_sidecar(doc_id)]
        text = work / f"{doc_id}.txt"
        text.write_text(exporter.catalog.document_text(doc_id))
        sources.append(text)
        copies, exports = [], []
        for i in range(runs):
            drop_caches(sources)
            copies.append(plain_copy(sources, exporter.backend, f"plain-{i}"))
            shutil.rmtree(work / "usb" / "stick" / f"plain-{i}")
            drop_caches(sources)
            exports.append(timed_export(exporter, doc_id))
            reset(exporter, doc_id)
            for d in (work / "usb" / "stick").glob("sohoa-export-*"):
                shutil.rmtree(d)
        c, e = statistics.median(copies), statistics.median(exports)
        target = (
            f"simulated stick writing {stick[0]:g} MB/s, reading {stick[1]:g} MB/s"
            if stick
            else f"local disk under {base}"
        )
        print(
            f"\nExport of one {size_mb} MB document, same target for both: {target}; "
            f"median of {runs} runs"
        )
        print(f"{'method':<44}{'seconds':>10}{'MB/s':>10}")
        print(f"{'plain copy (cp + fsync)':<44}{c:>10.3f}{size_mb / c:>10.1f}")
        print(f"{'sohoa export (CMS AES-256, sign, read-back)':<44}{e:>10.3f}{size_mb / e:>10.1f}")
        print(f"{'overhead (budget <= 20 %)':<44}{(e - c) / c * 100:>9.1f}%")
        print(f"{'absolute extra time':<44}{e - c:>10.3f}")
        if stick:  # reading every byte back costs write_time * write_speed / read_speed
            print(
                f"{'floor of a full read-back (W/R speed)':<44}{stick[0] / stick[1] * 100:>9.1f}%"
            )
        exporter.catalog.close()


#: Where an export spends its time: (label, owner, function), the owner a stage module of
#: firmware/export/ or a class. Nested calls are timed inside their callers, so the rows
#: are not to be added up.
PHASES = [
    ("preflight: mount, write probe, free space", "StickCheck", "check"),
    ("write document (ZIP -> openssl cms -> stick, fsync)", "writer", "write_document"),
    ("  of which: encryption stream (openssl + pipes)", "cms", "encrypt_stream"),
    ("  of which: writes to the stick", "PartWriter", "write"),
    ("  of which: fsync + rename of each file", "PartWriter", "_close"),
    ("manifest, README, signature (write + fsync)", "writer", "write_small"),
    ("read-back verification (cache dropped)", "manifest", "verify"),
    ("record: transitions + audit", "record", "record_export"),
    ("unmount (safe to remove)", "preflight", "release"),
    ("purge of local copies", "Exporter", "purge_due"),
]


def profile(size_mb: int, runs: int, base: Path, stick: tuple[float, float] | None) -> None:
    """Time each phase of the export (wrapping the exporter's own methods)."""
    import collections

    from firmware.export import cms, manifest, preflight, record, writer
    from firmware.export.exporter import Exporter

    owners = {
        "Exporter": Exporter,
        "StickCheck": preflight.StickCheck,
        "PartWriter": writer.PartWriter,
        "cms": cms,
        "writer": writer,
        "manifest": manifest,
        "record": record,
        "preflight": preflight,
    }
    spent: dict[str, float] = collections.defaultdict(float)
    originals = []

    def timed(label: str, fn):  # noqa: ANN001, ANN202
        def wrapper(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[label] += time.perf_counter() - t0

        return wrapper

    for label, owner, name in PHASES:
        obj = owners[owner]
        originals.append((obj, name, getattr(obj, name)))
        setattr(obj, name, timed(label, getattr(obj, name)))
    faults = None
    if stick:
        faults = {"slow_bytes_per_s": stick[0] * MB, "slow_read_bytes_per_s": stick[1] * MB}
    totals = []
    try:
        with tempfile.TemporaryDirectory(prefix="sohoa-bench-prof-", dir=base) as tmp:
            exporter, paths, doc_id = setup(Path(tmp), size_mb * MB, faults)
            for _ in range(runs):
                drop_caches([paths.sealed_pdf(doc_id)])
                totals.append(timed_export(exporter, doc_id))
                reset(exporter, doc_id)
                for d in (Path(tmp) / "usb" / "stick").glob("sohoa-export-*"):
                    shutil.rmtree(d)
            exporter.catalog.close()
    finally:
        for obj, name, fn in originals:
            setattr(obj, name, fn)
    target = f"simulated stick {stick[0]:g}:{stick[1]:g} MB/s" if stick else f"disk under {base}"
    print(f"\nWhere the time goes: one {size_mb} MB document, {target}, mean of {runs} runs")
    print(f"{'phase':<54}{'seconds':>10}")
    for label, _, _ in PHASES:
        print(f"{label:<54}{spent[label] / runs:>10.3f}")
    print(f"{'whole export':<54}{statistics.mean(totals):>10.3f}")


def rss_child(size_mb: int, base: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sohoa-bench-rss-", dir=base) as tmp:
        exporter, _, doc_id = setup(Path(tmp), size_mb * MB)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        exporter.export("bench", "archivist", [doc_id])
        took = time.perf_counter() - t0
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(
            json.dumps(
                {"before_kb": before, "peak_kb": own, "openssl_peak_kb": kids, "seconds": took}
            )
        )
        exporter.catalog.close()


def rss(size_mb: int, base: Path) -> None:
    res = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(size_mb), "--dir", str(base)],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"\nPeak RSS while exporting one {size_mb} MB document (streamed, {r['seconds']:.1f} s)")
    print(f"{'process':<44}{'peak RSS MB':>12}")
    print(f"{'kiosk (Python, before the export)':<44}{r['before_kb'] / 1024:>12.1f}")
    print(f"{'kiosk (Python, peak; budget < 100 MB)':<44}{r['peak_kb'] / 1024:>12.1f}")
    print(f"{'openssl cms -encrypt -stream (child)':<44}{r['openssl_peak_kb'] / 1024:>12.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=100, help="document size for the overhead")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--rss-mb",
        type=int,
        default=0,
        help="also measure peak RSS exporting a document this large (e.g. 500)",
    )
    ap.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the data dir and the simulated stick live",
    )
    ap.add_argument(
        "--stick",
        metavar="W:R",
        help="also run on a simulated stick writing W MB/s and reading R MB/s "
        "(e.g. 20:90 for a common USB 3 stick, 10:30 for USB 2.0)",
    )
    ap.add_argument(
        "--profile", action="store_true", help="also print the time of each export phase"
    )
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.dir)
        return
    if args.size_mb:
        stick = tuple(float(x) for x in args.stick.split(":")) if args.stick else None
        overhead(args.size_mb, args.runs, args.dir, None)
        if stick:
            overhead(args.size_mb, args.runs, args.dir, stick)
        if args.profile:
            profile(args.size_mb, args.runs, args.dir, None)
            if stick:
                profile(args.size_mb, args.runs, args.dir, stick)
    if args.rss_mb:
        rss(args.rss_mb, args.dir)


if __name__ == "__main__":
    main()
