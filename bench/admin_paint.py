"""First paint of the hub's fleet table with 3,300 kiosks, in Debian Chromium.

Fills a real hub's database with N enrolled kiosks and a heartbeat each (the hub's own
tables and services), serves it with ``python -m provisioning.hub``, signs in on the admin
page in Chromium (Playwright, ``/usr/bin/chromium``) and reads the browser's navigation
timing of ``/admin/``: server time to first byte, DOMContentLoaded and first contentful
paint, over a few loads.

    .venv/bin/python bench/admin_paint.py [--kiosks 3300] [--loads 5]

Budget (issue 17): first paint <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(hub_dir: Path, n: int) -> None:
    import sqlalchemy as sa

    from provisioning.fleet_schemas import Disk, Heartbeat, Versions
    from provisioning.hub.admin.accounts import Accounts
    from provisioning.hub.config import load_hub_settings
    from provisioning.hub.db import certificates, devices, now_utc
    from provisioning.hub.fleet_db import FleetDB, heartbeat_latest
    from provisioning.hub.hub_db import HubDB

    s = load_hub_settings(hub_dir)
    db = HubDB(s.database_url)
    db.create_schema()
    FleetDB(db.engine).create_schema()
    now = now_utc()
    devs, certs, latest = [], [], []
    for i in range(n):
        k = f"xa-{i:04d}"
        devs.append(
            {
                "kiosk_id": k,
                "group": f"huyen-{i % 25:02d}",
                "status": "active",
                "enrolled_at": now - timedelta(days=30),
            }
        )
        certs.append(
            {
                "serial": f"{i:040x}",
                "kiosk_id": k,
                "issued_at": now,
                "not_after": now + timedelta(days=60),
            }
        )
        hb = Heartbeat(
            at=now.isoformat(),
            ver=Versions(app="0.1.0", os="Debian 12", cfg=17),
            disk=Disk(free=20_000_000_000 - i, total=31_000_000_000),
            dev={"service": True, "camera": i % 50 != 0},
        )
        age = 30 if i % 40 else (200 if i % 80 else 5000)  # some late, some offline
        latest.append(
            {
                "kiosk_id": k,
                "received_at": now - timedelta(seconds=age),
                "interval_s": 60.0,
                "history_at": now,
                "body": hb.model_dump_json(exclude_none=True),
            }
        )
    with db.engine.begin() as conn:
        conn.execute(sa.insert(devices), devs)
        conn.execute(sa.insert(certificates), certs)
        conn.execute(sa.insert(heartbeat_latest), latest)
    Accounts(db.engine).add("bench", "Bench", "viewer", PASSWORD)
    db.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiosks", type=int, default=3300)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from provisioning.hub.bootstrap import init_hub

    tmp = Path(tempfile.mkdtemp(prefix="sohoa-admin-bench-"))
    proc = None
    try:
        port = free_port()
        hub_dir = tmp / "hub"
        init_hub(hub_dir, name="bench", port=port)
        seed(hub_dir, args.kiosks)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        env["PYTHONPATH"] = str(ROOT)
        proc = subprocess.Popen(
            [sys.executable, "-m", "provisioning.hub", "--dir", str(hub_dir), "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"https://127.0.0.1:{port}"
        ctx = ssl.create_default_context(cafile=str(hub_dir / "pki" / "fleet-ca.crt.pem"))
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", verify=ctx, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        rows = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(url + "/admin/login")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#fleet")
            for _ in range(args.loads):
                page.goto(url + "/admin/")
                page.wait_for_selector("#fleet tbody tr")
                t = page.evaluate(
                    """() => { const n = performance.getEntriesByType('navigation')[0];
                    const p = performance.getEntriesByName('first-contentful-paint')[0];
                    return [n.responseStart - n.requestStart, n.domContentLoadedEventEnd,
                            p ? p.startTime : null, n.transferSize,
                            document.querySelectorAll('#fleet tbody tr').length]; }"""
                )
                rows.append(t)
            browser.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{args.kiosks} kiosks, {args.loads} loads of /admin/ (load average {os.getloadavg()[0]:.1f})"
    )
    print(
        f"{'load':<5} {'server TTFB ms':>15} {'DOMContentLoaded ms':>20} {'first paint ms':>15} {'bytes':>9} {'rows':>6}"
    )
    for i, (ttfb, dcl, fcp, size, n) in enumerate(rows, start=1):
        print(f"{i:<5} {ttfb:>15.0f} {dcl:>20.0f} {fcp or float('nan'):>15.0f} {size:>9} {n:>6}")
    fcps = [r[2] for r in rows if r[2] is not None]
    med = statistics.median(fcps) if fcps else float("nan")
    print(f"median first contentful paint {med:.0f} ms ({'within' if med <= 1000 else 'OVER'} 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
