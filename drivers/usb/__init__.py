"""USB storage for secure export: identity, authorization, mount and safe eject.

Backends: ``udisks2`` (pyudev detection + udisks2 over D-Bus, the kiosk) and ``sim``
(directories standing for sticks, with injectable faults; development and tests). Both are
chosen by ``[export] backend`` and import their libraries lazily.
"""

from __future__ import annotations

from pathlib import Path

from drivers.usb.base import (
    FAT32_MAX_FILE,
    MASS_STORAGE,
    SUPPORTED_FILESYSTEMS,
    MountError,
    StorageBackend,
    UsbIdentity,
    UsbInterface,
    UsbStorage,
    Volume,
)
from drivers.usb.policy import AllowedStick, Authorization, authorize, usbguard_rules

__all__ = [
    "FAT32_MAX_FILE",
    "MASS_STORAGE",
    "SUPPORTED_FILESYSTEMS",
    "AllowedStick",
    "Authorization",
    "MountError",
    "StorageBackend",
    "UsbIdentity",
    "UsbInterface",
    "UsbStorage",
    "Volume",
    "authorize",
    "open_backend",
    "usbguard_rules",
]


def open_backend(kind: str, sim_dir: Path | str | None = None) -> StorageBackend:
    """The storage backend named ``kind`` ("sim" needs ``sim_dir``; "udisks2" the system bus)."""
    if kind == "sim":
        from drivers.usb.sim import SimBackend

        if sim_dir is None:
            raise ValueError("the sim USB backend needs a directory")
        return SimBackend(sim_dir)
    if kind == "udisks2":
        from drivers.usb.udev import UdevBackend

        return UdevBackend()
    raise ValueError(f"unknown USB backend {kind!r}")
