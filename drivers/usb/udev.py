"""Real USB sticks: detection and hot-plug through pyudev, mount through udisks2.

Nothing is cached: every :meth:`UdevBackend.devices` call asks udev again, because a stick
may be pulled and another plugged between two screens of the UI.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.usb.base import DeviceCallback, MountError, UsbStorage, Volume
from drivers.usb.identity import identity_from_sysfs
from drivers.usb.udisks import Udisks2

log = logging.getLogger("sohoa.usb")


def _usb_device(block: Any) -> Any | None:
    """The ``usb_device`` ancestor of a block device (the physical stick)."""
    return block.find_parent("usb", "usb_device")


def _is_read_only(block: Any) -> bool:
    try:
        return Path(block.sys_path, "ro").read_text().strip() == "1"
    except OSError:
        return False


def _size(block: Any) -> int | None:
    try:
        return int(Path(block.sys_path, "size").read_text()) * 512
    except (OSError, ValueError):
        return None


class UdevBackend:
    """USB mass storage seen by udev; one :class:`UsbStorage` per physical stick."""

    name = "udisks2"

    def __init__(self, udisks: Udisks2 | None = None):
        self.udisks = udisks or Udisks2()

    def devices(self) -> list[UsbStorage]:
        import pyudev

        ctx = pyudev.Context()
        by_usb: dict[str, list[Any]] = {}
        usb_of: dict[str, Any] = {}
        for block in ctx.list_devices(subsystem="block"):
            if block.get("ID_BUS") != "usb":
                continue
            usb = _usb_device(block)
            if usb is None:
                continue
            by_usb.setdefault(usb.sys_path, []).append(block)
            usb_of[usb.sys_path] = usb
        out = []
        for sys_path, blocks in by_usb.items():
            ident = identity_from_sysfs(sys_path)
            # Prefer a partition with a filesystem; a "superfloppy" has it on the disk.
            with_fs = [b for b in blocks if b.get("ID_FS_USAGE") == "filesystem"]
            parts = [b for b in with_fs if b.device_type == "partition"] or with_fs
            chosen = parts[0] if parts else blocks[0]
            disk = next((b for b in blocks if b.device_type == "disk"), chosen)
            out.append(
                UsbStorage(
                    identity=ident,
                    node=chosen.device_node or "",
                    fstype=chosen.get("ID_FS_TYPE") or None,
                    read_only=_is_read_only(disk) or _is_read_only(chosen),
                    size=_size(chosen),
                    label=chosen.get("ID_FS_LABEL", ""),
                    extra={"sys_path": sys_path, "disk": disk.device_node},
                )
            )
        return out

    def mount(self, dev: UsbStorage) -> Volume:
        if dev.fstype is None:
            raise MountError("no filesystem on the stick")
        where: Path | None
        try:
            where = self.udisks.mount(dev.node)
        except MountError:
            where = self.udisks.mount_point(dev.node)  # already mounted by udisks2
            if where is None:
                raise
        return Volume(where, dev.fstype)

    def unmount(self, dev: UsbStorage, *, power_off: bool = True) -> None:
        # udisks2's Unmount flushes the filesystem itself (umount(2) writes back every
        # dirty page first): no global sync of every other disk here.
        self.udisks.unmount(dev.node)
        if power_off:
            with contextlib.suppress(MountError):  # some card readers cannot power off
                self.udisks.power_off(dev.node)

    def watch(self, callback: DeviceCallback) -> Callable[[], None]:
        """Hot-plug through a udev monitor on the ``block`` subsystem."""
        import pyudev

        ctx = pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(ctx)
        monitor.filter_by("block")
        known: dict[str, UsbStorage] = {d.node: d for d in self.devices()}

        def on_event(action: str, device: Any) -> None:
            if action not in ("add", "remove") or device.get("ID_BUS") != "usb":
                return
            if action == "add":
                for dev in self.devices():
                    if dev.node not in known:
                        known[dev.node] = dev
                        callback("add", dev)
            else:
                gone = known.pop(device.device_node or "", None)
                if gone is not None:
                    callback("remove", gone)

        observer = pyudev.MonitorObserver(
            monitor, callback=lambda d: on_event(d.action or "", d), name="usb-watch"
        )
        observer.daemon = True
        observer.start()
        return observer.stop
