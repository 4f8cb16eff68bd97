"""Identifiers where they enter, generated files, file modes, config errors (issue #14)."""

from __future__ import annotations

import stat
import subprocess

import pytest

from firmware.config import ConfigError, load_settings
from tests.conftest import ROOT, run_sohoa


def test_kiosk_id_with_a_newline_is_refused_with_file_and_line(tmp_path):
    cfg = tmp_path / "sohoa.toml"
    cfg.write_text('language = "vi"\nkiosk_id = "xa-a\\nallow"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert "kiosk_id" in str(e.value) and ":2" in str(e.value)


def test_usb_rules_never_emit_an_injected_rule(tmp_path):
    """Even when a label or id slipped past validation (the rules are generated from the
    signed fleet config), a newline cannot start a line of its own."""
    from drivers.usb import AllowedStick, usbguard_rules

    text = usbguard_rules(
        [AllowedStick("0781", "5581", "S1", "USB 1\nallow")], kiosk_id="xa-a\nallow"
    )
    for line in text.splitlines():
        assert not line.startswith("allow") or line.startswith("allow id 0781:5581"), line


def test_sohoa_usb_rules_refuses_a_hostile_kiosk_id(tmp_path):
    r = run_sohoa(["usb", "rules"], env={"SOHOA_KIOSK_ID": "xa-a\nallow"})
    assert r.returncode != 0
    assert "\nallow\n" not in r.stdout and "kiosk id" in (r.stdout + r.stderr)


def test_misspelled_environment_section_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SOHOA_UII__HOST", "0.0.0.0")
    with pytest.raises(ConfigError) as e:
        load_settings(None, data_dir=str(tmp_path))
    assert "SOHOA_UII__HOST" in str(e.value)


def test_catalog_and_data_files_are_private(kiosk_factory):
    kiosk = kiosk_factory(workers=1)
    doc = kiosk.new_document("clerk")
    kiosk.capture("clerk", doc["id"])
    db = kiosk.paths.catalog
    for p in [db, *db.parent.glob("catalog.db-*")]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o037 == 0, (p, oct(p.stat().st_mode))
    assert stat.S_IMODE(kiosk.paths.root.stat().st_mode) & 0o027 == 0


def test_service_unit_sets_a_private_umask():
    unit = (ROOT / "image-build" / "systemd" / "sohoa.service").read_text()
    assert "UMask=0077" in unit
    res = subprocess.run(
        ["systemd-analyze", "verify", str(ROOT / "image-build" / "systemd" / "sohoa.service")],
        capture_output=True,
        text=True,
    )
    assert "UMask" not in res.stderr


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('kiosk_id = "k-1"\n\n[uii]\nhost = "127.0.0.1"\n', 3),  # misspelled section
        ('kiosk_id = "k-1"\n[ui]\nport = 8080\nhost = "0.0.0.0"\n', 2),  # section-level rule
        ('[camera]\nbackend = "sim"\n[ui]\nport = "x"\n', 4),
    ],
)
def test_configuration_errors_carry_file_and_line(tmp_path, text, line):
    cfg = tmp_path / "sohoa.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert e.value.line == line and str(e.value).startswith(f"{cfg}:{line}: "), str(e.value)
