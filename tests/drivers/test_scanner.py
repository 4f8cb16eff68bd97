"""Scanner driver against the real SANE stack, through SANE's own ``test`` backend.

Each test gets a private SANE configuration directory (SANE_CONFIG_DIR) that enables only
the ``test`` backend, so no system change is needed and no real or network scanner is
probed. Behaviours the test backend lacks (duplex source, a jam after N good sheets,
sheets that differ) come from tests/data/sane/scanimage_shim.py, which chains real
scanimage runs.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import sys
from pathlib import Path

import psutil
import pytest
from PIL import Image, ImageStat

from drivers.scanner import (
    SaneScanner,
    ScannerError,
    ScanSettings,
    list_scanners,
)
from drivers.scanner.errors import MESSAGES

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("scanimage") is None, reason="sane-utils not installed"),
]

DATA = Path(__file__).parents[1] / "data" / "sane"
ADF = "Automatic Document Feeder"


def pixels_for(mm: float, dpi: int) -> int:
    """What the test backend delivers for a span: whole pixels, truncated."""
    return int(mm / 25.4 * dpi)


@pytest.fixture
def sane_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    conf = tmp_path / "sane.d"
    conf.mkdir()
    (conf / "dll.conf").write_text("test\n")
    (conf / "test.conf").write_text("number_of_devices 2\n")
    monkeypatch.setenv("SANE_CONFIG_DIR", str(conf))
    return conf


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sane_dir: Path):
    """Returns a function configuring the scanimage shim; it yields the shim's path."""
    script = tmp_path / "scanimage-shim"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{DATA / "scanimage_shim.py"}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("SHIM_REAL", shutil.which("scanimage") or "scanimage")

    def configure(aliases: dict[str, str] | None = None, segments: list | None = None) -> str:
        monkeypatch.setenv("SHIM_ALIASES", json.dumps(aliases or {}))
        monkeypatch.setenv("SHIM_SEGMENTS", json.dumps(segments))
        return str(script)

    return configure


def no_children_left() -> bool:
    """No scanner process survives. Only scanimage (or the stand-ins these tests run in its
    place) counts: other suites' long-lived children (the browser of the UI tests,
    multiprocessing's resource tracker) are not ours."""
    leftovers = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if any(word in cmd for word in ("scanimage", "sleep", "wedged", "shim")):
            leftovers.append(cmd)
    return not leftovers


def decoded(frame) -> Image.Image:
    img = Image.open(io.BytesIO(frame.jpeg))
    img.load()
    return img


def mean(img: Image.Image) -> float:
    return ImageStat.Stat(img.convert("L")).mean[0]


# ---------------------------------------------------------------- listing


def test_list_finds_the_test_devices(sane_dir: Path) -> None:
    devices = {d.name: d for d in list_scanners()}
    assert set(devices) == {"test:0", "test:1"}
    info = devices["test:0"]
    assert (info.vendor, info.model, info.type) == ("Noname", "frontend-tester", "virtual device")
    assert info.backend == "test"


def test_list_is_empty_without_backends(sane_dir: Path) -> None:
    (sane_dir / "dll.conf").write_text("")
    assert list_scanners() == []


def test_list_without_scanimage_is_no_device() -> None:
    with pytest.raises(ScannerError) as err:
        list_scanners(scanimage="/nonexistent/scanimage")
    assert err.value.code == "no_device"


def test_list_that_hangs_is_killed_and_reported_as_timeout(tmp_path: Path) -> None:
    hung = tmp_path / "scanimage"
    hung.write_text("#!/bin/sh\nsleep 60\n")
    hung.chmod(0o755)
    with pytest.raises(ScannerError) as err:
        list_scanners(timeout_s=0.3, scanimage=str(hung))
    assert err.value.code == "timeout"
    assert err.value.message_vi == MESSAGES["timeout"][1]
    assert no_children_left()


# ---------------------------------------------------------------- flatbed


def test_flatbed_a4_color_is_one_jpeg_page_clipped_to_the_bed(sane_dir: Path) -> None:
    frames = SaneScanner("test:0", ScanSettings(dpi=200)).scan()
    assert len(frames) == 1
    frame = frames[0]
    img = decoded(frame)
    # A4 is 210 x 297 mm; the test backend's bed is 200 x 200 mm, so the area is clipped.
    side = pixels_for(200, 200)
    assert img.format == "JPEG"
    assert (img.width, img.height) == (frame.width, frame.height) == (side, side)
    assert img.mode == "RGB"
    assert img.info["dpi"] == (200, 200)
    assert (frame.source, frame.dpi, frame.side, frame.sheet) == ("scanner", 200, "front", 1)
    assert frame.truth is None  # a real device knows no ground truth
    assert frame.captured_at > 0


def test_flatbed_a5_gray_size_follows_paper_and_dpi(sane_dir: Path) -> None:
    settings = ScanSettings(dpi=300, mode="gray", paper="A5")
    (frame,) = SaneScanner("test:1", settings).scan()
    img = decoded(frame)
    assert img.mode == "L"
    assert img.size == (pixels_for(148, 300), pixels_for(200, 300))  # 210 mm clipped to 200
    assert frame.dpi == 300


