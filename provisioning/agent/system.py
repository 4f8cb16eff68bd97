"""What the agent asks of the operating system: restart the kiosk service, reboot.

A small Protocol so remote commands are testable without rebooting anything:
:class:`SystemdSystem` is the real one, :class:`RecordingSystem` behaves like it for
development, the demo and tests (it records what was asked and changes nothing). Chosen by
``[agent] system``.

The agent's user has no privileges (``NoNewPrivileges``, no capabilities, and the image has
no polkit), so it cannot run ``systemctl restart`` itself. It asks root's path units
instead (``image-build/systemd/sohoa-agent-{restart,reboot}.path``): it writes
``<agent state>/requests/restart-service`` or ``reboot`` (:data:`OS_REQUESTS`), and the
unit watching that file runs exactly that one ``systemctl`` action as root. Reading the
kiosk unit's state (``systemctl show``, ``is-active``) needs no privilege, so a restart
waits until the unit runs a new invocation.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Protocol

from firmware.fleet.link import SHARED_DIR_MODE, SHARED_FILE_MODE, ensure_dir
from sohoa_common.atomic import atomic_write_text

KIOSK_UNIT = "sohoa.service"
#: Request file -> what root's path unit of the same name does (the one list of them).
OS_REQUESTS = {"restart-service": "systemctl restart sohoa.service", "reboot": "systemctl reboot"}


class System(Protocol):
    def restart_service(self) -> None: ...

    def reboot(self) -> None: ...


def os_request_path(state_dir: Path, name: str) -> Path:
    return state_dir / "requests" / name


def request_os(state_dir: Path, name: str) -> Path:
    """Write the request file a path unit watches (each write is a new request)."""
    if name not in OS_REQUESTS:
        raise ValueError(name)
    path = os_request_path(state_dir, name)
    ensure_dir(path.parent, SHARED_DIR_MODE)
    atomic_write_text(path, dt.datetime.now(dt.UTC).isoformat() + "\n", mode=SHARED_FILE_MODE)
    return path


class SystemdSystem:
    def __init__(self, state_dir: Path, unit: str = KIOSK_UNIT, timeout_s: float = 60):
        self.state_dir = state_dir
        self.unit = unit
        self.timeout_s = timeout_s

    def _show(self, prop: str) -> str:
        r = subprocess.run(
            ["systemctl", "show", "-p", prop, "--value", self.unit],
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
        )
        return r.stdout.strip()

    def restart_service(self) -> None:
        """Ask for the restart and wait until the unit runs a new invocation, active."""
        before = self._show("InvocationID")
        request_os(self.state_dir, "restart-service")
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._show("InvocationID") != before and self._show("ActiveState") == "active":
                return
            time.sleep(0.5)
        raise OSError(f"{self.unit} was not restarted within {self.timeout_s:.0f} s")

    def reboot(self) -> None:
        # asynchronous: the agent reports the result before the machine goes down
        request_os(self.state_dir, "reboot")


class RecordingSystem:
    """Records the calls; ``fail`` makes the next call raise like a failing systemctl."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: str | None = None
        self._lock = threading.Lock()

    def _call(self, name: str) -> None:
        with self._lock:
            if self.fail:
                reason, self.fail = self.fail, None
                raise OSError(reason)
            self.calls.append(name)

    def restart_service(self) -> None:
        self._call("restart_service")

    def reboot(self) -> None:
        self._call("reboot")


def open_system(kind: str, state_dir: Path) -> System:
    """``auto``: systemd when running under it (``INVOCATION_ID``), else recording."""
    if kind == "auto":
        kind = "systemd" if os.environ.get("INVOCATION_ID") else "recording"
    return SystemdSystem(state_dir) if kind == "systemd" else RecordingSystem()
