"""Install an unpacked release as a virtualenv at ``releases/<version>/``, with no network.

Dependencies: a release whose requirements lock equals the current release's (the usual
case: a code-only update) does not carry them. Its venv gets the application wheel only
(``pip install --no-index --no-deps``) and a ``sohoa-deps.pth`` in its site-packages naming
the directory the current release takes its dependencies from (the current release's own
site-packages, or what *it* borrows), so Python appends that directory to ``sys.path``
after the release's own site-packages: the new code wins, the libraries are shared, nothing
is downloaded or compiled. ``--system-site-packages`` cannot do this (the current release is
itself a venv, not the system). Pruning never removes a release whose site-packages a kept
release borrows (:meth:`ReleaseLayout.prune`).

A release whose lock differs is installed only if it carries the wheels it needs (installed
with ``--no-index --find-links``, into its own site-packages); otherwise it is refused with
the differing pins, before anything is switched. The first release under an empty root
borrows from ``bootstrap_deps`` (tests: the test environment; a kiosk always has a
current release from its image).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path

from firmware.errors import KioskError
from provisioning.agent.updates.layout import DEPS_PTH, ReleaseLayout
from provisioning.release.manifest import LOCK_NAME, WHEELS_DIR, Manifest, parse_lock

PIP_TIMEOUT_S = 600


@dataclass
class Installed:
    version: str
    seconds: float
    borrowed: list[Path] = field(default_factory=list)


def _refused(en: str, vi: str) -> KioskError:
    return KioskError("update_refused", en, vi)


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def lock_difference(old: dict[str, str], new: dict[str, str]) -> list[str]:
    names = sorted(set(old) | set(new))
    return [
        f"{n}: {old.get(n, '-')} -> {new.get(n, '-')}" for n in names if old.get(n) != new.get(n)
    ]


def install_release(
    layout: ReleaseLayout,
    manifest: Manifest,
    unpacked: Path,
    bootstrap_deps: list[Path] | None = None,
) -> Installed:
    started = time.monotonic()
    if manifest.arch != platform.machine() or manifest.python != python_tag():
        raise _refused(
            f"Release {manifest.version} is for {manifest.arch}/{manifest.python}, this kiosk "
            f"runs {platform.machine()}/{python_tag()}.",
            "Gói cập nhật không dành cho loại máy này.",
        )
    new_lock = parse_lock((unpacked / LOCK_NAME).read_text(encoding="utf-8"))
    current = layout.current()
    own_deps = bool(manifest.dependency_wheels())
    borrowed: list[Path] = []
    if current is not None:
        cur_lock_path = layout.release_dir(current) / LOCK_NAME
        cur_lock = (
            parse_lock(cur_lock_path.read_text(encoding="utf-8")) if cur_lock_path.exists() else {}
        )
        diff = lock_difference(cur_lock, new_lock)
        if diff and not own_deps:
            raise _refused(
                f"Release {manifest.version} needs other dependencies than {current} "
                f"({'; '.join(diff[:5])}) and carries no wheels for them.",
                "Gói cập nhật cần thư viện khác mà không kèm theo; không cài đặt.",
            )
        if not diff:
            borrowed = layout.borrowed(current) or [layout.site_packages(current)]
    elif not own_deps:
        borrowed = list(bootstrap_deps or [])
    dest = layout.release_dir(manifest.version)
    if dest.exists():  # a half-installed leftover of an interrupted attempt
        shutil.rmtree(dest)
    layout.releases.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(dest)
    if borrowed:
        site = layout.site_packages(manifest.version)
        (site / DEPS_PTH).write_text(
            "# dependencies borrowed from the release they were installed with\n"
            + "".join(f"{p}\n" for p in borrowed),
            encoding="utf-8",
        )
    wheel = unpacked / manifest.wheel().path
    cmd = [sys.executable, "-m", "pip", "--python", str(dest / "bin" / "python"), "install"]
    cmd += ["--quiet", "--no-index", "--disable-pip-version-check"]
    if own_deps:
        cmd += ["--find-links", str(unpacked / WHEELS_DIR)]
    else:
        cmd += ["--no-deps"]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
    proc = subprocess.run(
        [*cmd, str(wheel)], capture_output=True, text=True, env=env, timeout=PIP_TIMEOUT_S
    )
    if proc.returncode != 0:
        raise KioskError(
            "update_install_failed",
            f"Installing release {manifest.version} failed: {proc.stderr.strip()[-500:]}",
            "Cài đặt gói cập nhật không thành công; máy vẫn chạy phiên bản hiện tại.",
        )
    shutil.copyfile(unpacked / LOCK_NAME, dest / LOCK_NAME)
    if not (dest / "bin" / "sohoa").exists():
        raise KioskError(
            "update_install_failed",
            f"Release {manifest.version} installed no `sohoa` command.",
            "Gói cập nhật thiếu chương trình chính; không cài đặt.",
        )
    return Installed(manifest.version, time.monotonic() - started, borrowed)
