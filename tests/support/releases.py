"""Real release artifacts built from this checkout for the update tests, built once per
test session: a base and a healthy release, and a broken one whose `sohoa` raises at
import (a copy of the tree with one line added), plus a kiosk configuration that runs the
real `sohoa run` under the in-process supervisor with a short trial."""

from __future__ import annotations

import hashlib
import shutil
import socket
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from provisioning.agent.updates.artifact import Expected, unpack
from provisioning.agent.updates.install import install_release
from provisioning.agent.updates.layout import ReleaseLayout
from provisioning.release.build import build_release, copy_checkout

ROOT = Path(__file__).resolve().parents[2]
EPOCH = 1764547200  # 01/12/2025 00:00 UTC
BASE, HEALTHY, BROKEN = "1.0.0", "1.1.0", "1.2.0"
BROKEN_LINE = 'raise RuntimeError("release 1.2.0 is broken on purpose (update tests)")\n'


@dataclass(frozen=True)
class Release:
    version: str
    path: Path

    def expected(self) -> Expected:
        data = self.path.read_bytes()
        return Expected(len(data), hashlib.sha256(data).hexdigest(), self.path.name)


def build_all(out: Path) -> dict[str, Release]:
    rels = {v: Release(v, build_release(ROOT, v, out / v, epoch=EPOCH)) for v in (BASE, HEALTHY)}
    broken_tree = copy_checkout(ROOT, out / "broken-src")
    main = broken_tree / "firmware" / "cli" / "main.py"
    text = main.read_text(encoding="utf-8")
    anchor = "from __future__ import annotations\n"
    main.write_text(text.replace(anchor, anchor + BROKEN_LINE, 1), encoding="utf-8")
    rels[BROKEN] = Release(BROKEN, build_release(broken_tree, BROKEN, out / BROKEN, epoch=EPOCH))
    shutil.rmtree(broken_tree)
    return rels


def deps_site() -> Path:
    """The test environment's site-packages: what the first release borrows."""
    return Path(sysconfig.get_paths()["purelib"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kiosk_config(tmp: Path, trial_s: float = 2.0, top: str = "", extra: str = "") -> Path:
    """A kiosk on simulated devices whose updates go to ``tmp/root`` (``top``: more
    top-level keys, ``extra``: more sections)."""
    cfg = tmp / "sohoa.toml"
    cfg.write_text(
        f"""data_dir = "{tmp / "data"}"
{top}
[camera]
backend = "sim"
[pedal]
backend = "mock"
[leds]
backend = "mock"
[ui]
port = {free_port()}
[updates]
release_root = "{tmp / "root"}"
supervisor = "process"
trial_s = {trial_s}
max_restarts = 2
bootstrap_deps = ["{deps_site()}"]
{extra}""",
        encoding="utf-8",
    )
    return cfg


def seed(root: Path, release: Release, scratch: Path) -> ReleaseLayout:
    """What the OS image does: ``release`` installed under ``root`` and made current."""
    layout = ReleaseLayout(root)
    manifest = unpack(release.path, scratch / f"seed-{release.version}")
    install_release(layout, manifest, scratch / f"seed-{release.version}", [deps_site()])
    layout.switch(release.version)
    shutil.rmtree(scratch / f"seed-{release.version}")
    return layout


def release_version(layout: ReleaseLayout) -> str:
    """The version the code under ``current`` says it is (run from outside any checkout)."""
    import subprocess

    out = subprocess.run(
        [
            str(layout.current_link / "bin" / "python"),
            "-c",
            "import firmware; print(firmware.__version__)",
        ],
        capture_output=True,
        text=True,
        cwd=layout.root,
        check=True,
    )
    return out.stdout.strip()


def leftovers(root: Path) -> list[str]:
    """Processes still running a release under ``root`` (the service or its OCR workers)."""
    import psutil

    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if str(root) in cmd:
            out.append(f"{p.info['pid']}: {cmd[:120]}")
    return out
