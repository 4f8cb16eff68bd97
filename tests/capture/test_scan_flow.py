"""Scanner pages in the kiosk flow: SANE's test backend through the real stack, then the
same pipeline, quality gates, OCR pool and sealing as camera pages."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest

from drivers.camera.base import Frame
from drivers.scanner import SaneScanner, ScannerError, ScanSettings
from firmware.errors import KioskError
from tests.conftest import run_sohoa

pytestmark = pytest.mark.integration


@pytest.fixture
def sane_conf(tmp_path, monkeypatch):
    conf = tmp_path / "sane.d"
    conf.mkdir()
    (conf / "dll.conf").write_text("test\n")
    (conf / "test.conf").write_text('number_of_devices 1\ntest-picture "Grid"\n')
    monkeypatch.setenv("SANE_CONFIG_DIR", str(conf))
    return conf


def test_cli_scans_a_flatbed_page_into_a_sealed_pdf(tmp_path, sane_conf):
    out = tmp_path / "out"
    r = run_sohoa(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "scan",
            "--scanner",
            "test:0",
            "--dpi",
            "200",
            "--out",
            str(out),
        ],
        env={"SANE_CONFIG_DIR": str(sane_conf)},
    )
    assert r.returncode == 0, r.stderr
    pdf = Path(r.stdout.strip().splitlines()[-1])
    with pikepdf.open(pdf) as p:
        assert len(p.pages) == 1


def test_cli_rejects_a_resolution_below_the_archival_minimum(tmp_path, sane_conf):
    r = run_sohoa(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "scan",
            "--scanner",
            "test:0",
            "--dpi",
            "150",
            "--out",
            str(tmp_path / "out"),
        ],
        env={"SANE_CONFIG_DIR": str(sane_conf)},
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and r.stderr.strip()


def test_feeder_batch_becomes_pages_without_perspective_search(kiosk_factory, sane_conf):
    scanner = SaneScanner("test:0", ScanSettings(source="adf", dpi=200, timeout_s=30))
    kiosk = kiosk_factory(scanner=scanner)
    outcomes = kiosk.scan_batch("clerk")
    assert len(outcomes) == 10  # the test backend's feeder holds ten sheets
    doc_id = outcomes[0].page["doc_id"]
    pages = kiosk.catalog.pages(doc_id)
    assert [p["seq"] for p in pages] == list(range(1, 11))
    assert all(p["source"] == "scanner" and p["scan_dpi"] == 200 for p in pages)
    # the glass is the frame: nothing is "cut off", no perspective correction needed
    for o in outcomes:
        codes = {i["code"] for i in o.quality["issues"]}
        assert "cut_off" not in codes and "no_page" not in codes, codes
    kiosk.finish(doc_id, "clerk")
    assert kiosk.wait_idle(timeout=240)
    assert kiosk.catalog.get_document(doc_id)["state"] == "review"


class _JammingScanner:
    """Delivers two sheets, then jams, like a real feeder with a crumpled page."""

    def __init__(self, frames):
        self.frames = frames

    def iter_scan(self):
        yield from self.frames
        raise ScannerError("jammed")


def _page_jpeg(blank: bool) -> bytes:
    img = np.full((2339, 1654, 3), 250, np.uint8)  # A4 at 200 dpi
    if not blank:
        for y in range(200, 2100, 60):
            cv2.putText(
                img,
                "Ha Noi, ngay 10 thang 4 nam 2025",
                (150, y),
                cv2.FONT_HERSHEY_SIMPLEX,
                1.2,
                (20, 20, 20),
                3,
            )
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _frame(blank: bool, side: str, sheet: int) -> Frame:
    return Frame(
        jpeg=_page_jpeg(blank),
        width=1654,
        height=2339,
        captured_at=0.0,
        source="scanner",
        dpi=200,
        side=side,
        sheet=sheet,
    )


def test_jam_mid_batch_keeps_the_pages_already_scanned(kiosk_factory):
    scanner = _JammingScanner([_frame(False, "front", 1), _frame(False, "front", 2)])
    kiosk = kiosk_factory(scanner=scanner)
    with pytest.raises(KioskError) as exc:
        kiosk.scan_batch("clerk")
    assert exc.value.code == "scanner_jammed"
    assert "2 trang" in exc.value.message_vi
    doc_id = kiosk.current_doc_id
    assert len(kiosk.catalog.pages(doc_id)) == 2
    assert any(r["action"] == "scan.error" for r in kiosk.catalog.audit_records(doc_id))
    kiosk.wait_idle(timeout=120)


def test_blank_backs_of_a_duplex_batch_are_dropped(kiosk_factory):
    frames = [
        _frame(False, "front", 1),
        _frame(True, "back", 1),
        _frame(False, "front", 2),
        _frame(False, "back", 2),
    ]

    class Duplex:
        def iter_scan(self):
            yield from frames

    kiosk = kiosk_factory(scanner=Duplex())
    outcomes = kiosk.scan_batch("clerk")
    doc_id = outcomes[0].page["doc_id"]
    live = kiosk.catalog.pages(doc_id)
    assert len(live) == 3
    assert [p["seq"] for p in live] == [1, 3, 4]
    assert any(
        r["action"] == "page.blank_back_dropped" for r in kiosk.catalog.audit_records(doc_id)
    )
    kiosk.wait_idle(timeout=120)


def test_a_blank_front_is_kept(kiosk_factory):
    class One:
        def iter_scan(self):
            yield _frame(True, "front", 1)

    kiosk = kiosk_factory(scanner=One())
    out = kiosk.scan_batch("clerk")[0]
    assert out.page["state"] != "deleted"
    assert "blank" in {i["code"] for i in out.quality["issues"]}
    kiosk.wait_idle(timeout=120)


def test_a_scanner_plugged_after_start_is_found_and_unplugging_is_a_state(
    kiosk_factory, make_settings
):
    from drivers.scanner import ScannerInfo
    from firmware.capture.devices import watch_scanners
    from tests.conftest import wait_for

    present: list[ScannerInfo] = []
    settings = make_settings(scanner={"enabled": True})
    kiosk = kiosk_factory(settings=settings)
    assert kiosk.scanner is None
    watcher = watch_scanners(kiosk, settings, lister=lambda: list(present), interval_s=0.1)
    try:
        present.append(ScannerInfo("fujitsu:fi-7160:1", "FUJITSU", "fi-7160", "sheetfed scanner"))
        assert wait_for(lambda: kiosk.scanner is not None, 10)
        assert kiosk.scanner.device == "fujitsu:fi-7160:1"
        assert "scanner" in kiosk.sources()
        kiosk.set_capture_source("scanner", "clerk")
        present.clear()
        assert wait_for(lambda: kiosk.scanner is None, 10)
        assert kiosk.capture_source == "camera"
        with pytest.raises(KioskError) as exc:
            kiosk.scan_batch("clerk")
        assert exc.value.code == "no_scanner"
        actions = [r["action"] for r in kiosk.catalog.audit_records()]
        assert "scanner.added" in actions and "scanner.removed" in actions
    finally:
        watcher.stop()
