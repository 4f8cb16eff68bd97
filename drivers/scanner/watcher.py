"""Hot-plug: notice scanners being plugged in and pulled out while the kiosk runs.

SANE has no hot-plug events, and a USB event names a bus device, not a SANE device. So
both paths end in the same step: list the SANE devices and compare with what we knew.
With pyudev and a running udev, a USB add/remove wakes the watcher at once (after a short
settle delay, because the backend can only open a device once udev has set its
permissions); without them (no pyudev installed, containers, CI) the watcher simply lists
every ``interval_s`` seconds. Polling continues under udev too, at the same interval, to
catch network scanners and missed events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.scanner.base import ScannerInfo
from drivers.scanner.errors import ScannerError
from drivers.scanner.sane import list_scanners

log = logging.getLogger(__name__)

UDEV_CONTROL = Path("/run/udev/control")


class ScannerWatcher:
    """Calls ``on_added(info)`` / ``on_removed(name)`` as SANE devices come and go.

    Devices present at start are reported through ``on_added`` on the first listing, so a
    caller learns the initial state the same way as later changes. A listing that fails
    (timeout, backend error) changes nothing: a slow network backend is not an unplug.
    Callbacks run on the watcher's thread.
    """

    def __init__(
        self,
        on_added: Callable[[ScannerInfo], None],
        on_removed: Callable[[str], None],
        *,
        interval_s: float = 5.0,
        lister: Callable[[], list[ScannerInfo]] | None = None,
        use_udev: bool | None = None,
        settle_s: float = 1.0,
    ) -> None:
        self._on_added = on_added
        self._on_removed = on_removed
        self.interval_s = interval_s
        self.settle_s = settle_s
        self._lister = lister or (lambda: list_scanners(timeout_s=max(5.0, interval_s * 4)))
        self._use_udev = use_udev
        self._known: dict[str, ScannerInfo] = {}
        self._refresh_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: Any = None

    @property
    def devices(self) -> dict[str, ScannerInfo]:
        """The devices seen at the last successful listing, by SANE name."""
        return dict(self._known)

    @property
    def mode(self) -> str:
        """ "udev" when USB events drive the watcher, else "poll"."""
        return "udev" if self._observer is not None else "poll"

    def refresh(self) -> bool:
        """List once and report differences. Returns False if the listing failed."""
        with self._refresh_lock:
            try:
                current = {d.name: d for d in self._lister()}
            except ScannerError as exc:
                log.warning("scanner listing failed, keeping the last known devices: %s", exc)
                return False
            added = [info for name, info in current.items() if name not in self._known]
            removed = [name for name in self._known if name not in current]
            self._known = current
        for name in removed:
            self._call(self._on_removed, name)
        for info in added:
            self._call(self._on_added, info)
        return True

    @staticmethod
    def _call(callback: Callable[[Any], None], arg: Any) -> None:
        try:
            callback(arg)
        except Exception:  # a faulty consumer must not stop hot-plug detection
            log.exception("scanner watcher callback %r failed", callback)

    def start(self) -> None:
        """Start watching in a daemon thread (udev events if possible, else polling)."""
        if self._thread is not None:
            return
        self._stop.clear()
        if self._use_udev is not False:
            self._observer = self._start_udev()
        self._thread = threading.Thread(target=self._loop, name="scanner-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop watching; returns within ``timeout_s`` even if a listing is under way."""
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            try:
                self._observer.stop()
            except Exception:
                log.exception("stopping the udev observer failed")
            self._observer = None
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> ScannerWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_udev(self) -> Any:
        """A pyudev observer on USB events, or None when pyudev or udev is missing."""
        try:
            import pyudev  # optional: only on images that ship it
        except ImportError:
            log.info("pyudev not installed: polling for scanners every %g s", self.interval_s)
            return None
        if not UDEV_CONTROL.exists():
            log.info("udev not running: polling for scanners every %g s", self.interval_s)
            return None
        try:
            monitor = pyudev.Monitor.from_netlink(pyudev.Context())
            monitor.filter_by(subsystem="usb")
            observer = pyudev.MonitorObserver(monitor, callback=lambda _device: self._wake.set())
            observer.daemon = True
            observer.start()
            return observer
        except Exception as exc:  # netlink refused (containers), udev library errors
            log.info("udev monitor unavailable (%s): polling for scanners", exc)
            return None

    def _loop(self) -> None:
        self.refresh()
        while not self._stop.is_set():
            woken = self._wake.wait(self.interval_s)
            if self._stop.is_set():
                return
            if woken:
                self._wake.clear()
                # Let udev finish permissions and the backend see the new device.
                if self._stop.wait(self.settle_s):
                    return
            self.refresh()
