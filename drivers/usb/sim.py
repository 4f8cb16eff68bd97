"""Simulated USB sticks: a directory stands for the mounted stick, a JSON file for its USB
descriptors, with the failures real sticks have.

Layout under the simulator directory (``[export] sim_dir``)::

    <name>.usb.json   what the kernel would report: vid, pid, serial, interfaces, fstype,
                      capacity, and the faults to inject
    <name>/           the stick's filesystem once mounted

A stick is plugged while its ``.usb.json`` exists and is not marked ``"removed"``. Faults
(in the JSON under ``"faults"`` or through :meth:`SimStick.set_faults`):

``read_only``      write-protect switch: the device reports read-only, writes raise EROFS
``full_at``        the stick fills after N bytes written in this mount: writes raise ENOSPC
                   although free space looked sufficient (a counterfeit stick, another writer)
``remove_at``      the stick is pulled after N bytes written: that write is cut short, every
                   later call raises ENODEV and the device disappears from the list
``slow_bytes_per_s`` write throttle, so the progress display can be seen moving
``slow_read_bytes_per_s`` read throttle (with the former: a USB 2.0 stick for benchmarks)
``mount_error``    mounting fails (a damaged filesystem)
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from drivers.usb.base import (
    DeviceCallback,
    MountError,
    UsbIdentity,
    UsbInterface,
    UsbStorage,
    Volume,
)
from drivers.usb.policy import normalize_id

SUFFIX = ".usb.json"
DEFAULT_CAPACITY = 8 * 1000**3

log = logging.getLogger("sohoa.usb.sim")


class SimStick:
    """One simulated stick: its descriptor file and its directory."""

    def __init__(self, descriptor: Path):
        self.descriptor = Path(descriptor)

    @property
    def name(self) -> str:
        return self.descriptor.name[: -len(SUFFIX)]

    @property
    def root(self) -> Path:
        return self.descriptor.with_name(self.name)

    def load(self) -> dict[str, Any]:
        return json.loads(self.descriptor.read_text(encoding="utf-8"))

    def save(self, data: dict[str, Any]) -> None:
        """Replace the stick's descriptor (what the simulated udev and mount layer read)."""
        tmp = self.descriptor.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.descriptor)

    @property
    def plugged(self) -> bool:
        try:
            return not self.load().get("removed", False)
        except (OSError, ValueError):
            return False

    def set_faults(self, **faults: Any) -> None:
        data = self.load()
        data["faults"] = {**data.get("faults", {}), **faults}
        self.save(data)

    def clear_faults(self) -> None:
        data = self.load()
        data["faults"] = {}
        self.save(data)

    def unplug(self) -> None:
        data = self.load()
        data["removed"] = True
        self.save(data)

    def plug(self) -> None:
        data = self.load()
        data["removed"] = False
        self.save(data)

    def storage(self) -> UsbStorage:
        d = self.load()
        ident = UsbIdentity(
            vid=normalize_id(d["vid"]),
            pid=normalize_id(d["pid"]),
            serial=str(d.get("serial", "")),
            manufacturer=str(d.get("manufacturer", "")),
            product=str(d.get("product", "")),
            descriptor_sha256=str(d.get("descriptor_sha256", "")),
            interfaces=tuple(UsbInterface.parse(i) for i in d.get("interfaces", ["08:06:50"])),
        )
        faults = d.get("faults", {})
        return UsbStorage(
            identity=ident,
            node=self.name,
            fstype=d.get("fstype", "vfat"),
            read_only=bool(faults.get("read_only")),
            size=int(d.get("capacity", DEFAULT_CAPACITY)),
            label=str(d.get("label", "")),
            extra={"sim": str(self.descriptor)},
        )


def create_stick(
    sim_dir: Path | str,
    name: str,
    *,
    vid: str = "0781",
    pid: str = "5581",
    serial: str = "SIM0001",
    interfaces: list[str] | None = None,
    fstype: str | None = "vfat",
    capacity: int = DEFAULT_CAPACITY,
    faults: dict[str, Any] | None = None,
    manufacturer: str = "SanDisk",
    product: str = "Ultra",
) -> SimStick:
    """Plug a new simulated stick (development and tests)."""
    sim_dir = Path(sim_dir)
    sim_dir.mkdir(parents=True, exist_ok=True)
    stick = SimStick(sim_dir / f"{name}{SUFFIX}")
    stick.root.mkdir(parents=True, exist_ok=True)
    stick.save(
        {
            "vid": vid,
            "pid": pid,
            "serial": serial,
            "manufacturer": manufacturer,
            "product": product,
            "interfaces": interfaces or ["08:06:50"],
            "fstype": fstype,
            "capacity": capacity,
            "faults": faults or {},
        }
    )
    return stick


def _throttle(n: int, rate: float | None, started: float) -> None:
    """Make a transfer of ``n`` bytes last as long as it would at ``rate`` bytes/s.

    The time the backing directory's own disk already took counts towards it: the
    simulated stick has one speed, it is not the host's disk time plus the stick's.
    """
    if rate and n:
        left = n / float(rate) - (time.perf_counter() - started)
        if left > 0:
            time.sleep(left)


def _gone() -> OSError:
    return OSError(errno.ENODEV, "the USB stick was removed")


