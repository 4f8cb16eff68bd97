"""The `sohoa` command line as an operator or IT person uses it (real subprocesses)."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest

from tests.conftest import SIM_H, SIM_W, run_sohoa

pytestmark = pytest.mark.integration

SMALL = {"SOHOA_CAMERA__WIDTH": str(SIM_W), "SOHOA_CAMERA__HEIGHT": str(SIM_H)}


def test_scan_sim_prints_the_pdf(tmp_path):
    out = tmp_path / "out"
    r = run_sohoa(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "scan",
            "--camera",
            "sim",
            "--pages",
            "2",
            "--out",
            str(out),
        ],
        env=SMALL,
    )
    assert r.returncode == 0, r.stderr
    pdf = Path(r.stdout.strip().splitlines()[-1])
    assert pdf.parent == out and pdf.exists()
    assert pdf.with_suffix(".json").exists()
    with pikepdf.open(pdf) as p:
        assert len(p.pages) == 2


def test_scan_folder_uses_every_image_in_name_order(tmp_path):
    from drivers.camera.sim import write_dataset

    src = tmp_path / "photos"
    write_dataset(src, 2, seed=5, width=SIM_W, height=SIM_H)
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    r = run_sohoa(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "scan",
            "--camera",
            "folder",
            "--source",
            str(src),
            "--out",
            str(out),
        ]
    )
    assert r.returncode == 0, r.stderr
    pdf = Path(r.stdout.strip().splitlines()[-1])
    with pikepdf.open(pdf) as p:
        assert len(p.pages) == 2


def test_scan_missing_folder_says_so(tmp_path):
    r = run_sohoa(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "scan",
            "--camera",
            "folder",
            "--source",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.strip()


def test_doctor_all_good_on_simulated_hardware(tmp_path):
    r = run_sohoa(
        ["--data-dir", str(tmp_path / "var"), "doctor", "--lang", "en"],
        env={
            **SMALL,
            "SOHOA_PEDAL__BACKEND": "mock",
            "SOHOA_LEDS__BACKEND": "mock",
            # a kiosk not enrolled with a hub is not "all good" (tests/uplink/test_doctor_uplink)
            "SOHOA_UPLINK__ENABLED": "false",
        },
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("camera", "pedal", "leds", "ocr", "disk", "audit", "uplink"):
        assert name in r.stdout


def test_doctor_explains_missing_language_data(tmp_path):
    empty = tmp_path / "tessdata"
    empty.mkdir()
    r = run_sohoa(
        ["--data-dir", str(tmp_path / "var"), "doctor"],
        env={**SMALL, "SOHOA_OCR__TESSDATA": str(empty)},
    )
    assert r.returncode == 1
    assert "tesseract-ocr-vie" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
