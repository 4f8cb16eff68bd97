#!/usr/bin/env python3
"""Release download benchmark: the agent's resumable download versus a restart-from-zero one
on the commune link (256 kbit/s, the connection reset every 300 KB of download).

Run: ``.venv/bin/python bench/update.py`` (the issue's case: 30 MB at 256 kbit/s,
about 16 minutes) or a quick one, e.g. ``--mb 3`` (~100 s) or ``--mb 30 --rate 2048``
(~2 min; the bytes lost per cut do not grow with the rate: the proxy forwards in 4 KB
pieces, so little is in flight on the slow leg). Prints a table; not a test.

Both downloaders fetch the same signed release target from a real hub (uvicorn, mutual TLS,
subprocess; the artifact signed by ``publish_release`` with the offline release key) through
``tests/support/tcp_proxy.py`` (each direction throttled to ``--rate`` kbit/s, the connection
reset every ``--cut-kb`` kB that went *down*):

* **sohoa**: :func:`provisioning.agent.updates.download.resume_download` over the kiosk's
  mTLS identity (Range from the part file, fsync per response), then verified against the
  signed length and SHA-256;
* **restart**: the same GET without Range, from zero after every cut, stopped after
  ``--naive-tries`` attempts (with a cut every 300 KB it can never finish more than 300 KB).

"Extra on the wire" is every byte the slow leg carried beyond the artifact (TLS handshakes
of each reconnection, TLS framing and HTTP headers included): an upper bound of the bytes
sent twice. "Cost of the cuts" subtracts a download of the same file through the same
proxy without cuts (one connection's framing), leaving what the cuts cost.
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

from firmware.store.catalog import Catalog  # noqa: E402
from firmware.store.paths import DataPaths  # noqa: E402
from firmware.uplink.identity import Identity, enroll  # noqa: E402
from firmware.uplink.qr import parse_enroll_uri  # noqa: E402
from provisioning.agent.hub_link import HubLink  # noqa: E402
from provisioning.agent.updates.artifact import Expected, verify  # noqa: E402
from provisioning.agent.updates.download import resume_download  # noqa: E402
from provisioning.fleet_schemas import release_url  # noqa: E402
from provisioning.hub.fleet_keys import init_keys, publish_release  # noqa: E402
from provisioning.hub.tuf_repo import ConfigRepository  # noqa: E402
from tests.support.hub import HubProcess, free_port, init_hub_dir  # noqa: E402
from tests.support.tcp_proxy import TcpProxy  # noqa: E402

KIOSK = "bench-kiosk"


def _proxy(hub: HubProcess, args: argparse.Namespace, cut: bool) -> TcpProxy:
    return TcpProxy(
        hub.port,
        rate_bps=args.rate * 1000 if cut else 0,
        cut_every=args.cut_kb * 1000 if cut else 0,
        cut_direction="down",
    )


def run_sohoa(
    hub: HubProcess, ident: Identity, url: str, exp: Expected, work: Path, args, cut: bool
) -> dict:
    dest = work / f"sohoa-{'cut' if cut else 'clean'}.tar"
    with _proxy(hub, args, cut) as proxy:
        link = HubLink(hub_url=proxy.url, connect_timeout_s=10, io_timeout_s=30)
        t0 = time.monotonic()
        stats = resume_download(link.client(ident), url, dest, exp.length, max_attempts=10_000)
        elapsed = time.monotonic() - t0
        link.close()
        verify(dest, exp)  # raises unless every byte is the signed one
        result = {
            "name": "sohoa (Range)" if cut else "sohoa, no cuts",
            "done": True,
            "elapsed": elapsed,
            "wire": proxy.bytes_down,
            "cuts": proxy.cuts,
            "requests": stats.requests,
        }
    dest.unlink()
    return result


def run_restart(hub: HubProcess, ident: Identity, url: str, exp: Expected, args) -> dict:
    with _proxy(hub, args, cut=True) as proxy:
        t0, tries, done = time.monotonic(), 0, False
        while tries < args.naive_tries and not done:
            tries += 1
            h = hashlib.sha256()
            try:
                with (
                    httpx.Client(base_url=proxy.url, verify=ident.ssl_context(), timeout=30) as c,
                    c.stream("GET", url) as resp,
                ):
                    for chunk in resp.iter_bytes(16384):
                        h.update(chunk)
                done = h.hexdigest() == exp.sha256
            except httpx.TransportError:
                continue
        return {
            "name": "restart from zero",
            "done": done,
            "elapsed": time.monotonic() - t0,
            "wire": proxy.bytes_down,
            "cuts": proxy.cuts,
            "requests": tries,
        }


def main() -> int:
    logging.getLogger("sohoa").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=30, help="artifact size (MB = 10^6 B)")
    ap.add_argument("--rate", type=float, default=256, help="link rate, kbit/s each way")
    ap.add_argument("--cut-kb", type=int, default=300, help="reset every N kB downloaded")
    ap.add_argument("--naive-tries", type=int, default=3, help="attempts of the restart peer")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sohoa-bench-update-") as tmp:
        work = Path(tmp)
        hub = HubProcess(dir=init_hub_dir(work / "hub", name="bench-hub"), port=free_port())
        repo = ConfigRepository(hub.dir / "tuf")
        init_keys(work / "offline-keys", repo)
        artifact = work / "sohoa-9.9.9-bench.tar"
        artifact.write_bytes(os.urandom(int(args.mb * 1e6)))  # incompressible, like a tar of wheels
        target = publish_release(work / "offline-keys", repo, artifact, "9.9.9")
        exp = Expected(target.length, target.hashes["sha256"], target.path)
        url = release_url(target.path, exp.sha256)
        hub.start()
        try:
            paths = DataPaths(work / "kiosk").ensure()
            cat = Catalog(paths.catalog)
            ident = enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=cat)
            clean = run_sohoa(hub, ident, url, exp, work, args, cut=False)
            results = [run_sohoa(hub, ident, url, exp, work, args, cut=True)]
            if args.naive_tries > 0:
                results.append(run_restart(hub, ident, url, exp, args))
            cat.close()
        finally:
            hub.stop()
    print(
        f"\nrelease artifact of {exp.length / 1e6:.1f} MB through the proxy at {args.rate:g} "
        f"kbit/s, link reset every {args.cut_kb} kB downloaded\n"
    )
    head = (
        f"{'downloader':<20} {'finished':>8} {'time s':>8} {'cuts':>5} {'requests':>8} "
        f"{'MB on wire':>10} {'extra on wire':>14} {'cost of cuts':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in [clean, *results]:
        extra = f"{(r['wire'] - exp.length) / exp.length:.2%}" if r["done"] else "unfinished"
        cost = f"{(r['wire'] - clean['wire']) / exp.length:.2%}" if r["done"] else "-"
        print(
            f"{r['name']:<20} {'yes' if r['done'] else 'no':>8} {r['elapsed']:>8.1f} "
            f"{r['cuts']:>5} {r['requests']:>8} {r['wire'] / 1e6:>10.3f} {extra:>14} {cost:>13}"
        )
    print("\nbudget: sohoa extra on the wire <= 5 % of the artifact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
