"""What the kiosk knows about a USB storage device, and the filesystem it writes to.

A stick is described by its USB identity (VID:PID, serial, a hash of its raw descriptors and
the class of every interface) as the kernel reports it, never by what the stick's own
filesystem says: a label or a file on the stick can be forged by anyone with a PC, the
descriptors only by rebuilding the device. All export I/O goes through a :class:`Volume` so
the simulated backend can inject the failures a real stick produces (full, read-only,
pulled out mid-write, slow) at exactly the calls where the real ones surface.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

MASS_STORAGE = 0x08

# Interface classes (USB-IF base class codes) named for people reading a rejection.
CLASS_NAMES: dict[int, tuple[str, str]] = {
    0x01: ("audio", "âm thanh"),
    0x02: ("communications (network/modem)", "truyền thông (mạng/modem)"),
    0x03: ("keyboard/mouse (HID)", "bàn phím/chuột (HID)"),
    0x05: ("physical", "thiết bị vật lý"),
    0x06: ("image", "ảnh"),
    0x07: ("printer", "máy in"),
    0x08: ("mass storage", "lưu trữ"),
    0x09: ("hub", "bộ chia USB"),
    0x0A: ("CDC data (network)", "dữ liệu CDC (mạng)"),
    0x0B: ("smart card", "thẻ thông minh"),
    0x0E: ("video", "video"),
    0xE0: ("wireless (Bluetooth/Wi-Fi)", "không dây (Bluetooth/Wi-Fi)"),
    0xEF: ("miscellaneous (RNDIS network)", "khác (mạng RNDIS)"),
    0xFE: ("application specific", "ứng dụng riêng"),
    0xFF: ("vendor specific", "riêng của hãng"),
}

# FAT32 cannot hold a file of 4 GiB or more.
FAT32_MAX_FILE = 4 * 1024**3 - 1
# Filesystems a receiving office can read and the kiosk can write safely.
SUPPORTED_FILESYSTEMS = frozenset({"vfat", "exfat", "ext4", "ntfs", "ntfs3"})


@dataclass(frozen=True)
class UsbInterface:
    cls: int
    subclass: int = 0
    protocol: int = 0

    @classmethod
    def parse(cls, text: str) -> UsbInterface:
        """``"08:06:50"`` (the notation of USBGuard and ``lsusb``) -> interface."""
        parts = [int(p, 16) for p in text.split(":")]
        while len(parts) < 3:
            parts.append(0)
        return cls(parts[0], parts[1], parts[2])

    def __str__(self) -> str:
        return f"{self.cls:02x}:{self.subclass:02x}:{self.protocol:02x}"

    @property
    def name_en(self) -> str:
        return CLASS_NAMES.get(self.cls, (f"class 0x{self.cls:02x}", ""))[0]

    @property
    def name_vi(self) -> str:
        return CLASS_NAMES.get(self.cls, ("", f"lớp 0x{self.cls:02x}"))[1]


@dataclass(frozen=True)
class UsbIdentity:
    vid: str  # four lower-case hex digits
    pid: str
    serial: str
    manufacturer: str = ""
    product: str = ""
    descriptor_sha256: str = ""
    interfaces: tuple[UsbInterface, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.vid}:{self.pid}:{self.serial}"

    def foreign_interfaces(self) -> list[UsbInterface]:
        """Interfaces that are not mass storage: a keyboard or a network card in a stick."""
        return [i for i in self.interfaces if i.cls != MASS_STORAGE]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["interfaces"] = [str(i) for i in self.interfaces]
        return d


@dataclass
class UsbStorage:
    """One plugged USB storage device and the filesystem the kiosk would write to."""

    identity: UsbIdentity
    node: str  # /dev/sdb1 on the kiosk; the stick's name in the simulator
    fstype: str | None  # None: no filesystem found (unformatted stick)
    read_only: bool = False  # write-protect switch / kernel read-only flag
    size: int | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity.to_dict(),
            "node": self.node,
            "fstype": self.fstype,
            "read_only": self.read_only,
            "size": self.size,
            "label": self.label,
        }


class MountError(Exception):
    """The stick could not be mounted or unmounted (udisks2 refused, I/O error...)."""


class Volume:
    """A mounted filesystem, addressed by paths relative to its root.

    The export never touches the stick except through these methods, so every write can be
    made durable (``fsync`` of file and directory) and every failure is an ``OSError`` with
    the errno the kernel would give (ENOSPC, EROFS, EIO, ENODEV).
    """

    def __init__(self, root: Path, fstype: str):
        self.root = Path(root)
        self.fstype = fstype

    def path(self, rel: str) -> Path:
        p = (self.root / rel).resolve()
        if p != self.root.resolve() and self.root.resolve() not in p.parents:
            raise ValueError(f"{rel!r} leaves the volume")
        return p

    @property
    def max_file_size(self) -> int | None:
        return FAT32_MAX_FILE if self.fstype == "vfat" else None

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def probe_writable(self) -> None:
        """Raise ``OSError(EROFS...)`` unless a file can really be created and removed."""
        st = os.statvfs(self.root)
        if st.f_flag & os.ST_RDONLY:
            raise OSError(errno.EROFS, "read-only file system", str(self.root))
        probe = ".sohoa-probe"
        with self.open_write(probe) as fh:
            fh.write(b"probe")
        self.remove(probe)

    def open_write(self, rel: str) -> BinaryIO:
        """Create a new file (never overwrite: an existing name means a logic error)."""
        return open(self.path(rel), "xb")  # noqa: SIM115 - the caller closes it

    def open_read(self, rel: str) -> BinaryIO:
        return open(self.path(rel), "rb")  # noqa: SIM115

    def fsync(self, fh: BinaryIO) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    def drop_cache(self, fh: BinaryIO) -> None:
        """Forget cached pages so a read-back reads the medium, not the kernel's memory."""
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    def replace(self, src: str, dst: str) -> None:
        os.replace(self.path(src), self.path(dst))

    def fsync_dir(self, rel: str = "") -> None:
        fd = os.open(self.path(rel) if rel else self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        except OSError as exc:  # vfat may not support fsync on directories
            if exc.errno != errno.EINVAL:
                raise
        finally:
            os.close(fd)

    def mkdir(self, rel: str) -> None:
        self.path(rel).mkdir(parents=True, exist_ok=True)

    def listdir(self, rel: str = "") -> list[str]:
        p = self.path(rel) if rel else self.root
        return sorted(os.listdir(p)) if p.is_dir() else []

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def size(self, rel: str) -> int:
        return self.path(rel).stat().st_size

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(rel).unlink()

    def rmtree(self, rel: str) -> None:
        shutil.rmtree(self.path(rel), ignore_errors=True)

    def sync(self) -> None:
        """Flush this filesystem only (``syncfs(2)``): ``os.sync()`` would also wait for
        every other disk, e.g. the kiosk's data partition while OCR workers write to it."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _libc_syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err), str(self.root))
        finally:
            os.close(fd)


def _libc_syncfs(fd: int) -> int:
    """``syncfs(fd)`` from the C library (Linux); falls back to ``sync()`` elsewhere."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    fn = getattr(libc, "syncfs", None)
    if fn is None:
        os.sync()
        return 0
    return int(fn(fd))


DeviceCallback = Callable[[str, UsbStorage], None]


class StorageBackend(Protocol):
    """Detection, mount and safe eject of USB storage; one per kiosk."""

    name: str

    def devices(self) -> list[UsbStorage]:
        """USB storage devices plugged right now (rejected ones included)."""
        ...

    def mount(self, dev: UsbStorage) -> Volume:
        """Mount ``dev`` (raises :class:`MountError`) and return its filesystem."""
        ...

    def unmount(self, dev: UsbStorage, *, power_off: bool = True) -> None:
        """Flush and unmount; with ``power_off`` also power the stick down so it can be
        pulled out safely (a preflight unmounts without powering off: the export follows)."""
        ...

    def watch(self, callback: DeviceCallback) -> Callable[[], None]:
        """Call ``callback("add"|"remove", dev)`` on hot-plug; return a function to stop."""
        ...