class _FaultyFile:
    """A file on a simulated stick: counts bytes against the mount's faults."""

    def __init__(self, fh: BinaryIO, volume: SimVolume):
        self._fh = fh
        self._vol = volume

    def write(self, data: bytes) -> int:
        vol = self._vol
        vol.check_present()
        faults = vol.faults
        n = len(data)
        remove_at = faults.get("remove_at")
        if remove_at is not None and vol.written + n >= int(remove_at):
            keep = max(0, int(remove_at) - vol.written)
            self._fh.write(data[:keep])
            with contextlib.suppress(OSError):
                self._fh.flush()
            vol.written += keep
            vol.pull_out()
            raise _gone()
        full_at = faults.get("full_at")
        if full_at is not None and vol.written + n > int(full_at):
            keep = max(0, int(full_at) - vol.written)
            self._fh.write(data[:keep])
            vol.written += keep
            raise OSError(errno.ENOSPC, "No space left on device")
        t0 = time.perf_counter()
        vol.written += n
        out = self._fh.write(data)
        _throttle(n, faults.get("slow_bytes_per_s"), t0)
        return out

    def read(self, size: int = -1) -> bytes:
        self._vol.check_present()
        t0 = time.perf_counter()
        data = self._fh.read(size)
        _throttle(len(data), self._vol.faults.get("slow_read_bytes_per_s"), t0)
        return data

    def flush(self) -> None:
        self._vol.check_present()
        self._fh.flush()

    def fileno(self) -> int:
        return self._fh.fileno()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _FaultyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimVolume(Volume):
    """The directory of a simulated stick, mounted; faults are re-read from its JSON."""

    def __init__(self, stick: SimStick, fstype: str):
        super().__init__(stick.root, fstype)
        self.stick = stick
        self.faults: dict[str, Any] = stick.load().get("faults", {})
        self.written = 0
        self._removed = False

    def pull_out(self) -> None:
        self._removed = True
        self.stick.unplug()

    def check_present(self) -> None:
        if self._removed or not self.stick.plugged:
            self._removed = True
            raise _gone()

    def _check_writable(self) -> None:
        self.check_present()
        if self.faults.get("read_only"):
            raise OSError(errno.EROFS, "Read-only file system")

    def free_bytes(self) -> int:
        self.check_present()
        cap = int(self.stick.load().get("capacity", DEFAULT_CAPACITY))
        used = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return max(0, min(cap - used, super().free_bytes()))

    def probe_writable(self) -> None:
        self._check_writable()
        super().probe_writable()

    def open_write(self, rel: str) -> BinaryIO:
        self._check_writable()
        return _FaultyFile(super().open_write(rel), self)  # type: ignore[return-value]

    def open_read(self, rel: str) -> BinaryIO:
        self.check_present()
        return _FaultyFile(super().open_read(rel), self)  # type: ignore[return-value]

    def fsync(self, fh: BinaryIO) -> None:
        self.check_present()
        super().fsync(fh)

    def replace(self, src: str, dst: str) -> None:
        self._check_writable()
        super().replace(src, dst)

    def fsync_dir(self, rel: str = "") -> None:
        self.check_present()
        super().fsync_dir(rel)

    def mkdir(self, rel: str) -> None:
        self._check_writable()
        super().mkdir(rel)

    def listdir(self, rel: str = "") -> list[str]:
        self.check_present()
        return super().listdir(rel)

    def remove(self, rel: str) -> None:
        self._check_writable()
        super().remove(rel)

    def rmtree(self, rel: str) -> None:
        self._check_writable()
        super().rmtree(rel)

    def sync(self) -> None:
        self.check_present()


class SimBackend:
    """USB storage simulated by directories (development, tests, ``sohoa export --target``)."""

    name = "sim"

    def __init__(self, sim_dir: Path | str, *, only: str | None = None, poll_s: float = 0.5):
        self.sim_dir = Path(sim_dir)
        self.only = only  # restrict to one stick (``--target DIR``)
        self.poll_s = poll_s
        self.mounted: dict[str, SimVolume] = {}

    def sticks(self) -> list[SimStick]:
        if not self.sim_dir.is_dir():
            return []
        out = [SimStick(p) for p in sorted(self.sim_dir.glob(f"*{SUFFIX}"))]
        if self.only is not None:
            out = [s for s in out if s.name == self.only]
        return [s for s in out if s.plugged]

    def devices(self) -> list[UsbStorage]:
        return [s.storage() for s in self.sticks()]

    def _stick(self, dev: UsbStorage) -> SimStick:
        return SimStick(self.sim_dir / f"{dev.node}{SUFFIX}")

    def mount(self, dev: UsbStorage) -> Volume:
        stick = self._stick(dev)
        if not stick.plugged:
            raise MountError("the stick was removed")
        if stick.load().get("faults", {}).get("mount_error"):
            raise MountError("the filesystem on the stick is damaged (simulated)")
        vol = SimVolume(stick, dev.fstype or "")
        self.mounted[dev.node] = vol
        return vol

    def unmount(self, dev: UsbStorage, *, power_off: bool = True) -> None:
        vol = self.mounted.pop(dev.node, None)
        if vol is not None:
            vol.check_present()

    def watch(self, callback: DeviceCallback) -> Callable[[], None]:
        """Poll the directory: the simulator has no kernel to send events."""
        stop = threading.Event()

        def loop() -> None:
            known: dict[str, UsbStorage] = {}
            while not stop.is_set():
                try:  # like a kernel's event source, the watcher outlives a bad callback
                    now = {d.node: d for d in self.devices()}
                    for node in now.keys() - known.keys():
                        callback("add", now[node])
                    for node in known.keys() - now.keys():
                        callback("remove", known[node])
                    known = now
                except Exception:
                    log.exception("simulated USB watcher: a hot-plug report failed")
                stop.wait(self.poll_s)

        t = threading.Thread(target=loop, name="usb-sim-watch", daemon=True)
        t.start()

        def cancel() -> None:
            stop.set()
            t.join(timeout=5)

        return cancel
