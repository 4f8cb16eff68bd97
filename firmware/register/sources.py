"""Where the archivist's register files come from, without typing a path: the data
directory's ``import/`` folder and the USB sticks plugged into the kiosk.

A file on a stick is copied into ``import/`` (atomically) before it is read, so pulling
the stick out during a long import cannot cut it short; the copy is what the catalog's
source hash refers to. Only names offered by :func:`list_sources` can be fetched, so a
request cannot reach any other file.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from firmware.register.errors import RegisterFileError
from sohoa_common.atomic import atomic_open

log = logging.getLogger("sohoa.register")
SUFFIXES = (".csv", ".xlsx", ".txt")
MAX_DEPTH = 2


@dataclass(frozen=True)
class Source:
    id: str  # "import/<name>" or "usb/<node>/<relative path>"
    name: str
    where: str  # "import" | "usb"
    label: str  # the stick's label, or "import"
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_dir(settings: Any) -> Path:
    return Path(settings.data_dir) / "import"


def _backend(settings: Any) -> Any:
    from drivers.usb import open_backend

    cfg = settings.export
    sim = Path(cfg.sim_dir) if cfg.sim_dir else Path(settings.data_dir) / "usb-sim"
    return open_backend(cfg.backend, sim)


def _files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if len(rel.parts) > MAX_DEPTH or any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in SUFFIXES:
            out.append(p)
    return out


def list_sources(settings: Any) -> list[Source]:
    """Register files in ``import/`` and on every plugged USB stick."""
    out = []
    local = import_dir(settings)
    if local.is_dir():
        for p in _files(local):
            rel = p.relative_to(local).as_posix()
            out.append(Source(f"import/{rel}", rel, "import", "import", p.stat().st_size))
    try:
        backend = _backend(settings)
        devices = backend.devices()
    except Exception as exc:  # no USB stack (a dev box without udisks2): local files only
        log.info("USB sticks not listed: %s", exc)
        return out
    for dev in devices:
        try:
            vol = backend.mount(dev)
        except Exception as exc:
            log.warning("cannot mount %s: %s", dev.node, exc)
            continue
        try:
            for p in _files(vol.root):
                rel = p.relative_to(vol.root).as_posix()
                label = dev.label or dev.identity.product or dev.node
                out.append(Source(f"usb/{dev.node}/{rel}", rel, "usb", label, p.stat().st_size))
        finally:
            with contextlib.suppress(Exception):
                backend.unmount(dev)
    return out


def fetch(settings: Any, source_id: str) -> tuple[Path, Source]:
    """A local path to read for ``source_id`` (a stick's file is copied in first)."""
    found = {s.id: s for s in list_sources(settings)}.get(source_id)
    if found is None:
        raise RegisterFileError(
            "source_gone",
            f"{source_id} is no longer there (stick removed?)",
            "Không còn thấy tệp này (USB đã bị rút?). Hãy chọn lại.",
            status=404,
        )
    if found.where == "import":
        return import_dir(settings) / found.name, found
    backend = _backend(settings)
    node = source_id.split("/", 2)[1]
    dev = next((d for d in backend.devices() if d.node == node), None)
    if dev is None:
        raise RegisterFileError(
            "source_gone", "the USB stick was removed", "USB đã bị rút ra. Hãy cắm lại và chọn lại."
        )
    vol = backend.mount(dev)
    target = import_dir(settings) / ".usb" / Path(found.name).name
    try:
        with (vol.root / found.name).open("rb") as src, atomic_open(target) as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    except OSError as exc:
        raise RegisterFileError(
            "source_unreadable",
            f"cannot copy {found.name} from the stick: {exc.strerror or exc}",
            "Không đọc được tệp trên USB (USB bị rút hoặc hỏng).",
        ) from None
    finally:
        with contextlib.suppress(Exception):
            backend.unmount(dev)
    return target, found
