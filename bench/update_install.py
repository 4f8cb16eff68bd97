"""How long each on-kiosk step of an application update takes, without the health gate.

Builds one release artifact of this checkout (``sohoa release build``), then ``--runs``
times: verify it against its length and SHA-256, unpack it, install it as a venv under a
temporary release root (the app wheel only, dependencies borrowed through ``sohoa-deps.pth``
from this environment), and switch ``current``. The health gate is left out: its length is
``trial_s`` plus the service's start and ``sohoa selftest`` (measured by the update tests).

    .venv/bin/python bench/update_install.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.agent.updates.artifact import Expected, unpack, verify  # noqa: E402
from provisioning.agent.updates.install import install_release  # noqa: E402
from provisioning.agent.updates.layout import ReleaseLayout  # noqa: E402
from provisioning.release.build import build_release  # noqa: E402
from provisioning.release.manifest import file_entry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    deps = [Path(sysconfig.get_paths()["purelib"])]
    with tempfile.TemporaryDirectory(prefix="sohoa-bench-update-") as tmp:
        t = time.monotonic()
        art = build_release(ROOT, "9.9.9", Path(tmp) / "dist", epoch=1764547200)
        build_s = time.monotonic() - t
        entry = file_entry(art, art.name)
        expected = Expected(entry.length, entry.sha256, art.name)
        rows: dict[str, list[float]] = {"verify": [], "unpack": [], "install": [], "switch": []}
        for i in range(args.runs):
            layout = ReleaseLayout(Path(tmp) / f"root{i}")
            t = time.monotonic()
            verify(art, expected)
            rows["verify"].append(time.monotonic() - t)
            t = time.monotonic()
            manifest = unpack(art, Path(tmp) / f"unpacked{i}")
            rows["unpack"].append(time.monotonic() - t)
            t = time.monotonic()
            install_release(layout, manifest, Path(tmp) / f"unpacked{i}", deps)
            rows["install"].append(time.monotonic() - t)
            t = time.monotonic()
            layout.switch(manifest.version)
            rows["switch"].append(time.monotonic() - t)
        size = sum(p.stat().st_size for p in layout.release_dir("9.9.9").rglob("*") if p.is_file())
    print(
        f"artifact {entry.length / 1024:.0f} KiB, built in {build_s:.1f} s; installed release {size / 2**20:.1f} MiB"
    )
    print(f"{'step':<10} {'median s':>9} {'max s':>7}  ({args.runs} runs)")
    for step, values in rows.items():
        print(f"{step:<10} {statistics.median(values):>9.3f} {max(values):>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
