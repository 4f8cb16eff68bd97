"""Mount, unmount and power off through udisks2 over D-Bus: the kiosk's one privileged step.

Why udisks2: the kiosk service never runs as root and the UI never mounts anything. udisks2
(a system service) does the privileged work after polkit has authorized the kiosk user for
exactly three actions on removable drives (mount, unmount, power off; the polkit rule ships
in the OS image), and it mounts with ``nosuid,nodev`` plus the ``noexec`` we ask for.

Why jeepney: a pure-Python D-Bus client (no GLib, no compiled extension, no event loop) that
returns typed replies; parsing ``udisksctl``'s or ``gdbus``'s human-readable output would be
fragile across versions. Imported lazily, so development machines without it still work.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from drivers.usb.base import MountError

SERVICE = "org.freedesktop.UDisks2"
BLOCK_PREFIX = "/org/freedesktop/UDisks2/block_devices/"
MOUNT_OPTIONS = "noexec"


def block_object_path(node: str) -> str:
    """``/dev/sdb1`` -> ``/org/freedesktop/UDisks2/block_devices/sdb1`` (udisks escaping)."""
    name = os.path.basename(node)
    escaped = re.sub(r"[^A-Za-z0-9]", lambda m: f"_{ord(m.group()):02x}", name)
    return BLOCK_PREFIX + escaped


class Udisks2:
    """A small udisks2 client. ``bus`` is "SYSTEM" on the kiosk, an address in tests."""

    def __init__(self, bus: str = "SYSTEM", timeout: float = 30.0):
        self.bus = bus
        self.timeout = timeout

    def _call(self, path: str, interface: str, method: str, sig: str, body: tuple[Any, ...]):
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        addr = DBusAddress(path, bus_name=SERVICE, interface=interface)
        try:
            with open_dbus_connection(bus=self.bus) as conn:
                reply = conn.send_and_get_reply(
                    new_method_call(addr, method, sig, body), timeout=self.timeout
                )
                return unwrap_msg(reply)
        except DBusErrorResponse as exc:
            raise MountError(
                f"udisks2 {method}: {exc.name}: {' '.join(map(str, exc.data))}"
            ) from None
        except (OSError, TimeoutError, KeyError) as exc:
            raise MountError(f"udisks2 unreachable ({method}): {exc}") from exc

    def _get(self, path: str, interface: str, prop: str) -> Any:
        (value,) = self._call(
            path, "org.freedesktop.DBus.Properties", "Get", "ss", (interface, prop)
        )
        return value[1]  # a variant: (signature, value)

    def mount(self, node: str) -> Path:
        path = block_object_path(node)
        options = {"options": ("s", MOUNT_OPTIONS)}
        (where,) = self._call(path, f"{SERVICE}.Filesystem", "Mount", "a{sv}", (options,))
        return Path(where)

    def mount_point(self, node: str) -> Path | None:
        """Where ``node`` is mounted already (udisks2 refuses to mount it twice)."""
        points = self._get(block_object_path(node), f"{SERVICE}.Filesystem", "MountPoints")
        for raw in points:
            return Path(bytes(raw).rstrip(b"\0").decode())
        return None

    def unmount(self, node: str) -> None:
        self._call(block_object_path(node), f"{SERVICE}.Filesystem", "Unmount", "a{sv}", ({},))

    def power_off(self, node: str) -> None:
        """Spin down and detach the drive that holds ``node``: now it is safe to pull."""
        drive = self._get(block_object_path(node), f"{SERVICE}.Block", "Drive")
        if drive and drive != "/":
            self._call(drive, f"{SERVICE}.Drive", "PowerOff", "a{sv}", ({},))
