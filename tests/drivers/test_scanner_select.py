"""Choosing the scanner and translating settings, on recorded (reconstructed) listings of
real models: tests/data/sane/list_*.txt (``scanimage -f``) and options_*.txt
(``scanimage -A``). See tests/data/sane/README.txt for their provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.scanner import ScannerError, ScanSettings, parse_device_list, pick_scanner
from drivers.scanner.errors import classify
from drivers.scanner.options import parse_options, plan_scan

DATA = Path(__file__).parents[1] / "data" / "sane"


def listing(name: str):
    return parse_device_list((DATA / f"list_{name}.txt").read_text())


def options(name: str):
    return parse_options((DATA / f"options_{name}.txt").read_text())


def arg(args: tuple[str, ...], name: str) -> str:
    return args[args.index(name) + 1]


# ---------------------------------------------------------------- device listings


def test_listing_fields_are_parsed() -> None:
    (hp,) = listing("hpaio_scanjet_pro_2500")
    assert hp.name == "hpaio:/usb/ScanJet_Pro_2500_f1?serial=CN77A1B2C3"
    assert (hp.vendor, hp.model, hp.type, hp.backend) == (
        "Hewlett-Packard",
        "ScanJet_Pro_2500_f1",
        "all-in-one",
        "hpaio",
    )
    assert parse_device_list("") == []


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("fujitsu_fi-7160", "fujitsu:fi-7160:10045"),
        ("epson2_ds-1630", "epson2:libusb:001:004"),
        ("hpaio_scanjet_pro_2500", "hpaio:/usb/ScanJet_Pro_2500_f1?serial=CN77A1B2C3"),
    ],
)
def test_the_only_scanner_is_picked_without_configuration(fixture: str, expected: str) -> None:
    assert pick_scanner(listing(fixture)).name == expected


def test_a_camera_listed_by_sane_does_not_count_as_a_scanner() -> None:
    assert pick_scanner(listing("camera_and_hpaio")).backend == "hpaio"


def test_several_scanners_without_a_model_is_a_clear_error() -> None:
    with pytest.raises(ScannerError) as err:
        pick_scanner(listing("three_scanners"))
    assert err.value.code == "invalid"
    assert "nhiều máy quét" in err.value.message_vi
    for name in ("fujitsu:fi-7160:10045", "epson2:libusb:001:004", "hpaio:/usb/"):
        assert name in err.value.detail


@pytest.mark.parametrize(
    ("model", "backend"),
    [
        ("fi-7160", "fujitsu"),
        ("Epson DS-1630", "epson2"),  # "vendor model", any case
        ("scanjet", "hpaio"),
        ("epson2:libusb:001:004", "epson2"),  # the full device name
    ],
)
def test_configured_model_picks_among_several(model: str, backend: str) -> None:
    assert pick_scanner(listing("three_scanners"), model).backend == backend


def test_configured_model_that_is_absent_is_no_device() -> None:
    with pytest.raises(ScannerError) as err:
        pick_scanner(listing("three_scanners"), "canon DR-C225")
    assert err.value.code == "no_device"
    assert "DR-C225" in err.value.detail


def test_two_identical_models_need_the_device_name() -> None:
    devices = listing("two_fi-7160")
    with pytest.raises(ScannerError) as err:
        pick_scanner(devices, "fi-7160")
    assert err.value.code == "invalid"
    assert pick_scanner(devices, "fujitsu:fi-7160:10046").name == "fujitsu:fi-7160:10046"


def test_nothing_connected_is_no_device() -> None:
    with pytest.raises(ScannerError) as err:
        pick_scanner([])
    assert err.value.code == "no_device"
    assert err.value.message_vi.startswith("Không tìm thấy máy quét")


# ---------------------------------------------------------------- option listings


def test_option_listing_is_parsed() -> None:
    caps = options("fujitsu_fi-7160")
    assert caps.options["source"].choices == ("ADF Front", "ADF Back", "ADF Duplex")
    assert caps.options["resolution"].range == (50.0, 600.0)
    assert caps.options["page-width"].range == (0.0, 221.121)
    assert caps.options["cover-open"].flags == {"hardware"}
    epson = options("epson2_ds-1630")
    assert epson.options["resolution"].numeric_choices() == [75, 100, 150, 200, 300, 600, 1200]
    assert not epson.options["adf-mode"].active
    assert epson.get("adf-mode") is None


def test_fujitsu_sheet_fed_plans() -> None:
    caps = options("fujitsu_fi-7160")
    adf = plan_scan(caps, ScanSettings(source="adf"))
    assert arg(adf.args, "--source") == "ADF Front"
    assert arg(adf.args, "--mode") == "Color"
    assert (arg(adf.args, "--page-width"), arg(adf.args, "--page-height")) == ("210", "297")
    assert (arg(adf.args, "-x"), arg(adf.args, "-y")) == ("210", "297")
    assert adf.dpi == 300 and adf.feeder and not adf.duplex
    duplex = plan_scan(caps, ScanSettings(source="adf-duplex", mode="gray", paper="A5"))
    assert arg(duplex.args, "--source") == "ADF Duplex"
    assert arg(duplex.args, "--mode") == "Gray"
    assert duplex.duplex
    with pytest.raises(ScannerError) as err:
        plan_scan(caps, ScanSettings(source="flatbed"))
    assert err.value.code == "invalid"
    assert "không có mặt kính" in err.value.message_vi


def test_epson2_duplex_is_feeder_plus_adf_mode() -> None:
    caps = options("epson2_ds-1630")
    plan = plan_scan(caps, ScanSettings(source="adf-duplex"))
    args = list(plan.args)
    assert args[:4] == ["--source", "Automatic Document Feeder", "--adf-mode", "Duplex"]
    assert plan.duplex
    assert arg(plan.args, "--depth") == "8"
    flatbed = plan_scan(caps, ScanSettings(dpi=250))
    assert arg(flatbed.args, "--source") == "Flatbed"
    assert flatbed.dpi == 300  # the nearest offered resolution that is not lower
    assert plan_scan(caps, ScanSettings(dpi=2400)).dpi == 1200
    # A4 is 297 mm tall; this glass reaches 297.18 mm, so nothing is clipped.
    assert arg(flatbed.args, "-y") == "297"


def test_hpaio_sources() -> None:
    caps = options("hpaio_scanjet_pro_2500")
    assert arg(plan_scan(caps, ScanSettings(source="adf")).args, "--source") == "ADF"
    assert arg(plan_scan(caps, ScanSettings(source="adf-duplex")).args, "--source") == "Duplex"
    assert arg(plan_scan(caps, ScanSettings()).args, "--source") == "Flatbed"
    assert "--depth" not in plan_scan(caps, ScanSettings()).args


def test_mode_names_with_decorations() -> None:
    caps = parse_options(
        "    --mode Black & White|Gray[Error Diffusion]|True Gray|24bit Color[Fast]|24bit Color"
        " [24bit Color]\n"
        "        Select the scan mode\n"
    )
    assert arg(plan_scan(caps, ScanSettings()).args, "--mode") == "24bit Color"
    assert arg(plan_scan(caps, ScanSettings(mode="gray")).args, "--mode") == "True Gray"


def test_device_below_archival_resolution_is_refused() -> None:
    caps = parse_options("    --resolution 75|100|150dpi [75]\n")
    with pytest.raises(ScannerError) as err:
        plan_scan(caps, ScanSettings(dpi=200))
    assert err.value.code == "invalid"


# ---------------------------------------------------------------- scanimage messages


@pytest.mark.parametrize(
    ("rc", "stderr", "code"),
    [
        (1, "scanimage: open of device fujitsu:fi-7160:10045 failed: Device busy", "busy"),
        (1, "scanimage: open of device x:y failed: Error during device I/O", "gone"),
        (1, "scanimage: open of device x:y failed: Invalid argument", "no_device"),
        (1, "scanimage: setting of option --mode failed (Invalid argument)", "invalid"),
        (9, "scanimage: sane_read: Error during device I/O", "gone"),
        (8, "scanimage: sane_start: Scanner cover is open", "cover_open"),
        (6, "", "jammed"),  # status only in the exit code
        (-9, "", "io"),
    ],
)
def test_scanimage_failures_are_classified(rc: int, stderr: str, code: str) -> None:
    assert classify(rc, stderr).code == code


def test_permission_problem_says_so() -> None:
    err = classify(1, "scanimage: open of device x:y failed: Access to resource has been denied")
    assert err.code == "io"
    assert "quyền" in err.message_vi
