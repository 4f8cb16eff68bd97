"""A USB device's identity, read from sysfs.

Why sysfs and not a control transfer through pyusb/libusb: the kernel already holds the
device's raw descriptors (``/sys/bus/usb/devices/<port>/descriptors``, the device descriptor
followed by every configuration descriptor exactly as the device sent them), readable
without root and without talking to the device again. Asking an untrusted device for its
descriptors a second time is itself an attack surface (a hostile device may answer
differently each time); hashing the kernel's copy gives one stable fingerprint.

Interfaces are taken from the descriptors of *every* configuration, not only the active
one: a BadUSB stick can present storage first and switch to a keyboard configuration later.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from drivers.usb.base import UsbIdentity, UsbInterface

INTERFACE_DESCRIPTOR = 0x04


def parse_interfaces(blob: bytes) -> list[UsbInterface]:
    """Every interface descriptor in a raw descriptor blob (all configurations)."""
    out: list[UsbInterface] = []
    i = 0
    while i + 2 <= len(blob):
        length, kind = blob[i], blob[i + 1]
        if length < 2:  # malformed: stop rather than loop forever
            break
        if kind == INTERFACE_DESCRIPTOR and length >= 9 and i + 9 <= len(blob):
            iface = UsbInterface(blob[i + 5], blob[i + 6], blob[i + 7])
            if iface not in out:
                out.append(iface)
        i += length
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def identity_from_sysfs(devdir: Path | str) -> UsbIdentity:
    """Identity of the USB device whose sysfs directory is ``devdir`` (e.g. ``.../1-2``)."""
    devdir = Path(devdir)
    try:
        blob = (devdir / "descriptors").read_bytes()
    except OSError:
        blob = b""
    interfaces = parse_interfaces(blob)
    # The bound interfaces of the active configuration, as the kernel enumerated them.
    for sub in sorted(devdir.glob(f"{devdir.name}:*")):
        cls = _read(sub / "bInterfaceClass")
        if not cls:
            continue
        iface = UsbInterface(
            int(cls, 16),
            int(_read(sub / "bInterfaceSubClass") or "0", 16),
            int(_read(sub / "bInterfaceProtocol") or "0", 16),
        )
        if iface not in interfaces:
            interfaces.append(iface)
    return UsbIdentity(
        vid=_read(devdir / "idVendor").lower(),
        pid=_read(devdir / "idProduct").lower(),
        serial=_read(devdir / "serial"),
        manufacturer=_read(devdir / "manufacturer"),
        product=_read(devdir / "product"),
        descriptor_sha256=hashlib.sha256(blob).hexdigest() if blob else "",
        interfaces=tuple(interfaces),
    )
