"""The check before an export: is exactly one stick plugged, registered, writable, in a
supported format, with room enough? What the touchscreen shows before and during an export.

On ``READY`` the stick stays mounted for the export that follows (``Preflight.volume``);
otherwise it is released again. A device that is refused is audited once per plug, not once
per screen refresh.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from drivers.usb import (
    AllowedStick,
    MountError,
    StorageBackend,
    UsbStorage,
    Volume,
    authorize,
)
from drivers.usb.base import SUPPORTED_FILESYSTEMS
from firmware.store.catalog import Catalog

log = logging.getLogger("sohoa.export")


class Status(StrEnum):
    NO_DEVICE = "no_device"
    SEVERAL_DEVICES = "several_devices"
    UNAUTHORIZED = "unauthorized"
    READ_ONLY = "read_only"
    NOT_ENOUGH_SPACE = "not_enough_space"
    UNSUPPORTED_FILESYSTEM = "unsupported_filesystem"
    MOUNT_ERROR = "mount_error"
    READY = "ready"


# status -> (English, Vietnamese); {placeholders} are filled by the preflight.
MESSAGES: dict[str, tuple[str, str]] = {
    Status.NO_DEVICE: (
        "Insert the registered secure USB stick.",
        "Hãy cắm USB bảo mật đã đăng ký.",
    ),
    Status.SEVERAL_DEVICES: (
        "More than one USB stick is plugged in; leave only the one for the export.",
        "Đang cắm nhiều hơn một USB; chỉ để lại USB dùng để xuất.",
    ),
    Status.UNAUTHORIZED: (
        "This USB stick is not registered for confidential export; use a registered stick.",
        "USB này chưa được đăng ký để xuất tài liệu mật; hãy dùng USB đã đăng ký.",
    ),
    "foreign_interface": (
        "This device is not a plain USB stick (it also acts as {classes}); it is refused. "
        "Remove it.",
        "Thiết bị này không phải USB lưu trữ thông thường (có thêm chức năng {classes_vi}); "
        "không được phép sử dụng. Hãy rút thiết bị ra.",
    ),
    Status.READ_ONLY: (
        "The USB stick is write-protected; slide its lock switch off and insert it again.",
        "USB đang bị khóa ghi; hãy gạt khóa chống ghi rồi cắm lại.",
    ),
    Status.NOT_ENOUGH_SPACE: (
        "Not enough free space on the USB stick: {need} needed, {free} free.",
        "USB không đủ dung lượng: cần {need}, còn trống {free}.",
    ),
    Status.UNSUPPORTED_FILESYSTEM: (
        "The USB stick's format ({fs}) is not supported; format it as FAT32 or exFAT.",
        "Định dạng của USB ({fs}) không được hỗ trợ; hãy định dạng USB theo FAT32 hoặc exFAT.",
    ),
    Status.MOUNT_ERROR: (
        "The USB stick could not be opened; remove it and insert it again.",
        "Không mở được USB; hãy rút USB ra rồi cắm lại.",
    ),
    Status.READY: (
        "Ready to export {count} document(s) to {label}.",
        "Sẵn sàng xuất {count} tài liệu ra {label}.",
    ),
}


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


@dataclass
class Preflight:
    """What the touchscreen shows before an export; ``status`` is one of :class:`Status`."""

    status: Status
    message_en: str
    message_vi: str
    device: UsbStorage | None = None
    devices: list[UsbStorage] = field(default_factory=list)
    reason: str = ""  # unauthorized: foreign_interface | not_listed | no_serial
    label: str = ""
    free_bytes: int | None = None
    needed_bytes: int | None = None
    volume: Volume | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.status == Status.READY

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "message_en": self.message_en,
            "message_vi": self.message_vi,
            "reason": self.reason,
            "label": self.label,
            "device": self.device.to_dict() if self.device else None,
            "devices": [d.to_dict() for d in self.devices],
            "free_bytes": self.free_bytes,
            "needed_bytes": self.needed_bytes,
        }


def result(status: Status, **kw: Any) -> Preflight:
    """A :class:`Preflight` of ``status`` with its messages (``fmt`` fills them in; an
    unauthorized device's ``reason`` has its own words when :data:`MESSAGES` has them)."""
    fmt = kw.pop("fmt", {})
    reason = kw.get("reason")
    key = reason if isinstance(reason, str) and reason in MESSAGES else status
    en, vi = MESSAGES[key]
    return Preflight(status, en.format(**fmt), vi.format(**fmt), **kw)


class StickCheck:
    """The preflight of one exporter: checks the plugged stick, and remembers which
    refused devices it has audited already (one record per device plugged)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._rejected_seen: set[str] = set()

    def devices(
        self, backend: StorageBackend, allowlist: list[AllowedStick]
    ) -> list[dict[str, Any]]:
        """Every plugged USB storage device and whether it may receive an export."""
        out = []
        for dev in backend.devices():
            verdict = authorize(dev.identity, allowlist)
            out.append(
                {
                    **dev.to_dict(),
                    "authorized": verdict.ok,
                    "reason": verdict.reason,
                    "allowlist_label": verdict.label,
                    "foreign_interfaces": [str(i) for i in verdict.foreign],
                }
            )
        return out

    def _audit_rejection(self, dev: UsbStorage, reason: str, actor: str) -> None:
        """One audit record per rejected device plugged, not one per screen refresh."""
        seen = f"{dev.identity.key}|{dev.identity.descriptor_sha256}|{reason}"
        if seen in self._rejected_seen:
            return
        self._rejected_seen.add(seen)
        self.catalog.audit(actor, "usb.rejected", reason=reason, device=dev.identity.to_dict())

    def check(
        self,
        backend: StorageBackend,
        allowlist: list[AllowedStick],
        needed: int | None,
        count: int,
        actor: str,
    ) -> Preflight:
        """Check the stick; on READY it stays mounted (``volume``), otherwise it is not."""
        devices = backend.devices()
        if not devices:
            return result(Status.NO_DEVICE)
        if len(devices) > 1:
            return result(Status.SEVERAL_DEVICES, devices=devices)
        dev = devices[0]
        verdict = authorize(dev.identity, allowlist)
        if not verdict.ok:
            self._audit_rejection(dev, verdict.reason, actor)
            classes = sorted({i.name_en for i in verdict.foreign}) or ["unknown"]
            classes_vi = sorted({i.name_vi for i in verdict.foreign}) or ["không rõ"]
            return result(
                Status.UNAUTHORIZED,
                device=dev,
                devices=devices,
                reason=verdict.reason,
                fmt={"classes": ", ".join(classes), "classes_vi": ", ".join(classes_vi)},
            )
        label = verdict.label or dev.identity.product or dev.identity.serial
        base: dict[str, Any] = {"device": dev, "devices": devices, "label": label}
        if dev.fstype not in SUPPORTED_FILESYSTEMS:
            fs = dev.fstype or "không có / none"
            return result(Status.UNSUPPORTED_FILESYSTEM, fmt={"fs": fs}, **base)
        if dev.read_only:
            return result(Status.READ_ONLY, **base)
        try:
            vol = backend.mount(dev)
        except MountError as exc:
            self.catalog.audit(actor, "usb.mount_error", error=str(exc), serial=dev.identity.serial)
            return result(Status.MOUNT_ERROR, **base)
        try:
            vol.probe_writable()
            free = vol.free_bytes()
        except OSError as exc:
            release(backend, dev, eject=False)
            if exc.errno == errno.EROFS:
                return result(Status.READ_ONLY, **base)
            return result(Status.MOUNT_ERROR, **base)
        if needed is not None and free < needed:
            release(backend, dev, eject=False)
            return result(
                Status.NOT_ENOUGH_SPACE,
                free_bytes=free,
                needed_bytes=needed,
                fmt={"need": human_size(needed), "free": human_size(free)},
                **base,
            )
        return result(
            Status.READY,
            free_bytes=free,
            needed_bytes=needed,
            volume=vol,
            fmt={"count": count, "label": label},
            **base,
        )


def release(backend: StorageBackend, dev: UsbStorage, *, eject: bool = True) -> bool:
    """Sync and unmount (and, with ``eject``, power the stick down); True when the
    stick may now be pulled out. A preflight does not eject: the export follows."""
    try:
        backend.unmount(dev, power_off=eject)
        return True
    except (MountError, OSError) as exc:
        log.warning("unmounting %s failed: %s", dev.node, exc)
        return False