def test_plan_uses_the_devices_own_names(sane_dir: Path) -> None:
    plan = SaneScanner("test:0", ScanSettings(dpi=200, source="adf", mode="gray")).plan()
    args = list(plan.args)
    assert args[args.index("--source") + 1] == ADF
    assert args[args.index("--mode") + 1] == "Gray"
    assert args[args.index("--resolution") + 1] == "200"
    assert plan.feeder and not plan.duplex


# ---------------------------------------------------------------- feeder


def test_adf_returns_every_page_in_the_feeder(sane_dir: Path) -> None:
    frames = SaneScanner("test:0", ScanSettings(dpi=200, source="adf", mode="gray")).scan()
    # The test backend's feeder holds 10 sheets, then reports SANE_STATUS_NO_DOCS.
    assert [f.sheet for f in frames] == list(range(1, 11))
    assert {f.side for f in frames} == {"front"}


def test_adf_pages_keep_feeder_order(shim) -> None:
    exe = shim(
        segments=[[2, ["--test-picture", "Solid white"]], [None, ["--test-picture", "Solid black"]]]
    )
    frames = SaneScanner(
        "test:0", ScanSettings(dpi=200, source="adf", mode="gray"), scanimage=exe
    ).scan()
    assert len(frames) == 12
    shades = ["white" if mean(decoded(f)) > 200 else "black" for f in frames]
    assert shades == ["white"] * 2 + ["black"] * 10
    assert [f.sheet for f in frames] == list(range(1, 13))


def test_adf_empty_feeder(sane_dir: Path) -> None:
    scanner = SaneScanner(
        "test:0",
        ScanSettings(dpi=200, source="adf"),
        extra_args=("--read-return-value", "SANE_STATUS_NO_DOCS"),
    )
    with pytest.raises(ScannerError) as err:
        scanner.scan()
    assert err.value.code == "feeder_empty"
    assert err.value.message_vi == "Khay nạp giấy trống, hãy đặt tài liệu vào khay rồi quét lại."
    assert err.value.pages == []


def test_duplex_pages_are_collated_front_back(shim) -> None:
    white, black = ["--test-picture", "Solid white"], ["--test-picture", "Solid black"]
    exe = shim(
        aliases={"ADF Duplex": ADF},
        segments=[[1, white], [1, black], [1, white], [1, black]],
    )
    scanner = SaneScanner(
        "test:0", ScanSettings(dpi=200, source="adf-duplex", mode="gray"), scanimage=exe
    )
    assert "ADF Duplex" in scanner.plan().args
    frames = scanner.scan()
    assert [(f.sheet, f.side) for f in frames] == [
        (1, "front"),
        (1, "back"),
        (2, "front"),
        (2, "back"),
    ]
    # Fronts were scanned white and backs black: the collation kept delivery order.
    assert [mean(decoded(f)) > 200 for f in frames] == [True, False, True, False]


def test_duplex_on_a_simplex_device_is_a_clear_error(sane_dir: Path) -> None:
    with pytest.raises(ScannerError) as err:
        SaneScanner("test:0", ScanSettings(dpi=200, source="adf-duplex")).scan()
    assert err.value.code == "invalid"
    assert "hai mặt" in err.value.message_vi


def test_jam_mid_batch_keeps_the_pages_already_scanned(shim) -> None:
    exe = shim(segments=[[3, []], [None, ["--read-return-value", "SANE_STATUS_JAMMED"]]])
    scanner = SaneScanner("test:0", ScanSettings(dpi=200, source="adf", mode="gray"), scanimage=exe)
    received = []
    with pytest.raises(ScannerError) as err:
        for frame in scanner.iter_scan():
            received.append(frame)
    assert err.value.code == "jammed"
    assert err.value.message_vi == "Kẹt giấy, hãy gỡ giấy kẹt rồi quét lại."
    assert [f.sheet for f in received] == [1, 2, 3]
    assert err.value.pages == received

    with pytest.raises(ScannerError) as again:
        scanner.scan()
    assert again.value.code == "jammed" and len(again.value.pages) == 3


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("SANE_STATUS_JAMMED", "jammed"),
        ("SANE_STATUS_NO_DOCS", "feeder_empty"),
        ("SANE_STATUS_COVER_OPEN", "cover_open"),
        ("SANE_STATUS_DEVICE_BUSY", "busy"),
        ("SANE_STATUS_IO_ERROR", "gone"),
        ("SANE_STATUS_INVAL", "invalid"),
        ("SANE_STATUS_UNSUPPORTED", "invalid"),
        ("SANE_STATUS_CANCELLED", "io"),
        ("SANE_STATUS_NO_MEM", "io"),
        ("SANE_STATUS_ACCESS_DENIED", "io"),
    ],
)
def test_injected_status_maps_to_code_and_message(sane_dir: Path, status: str, code: str) -> None:
    scanner = SaneScanner(
        "test:0", ScanSettings(dpi=200), extra_args=("--read-return-value", status)
    )
    with pytest.raises(ScannerError) as err:
        scanner.scan()
    assert err.value.code == code
    assert (err.value.message, err.value.message_vi) == MESSAGES[code]
    assert err.value.pages == []


