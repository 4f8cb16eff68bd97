"""The README's map of the code names every package of the tree (issue #13).

A newcomer finds their way by that map; a package added without a line there is invisible.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ["firmware", "drivers", "kiosk_ui", "provisioning", "sohoa_common"]


def packages() -> list[str]:
    found = []
    for top in TOP:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT).as_posix()
            if "/static" in rel or "/templates" in rel or "/i18n" in rel:
                continue
            found.append(rel)
    return found


def mapped_paths() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Map of the code", 1)[1].split("\n## ", 1)[0]
    return {m.rstrip("/") for m in re.findall(r"^\| `([^`]+)`", section, flags=re.M)}


def test_every_package_is_in_the_readme_map():
    mapped = mapped_paths()
    # a sub-package may instead be named as `leaf/` on its parent's line (drivers' camera/, ...)
    missing = [p for p in packages() if p not in mapped and not _named_in_parent(p)]
    assert not missing, f"README 'Map of the code' lacks: {missing}"


def _named_in_parent(pkg: str) -> bool:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Map of the code", 1)[1].split("\n## ", 1)[0]
    parent, leaf = pkg.rsplit("/", 1) if "/" in pkg else ("", pkg)
    for line in section.splitlines():
        if line.startswith(f"| `{parent}/`") and f"`{leaf}/`" in line:
            return True
    return False


def test_every_mapped_path_exists():
    missing = [p for p in mapped_paths() if not (ROOT / p).exists()]
    assert not missing, f"README 'Map of the code' names paths that do not exist: {missing}"
