#!/usr/bin/env python3
"""Uplink benchmark: the kiosk's resumable uploader versus a naive one on a bad link.

Run: ``.venv/bin/python bench/uplink.py`` (issue budget: 50 documents of 200 KB through the
throttling proxy at 256 kbit/s with a cut every 300 KB; ~10 min for both runs) or shorter
with ``--docs 10 --rate 1024``. Prints a table; nothing here is a test, CI never runs it.

Both uploaders go through the same real hub (uvicorn, mutual TLS, subprocess) and the same
proxy settings (``tests/support/tcp_proxy.py``: each direction throttled to ``--rate`` kbit/s, the
connection reset every time ``--cut-kb`` more bytes have gone up):

* **sohoa**: :class:`firmware.uplink.worker.UplinkWorker` as the service runs it (tus with
  resumption from the hub's offset, chunk checksums, backoff), enrolled via EST;
* **naive**: the same documents (other bytes, so the hub's dedupe cannot help) each sent as
  one tus upload in one request, started again from zero after any failure.

Goodput = document bytes delivered x 8 / elapsed time / link rate (target >= 80 %).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from firmware.config import load_settings  # noqa: E402
from firmware.store.catalog import Catalog  # noqa: E402
from firmware.store.paths import DataPaths  # noqa: E402
from firmware.store.states import DocState  # noqa: E402
from firmware.uplink.client import UplinkError, encode_tus_metadata  # noqa: E402
from firmware.uplink.identity import enroll, load_identity  # noqa: E402
from firmware.uplink.outbox import Outbox, route_sealed  # noqa: E402
from firmware.uplink.qr import parse_enroll_uri  # noqa: E402
from firmware.uplink.worker import UplinkWorker  # noqa: E402
from provisioning.schemas import FILES_PATH, TUS_CONTENT_TYPE, TUS_VERSION  # noqa: E402
from tests.support.hub import HubProcess, free_port, init_hub_dir  # noqa: E402
from tests.support.tcp_proxy import TcpProxy  # noqa: E402
from tests.support.uplink import sealed_document  # noqa: E402

KIOSK = "bench-kiosk"


def run_sohoa(hub: HubProcess, work: Path, args: argparse.Namespace) -> dict:
    data = work / "kiosk"
    settings = load_settings(
        None,
        data_dir=str(data),
        kiosk_id=KIOSK,
        pedal={"backend": "none"},
        leds={"backend": "none"},
        uplink={"backoff_base_s": 1.0, "backoff_max_s": 10.0, "io_timeout_s": 30},
    )
    paths = DataPaths(data).ensure()
    cat = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=cat)
    docs = [
        route_sealed(cat, sealed_document(cat, paths, size=args.size_kb * 1000, seed=i), "b")
        for i in range(args.docs)
    ]
    total = sum(d["pdf_size"] for d in docs)
    with TcpProxy(hub.port, rate_bps=args.rate * 1000, cut_every=args.cut_kb * 1000) as proxy:
        settings.uplink.hub_url = proxy.url
        worker = UplinkWorker(cat, paths, settings)
        t0 = time.monotonic()
        while Outbox(cat).counts()["waiting"]:
            wait = worker.step()
            if wait:
                time.sleep(wait)
        elapsed = time.monotonic() - t0
        worker.stop()
        # Delivered documents are kept (``[uplink] retention_days``) before the purge:
        # a receipt from the hub is what counts, whichever of the two states it left.
        delivered = sum(
            1
            for d in docs
            if cat.get_document(d["id"])["state"] in (DocState.DELIVERED, DocState.PURGED)
        )
        attempts = sum(r["attempts"] for r in Outbox(cat).rows())
        result = {
            "name": "sohoa (resumable)",
            "delivered": delivered,
            "bytes": total,
            "elapsed": elapsed,
            "cuts": proxy.cuts,
            "wire_up": proxy.bytes_up,
            "failures": attempts,
        }
    cat.close()
    return result


def run_naive(hub: HubProcess, work: Path, args: argparse.Namespace) -> dict:
    """One request per document; any failure -> a new upload from byte 0."""
    ident = load_identity(DataPaths(work / "kiosk"))
    assert ident is not None
    blobs = []
    for i in range(args.docs):
        b = os.urandom(args.size_kb * 1000)
        blobs.append((f"NAIVE-{i}", b))
    total = sum(len(b) for _, b in blobs)
    failures = 0
    with TcpProxy(hub.port, rate_bps=args.rate * 1000, cut_every=args.cut_kb * 1000) as proxy:
        t0 = time.monotonic()
        for doc_id, data in blobs:
            sha = hashlib.sha256(data).hexdigest()
            while True:
                try:
                    with httpx.Client(
                        base_url=proxy.url,
                        verify=ident.ssl_context(),
                        timeout=httpx.Timeout(30, connect=10),
                        headers={"Tus-Resumable": TUS_VERSION},
                    ) as http:
                        meta = encode_tus_metadata(
                            {"filename": doc_id + ".pdf", "sha256": sha, "document_id": doc_id}
                        )
                        r = http.post(
                            FILES_PATH,
                            headers={"Upload-Length": str(len(data)), "Upload-Metadata": meta},
                        )
                        if r.status_code == 200:
                            break
                        r.raise_for_status()
                        r = http.patch(
                            r.headers["Location"],
                            content=data,
                            headers={"Content-Type": TUS_CONTENT_TYPE, "Upload-Offset": "0"},
                        )
                        r.raise_for_status()
                        break
                except (httpx.HTTPError, UplinkError):
                    failures += 1
        elapsed = time.monotonic() - t0
        return {
            "name": "naive (restart from 0)",
            "delivered": len(blobs),
            "bytes": total,
            "elapsed": elapsed,
            "cuts": proxy.cuts,
            "wire_up": proxy.bytes_up,
            "failures": failures,
        }


def main() -> int:
    logging.getLogger("sohoa.uplink").setLevel(logging.ERROR)  # drops are the point here
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--size-kb", type=int, default=200, help="document size (kB = 1000 B)")
    ap.add_argument("--rate", type=float, default=256, help="link rate, kbit/s each way")
    ap.add_argument("--cut-kb", type=int, default=300, help="reset the link every N kB up")
    ap.add_argument("--only", choices=["sohoa", "naive"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sohoa-bench-uplink-") as tmp:
        work = Path(tmp)
        hub = HubProcess(dir=init_hub_dir(work / "hub", name="bench-hub"), port=free_port())
        hub.start()
        try:
            results = [run_sohoa(hub, work, args)]
            if args.only != "sohoa":
                results.append(run_naive(hub, work, args))
        finally:
            hub.stop()
    link = args.rate * 1000
    print(
        f"\n{args.docs} documents x {args.size_kb} kB through the proxy at {args.rate:g} kbit/s, "
        f"link reset every {args.cut_kb} kB sent\n"
    )
    head = (
        f"{'uploader':<24} {'delivered':>9} {'MB':>6} {'time s':>8} {'goodput kbit/s':>15} "
        f"{'of link':>8} {'cuts':>5} {'failed tries':>12} {'MB on wire':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        goodput = r["bytes"] * 8 / r["elapsed"]
        print(
            f"{r['name']:<24} {r['delivered']:>9} {r['bytes'] / 1e6:>6.2f} {r['elapsed']:>8.1f} "
            f"{goodput / 1000:>15.1f} {goodput / link:>7.0%} {r['cuts']:>5} "
            f"{r['failures']:>12} {r['wire_up'] / 1e6:>10.2f}"
        )
    print("\ntarget: sohoa goodput >= 80 % of the link rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