def test_vietnamese_messages_name_the_next_step() -> None:
    assert MESSAGES["feeder_empty"][1].startswith("Khay nạp giấy trống")
    assert MESSAGES["jammed"][1] == "Kẹt giấy, hãy gỡ giấy kẹt rồi quét lại."
    assert all("hãy" in vi for _, vi in MESSAGES.values())


def test_slow_scan_is_killed_at_the_timeout(sane_dir: Path) -> None:
    # 200 ms after every buffer: a 200-dpi page would take many seconds.
    scanner = SaneScanner(
        "test:0",
        ScanSettings(dpi=200, timeout_s=0.5),
        extra_args=("--read-delay=yes", "--read-delay-duration", "200000"),
    )
    with pytest.raises(ScannerError) as err:
        scanner.scan()
    assert err.value.code == "timeout"
    assert no_children_left()


def test_stopping_early_ends_the_scan_and_frees_the_scanner(sane_dir: Path) -> None:
    scanner = SaneScanner(
        "test:0",
        ScanSettings(dpi=200, source="adf", mode="gray"),
        extra_args=("--read-delay=yes", "--read-delay-duration", "5000"),
    )
    pages = scanner.iter_scan()
    first = next(pages)
    with pytest.raises(ScannerError) as err:
        next(scanner.iter_scan())
    assert err.value.code == "busy"
    pages.close()
    assert first.sheet == 1
    assert no_children_left()
    scanner.extra_args = ()
    assert len(scanner.scan()) == 10


def test_missing_device(sane_dir: Path) -> None:
    scanner = SaneScanner("test:7", ScanSettings(dpi=200))
    with pytest.raises(ScannerError) as err:
        scanner.scan()
    assert err.value.code == "no_device"
    assert not scanner.available
    assert SaneScanner("test:1").available


def test_device_unplugged_between_scans(sane_dir: Path) -> None:
    scanner = SaneScanner("test:1", ScanSettings(dpi=200))
    assert len(scanner.scan()) == 1
    (sane_dir / "test.conf").write_text("number_of_devices 1\n")  # test:1 disappears
    with pytest.raises(ScannerError) as err:
        scanner.scan()
    assert err.value.code == "no_device"
    assert not scanner.available


@pytest.mark.parametrize(
    "kwargs",
    [{"dpi": 150}, {"source": "film"}, {"mode": "lineart"}, {"paper": "A0"}, {"timeout_s": 0}],
)
def test_bad_settings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ScannerError) as err:
        ScanSettings(**kwargs)
    assert err.value.code == "invalid"


def test_environment_locale_does_not_break_error_mapping(
    sane_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGUAGE", "vi")
    monkeypatch.setenv("LC_ALL", "vi_VN.UTF-8")
    scanner = SaneScanner(
        "test:0", ScanSettings(dpi=200), extra_args=("--read-return-value", "SANE_STATUS_JAMMED")
    )
    with pytest.raises(ScannerError) as err:
        scanner.scan()
    assert err.value.code == "jammed"


WEDGED = """#!/bin/sh
# Emulates a deadlock seen in libsane-test (sane_cancel joining a reader thread that died
# holding a malloc lock): scanimage reports the batch's outcome, then never exits.
case " $* " in *" -A "*) exec scanimage "$@";; esac
for a in "$@"; do case "$a" in --batch=*) pattern="${a#--batch=}";; esac; done
echo "Scanning page 1" >&2
if [ "$WEDGE_JAM" = 1 ]; then
  echo "scanimage: sane_read: Document feeder jammed" >&2
else
  page=$(printf "$pattern" 1)
  printf 'P5\\n4 3\\n255\\n' > "$page"; head -c 12 /dev/zero >> "$page"
  echo "$page"
fi
echo "Batch terminated, 1 page scanned" >&2
exec sleep 60
"""


@pytest.mark.parametrize(("jam", "outcome"), [(False, "page"), (True, "jammed")])
def test_scanimage_wedged_after_the_batch_ended(
    sane_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jam: bool, outcome: str
) -> None:
    exe = tmp_path / "wedged-scanimage"
    exe.write_text(WEDGED)
    exe.chmod(0o755)
    monkeypatch.setenv("WEDGE_JAM", "1" if jam else "0")
    # The timeout is long: the outcome must come from what scanimage reported, soon after
    # it reported it, not from the timeout.
    scanner = SaneScanner("test:0", ScanSettings(dpi=200, timeout_s=60), scanimage=str(exe))
    if jam:
        with pytest.raises(ScannerError) as err:
            scanner.scan()
        assert err.value.code == outcome
    else:
        (frame,) = scanner.scan()
        assert (frame.width, frame.height) == (4, 3)
    assert no_children_left()
