"""Hot-plug detection through the polling path (no udev here): an injected listing, then
the real SANE stack where "plugging in" is enabling the test backend."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from drivers.scanner import ScannerError, ScannerInfo, ScannerWatcher

FI = ScannerInfo("fujitsu:fi-7160:10045", "FUJITSU", "fi-7160", "scanner")
HP = ScannerInfo(
    "hpaio:/usb/ScanJet_Pro_2500_f1", "Hewlett-Packard", "ScanJet_Pro_2500_f1", "all-in-one"
)


class Recorder:
    """Collects callbacks and lets a test wait for a given event (never sleeps blindly)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._changed = threading.Condition()

    def added(self, info: ScannerInfo) -> None:
        with self._changed:
            self.events.append(("added", info.name))
            self._changed.notify_all()

    def removed(self, name: str) -> None:
        with self._changed:
            self.events.append(("removed", name))
            self._changed.notify_all()

    def wait_for(self, event: tuple[str, str], timeout_s: float = 10) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: event in self.events, timeout_s)


class FakeBus:
    """What SANE would list; a test plugs and unplugs devices by editing it."""

    def __init__(self, *devices: ScannerInfo) -> None:
        self.devices = list(devices)
        self.fail = False
        self.calls = 0

    def __call__(self) -> list[ScannerInfo]:
        self.calls += 1
        if self.fail:
            raise ScannerError("timeout", detail="listing took too long")
        return list(self.devices)


def test_refresh_reports_differences_once() -> None:
    bus, rec = FakeBus(FI), Recorder()
    watcher = ScannerWatcher(rec.added, rec.removed, lister=bus, use_udev=False)
    assert watcher.refresh()
    assert rec.events == [("added", FI.name)]  # the initial state arrives as additions
    assert watcher.refresh()
    assert rec.events == [("added", FI.name)]  # nothing changed, nothing reported
    bus.devices = [HP]
    watcher.refresh()
    assert rec.events[1:] == [("removed", FI.name), ("added", HP.name)]
    assert set(watcher.devices) == {HP.name}


def test_failed_listing_is_not_an_unplug() -> None:
    bus, rec = FakeBus(FI), Recorder()
    watcher = ScannerWatcher(rec.added, rec.removed, lister=bus, use_udev=False)
    watcher.refresh()
    bus.fail = True
    assert not watcher.refresh()
    assert ("removed", FI.name) not in rec.events
    assert set(watcher.devices) == {FI.name}


def test_a_failing_callback_does_not_stop_detection() -> None:
    bus, rec = FakeBus(FI, HP), Recorder()

    def grumpy(info: ScannerInfo) -> None:
        rec.added(info)
        raise RuntimeError("consumer bug")

    watcher = ScannerWatcher(grumpy, rec.removed, lister=bus, use_udev=False)
    watcher.refresh()
    assert sorted(rec.events) == sorted([("added", FI.name), ("added", HP.name)])


def test_scanner_plugged_after_start_is_found_by_polling() -> None:
    bus, rec = FakeBus(), Recorder()
    with ScannerWatcher(rec.added, rec.removed, lister=bus, interval_s=0.05, use_udev=False) as w:
        assert w.mode == "poll"
        bus.devices = [FI]
        assert rec.wait_for(("added", FI.name))
        bus.devices = []
        assert rec.wait_for(("removed", FI.name))
    assert rec.events == [("added", FI.name), ("removed", FI.name)]
    calls = bus.calls
    assert not rec.wait_for(("added", "never"), timeout_s=0.2)
    assert bus.calls == calls  # stopped means stopped


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("scanimage") is None, reason="sane-utils not installed")
def test_real_sane_device_appearing_and_vanishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "sane.d"
    conf.mkdir()
    (conf / "dll.conf").write_text("")
    (conf / "test.conf").write_text("number_of_devices 1\n")
    monkeypatch.setenv("SANE_CONFIG_DIR", str(conf))
    rec = Recorder()
    with ScannerWatcher(rec.added, rec.removed, interval_s=0.1, use_udev=False) as watcher:
        (conf / "dll.conf").write_text("test\n")  # the scanner is "plugged in"
        assert rec.wait_for(("added", "test:0"))
        assert watcher.devices["test:0"].model == "frontend-tester"
        (conf / "dll.conf").write_text("")  # ... and pulled out
        assert rec.wait_for(("removed", "test:0"))
