"""The A/B release layout: ``<root>/releases/<version>/`` (each a virtualenv) and
``<root>/current`` -> ``releases/<version>``, as the OS image lays it out
(``image-build/hooks/customize20-kiosk``).

The switch is atomic: a new symlink under a temporary name, ``rename(2)`` over ``current``,
then an fsync of the directory, so after a power cut ``current`` names either the old or the
new release, never nothing. The previous release is always kept (rollback needs it); older
ones are pruned, except those whose site-packages a kept release borrows its dependencies
from (see :mod:`.install`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from sohoa_common.atomic import fsync_dir

DEFAULT_ROOT = Path("/opt/sohoa")
CURRENT = "current"
RELEASES = "releases"
#: Inside a release: the dependency directories it borrows, one per line (a ``.pth`` file).
DEPS_PTH = "sohoa-deps.pth"


class ReleaseLayout:
    """Where releases live under one root; the only code that moves ``current``."""

    def __init__(self, root: Path | str = DEFAULT_ROOT):
        self.root = Path(root)
        self.releases = self.root / RELEASES
        self.current_link = self.root / CURRENT

    def release_dir(self, version: str) -> Path:
        return self.releases / version

    def current(self) -> str | None:
        """The version ``current`` points at, or None (nothing installed yet)."""
        try:
            target = os.readlink(self.current_link)
        except OSError:
            return None
        return Path(target).name

    def installed(self) -> list[str]:
        if not self.releases.is_dir():
            return []
        return sorted(
            p.name for p in self.releases.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def switch(self, version: str) -> None:
        """Point ``current`` at ``version`` atomically and durably."""
        if not self.release_dir(version).is_dir():
            raise FileNotFoundError(f"release {version} is not installed under {self.releases}")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{CURRENT}.new"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"{RELEASES}/{version}", tmp)
        os.replace(tmp, self.current_link)
        fsync_dir(self.root)

    def site_packages(self, version: str) -> Path:
        lib = self.release_dir(version) / "lib"
        found = sorted(lib.glob("python3*/site-packages")) if lib.is_dir() else []
        if not found:
            raise FileNotFoundError(f"release {version} has no site-packages")
        return found[0]

    def borrowed(self, version: str) -> list[Path]:
        """The dependency directories release ``version`` borrows (empty: it has its own)."""
        try:
            pth = self.site_packages(version) / DEPS_PTH
            lines = pth.read_text(encoding="utf-8").splitlines()
        except (OSError, FileNotFoundError):
            return []
        return [Path(line) for line in lines if line.strip() and not line.startswith("#")]

    def remove(self, version: str) -> None:
        path = self.release_dir(version)
        if path.exists():
            shutil.rmtree(path)
            fsync_dir(self.releases)

    def prune(self, keep: set[str]) -> list[str]:
        """Remove releases not in ``keep`` and not lent to a kept one; what was removed."""
        needed = set(keep)
        for v in keep:
            for dep in self.borrowed(v):
                with contextlib.suppress(ValueError):
                    needed.add(dep.relative_to(self.releases).parts[0])
        removed = []
        for v in self.installed():
            if v not in needed:
                self.remove(v)
                removed.append(v)
        return removed
