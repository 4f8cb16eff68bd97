"""Configuration: TOML + environment, validated, errors name the line."""

import pytest

from firmware.cli.main import main
from firmware.config import ConfigError, explain, load_settings


def test_defaults_are_valid(monkeypatch):
    monkeypatch.delenv("SOHOA_CONFIG", raising=False)
    s = load_settings(None)
    assert s.language == "vi"
    assert s.seal.image_dpi >= 200
    assert s.pipeline.output_dpi >= 300


def test_file_and_environment(tmp_path, monkeypatch):
    f = tmp_path / "k.toml"
    f.write_text('kiosk_id = "xa-tan-lap"\n[camera]\nbackend = "folder"\nsource = "/tmp/x"\n')
    monkeypatch.setenv("SOHOA_CAMERA__BACKEND", "sim")
    s = load_settings(f)
    assert s.kiosk_id == "xa-tan-lap"
    assert s.camera.backend == "sim"  # environment wins
    assert s.camera.source == "/tmp/x"  # the rest of the section is kept


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[camera]\nbackend = "sim"\nwidth = "big"\n', 3, "camera.width"),
        ('[camera]\nbakend = "sim"\n', 2, "unknown setting"),
        ("[ocr]\nworkers = 0\n", 2, "greater than or equal to 1"),
        ('kiosk_id = "a"\n[camera\n', 2, "TOML syntax error"),
        ('[pedal]\nbackend = "keyboard"\n', 2, "pedal.backend"),
    ],
)
def test_bad_file_names_line_and_reason(tmp_path, text, line, words):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_settings(f)
    assert exc.value.line == line
    assert words in str(exc.value)
    assert str(exc.value).startswith(f"{f}:{line}:")


def test_cli_reports_bad_config_without_traceback(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text('[ocr]\nworkers = "many"\n')
    assert main(["--config", str(f), "config"]) == 2
    err = capsys.readouterr().err
    assert "bad.toml:2" in err and "Traceback" not in err


def test_explain_documents_every_setting():
    text = explain()
    for section in ("[camera]", "[pedal]", "[leds]", "[pipeline]", "[ocr]", "[seal]", "[ui]"):
        assert section in text
    # every key line is preceded by a comment line
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), line


def test_example_file_is_current(tmp_path):
    from pathlib import Path

    example = Path(__file__).parents[2] / "sohoa.example.toml"
    assert example.read_text(encoding="utf-8") == explain(), (
        "regenerate with: sohoa config --explain > sohoa.example.toml"
    )
    load_settings(example)
