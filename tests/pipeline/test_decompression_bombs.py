"""Decompression bombs (issue #14): files small on disk that expand to gigabytes. Each is
refused from what its headers declare, before anything is inflated, with a clear message,
and the process stays small (peak RSS of the real CLI, measured by its parent)."""

from __future__ import annotations

import struct
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import ROOT, sohoa_cmd

#: Peak RSS a refusing process may reach (the CLI with numpy/OpenCV loaded is ~150 MB).
RSS_LIMIT_KB = 450 * 1024


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png_bomb(path: Path, side: int = 30000) -> Path:
    """A real, complete 8-bit grey PNG of ``side`` x ``side`` black pixels (~0.9 MB)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    idat = bytearray()
    for _ in range(side):
        idat += comp.compress(row)
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", bytes(idat))
        + _png_chunk(b"IEND", b"")
    )
    return path


def make_xlsx_bomb(path: Path, tmp: Path, entries: int = 10_000_000) -> Path:
    """A register workbook whose shared-strings part inflates to ~170 MB (~0.5 MB zipped)."""
    from tests.support.register import sample_rows, write_xlsx

    small = write_xlsx(tmp / "small.xlsx", sample_rows(3))
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/sharedStrings.xml":
                dst.writestr(info, src.read(info))
        with dst.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(
                b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxml'
                b'formats.org/spreadsheetml/2006/main">'
            )
            block = b"<si><t>a</t></si>" * 100_000
            for _ in range(entries // 100_000):
                out.write(block)
            out.write(b"</sst>")
    return path


def run_measured(args: list[str], tmp: Path) -> tuple[int, str, int]:
    """(exit status, output, peak RSS in KiB) of the real ``sohoa`` ``args``."""
    import subprocess

    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(r.stdout + r.stderr)\n"
        "print('\\nMAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(r.returncode)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "SOHOA_DATA_DIR": str(tmp / "var")}
    res = subprocess.run(
        [sys.executable, "-c", probe, *sohoa_cmd(), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    out, _, rss = res.stdout.rpartition("MAXRSS ")
    return res.returncode, out, int(rss.strip())


@pytest.fixture(scope="module")
def png_bomb(tmp_path_factory) -> Path:
    return make_png_bomb(tmp_path_factory.mktemp("bomb") / "page.png")


def test_png_bomb_is_small_on_disk(png_bomb):
    assert png_bomb.stat().st_size < 1_500_000


def test_scan_with_folder_camera_refuses_a_png_bomb(png_bomb, tmp_path):
    src = tmp_path / "frames"
    src.mkdir()
    (src / "1.png").write_bytes(png_bomb.read_bytes())
    rc, out, rss = run_measured(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "scan",
            "--camera",
            "folder",
            "--source",
            str(src),
            "--out",
            str(tmp_path / "out"),
        ],  # fmt: skip
        tmp_path,
    )
    assert rc != 0
    assert "30000x30000" in out and "quá lớn" in out, out
    assert rss < RSS_LIMIT_KB, f"peak RSS {rss // 1024} MB"
    assert not list((tmp_path / "var" / "sealed").glob("*.pdf"))


def test_extract_refuses_a_png_bomb(png_bomb, tmp_path):
    rc, out, rss = run_measured(["--data-dir", str(tmp_path / "var"), "extract", str(png_bomb)],
                                tmp_path)  # fmt: skip
    assert rc not in (0, -11), out  # -11: the SIGSEGV in cv2.warpPerspective before the fix
    assert "30000x30000" in out, out
    assert rss < RSS_LIMIT_KB, f"peak RSS {rss // 1024} MB"


def test_decode_frame_checks_pixels_before_decoding(png_bomb):
    from firmware.pipeline import CorruptFrame, decode_frame

    with pytest.raises(CorruptFrame, match="30000x30000"):
        decode_frame(png_bomb.read_bytes())


def test_register_xlsx_bomb_is_refused_from_its_declared_sizes(tmp_path):
    bomb = make_xlsx_bomb(tmp_path / "so-den.xlsx", tmp_path)
    assert bomb.stat().st_size < 3_500_000
    rc, out, rss = run_measured(
        [
            "--data-dir",
            str(tmp_path / "var"),
            "register",
            "import",
            str(bomb),
            "--name",
            "Sổ đến",
            "--direction",
            "in",
        ],  # fmt: skip
        tmp_path,
    )
    assert rc != 0
    assert "giải nén" in out and "MB" in out, out
    assert rss < RSS_LIMIT_KB, f"peak RSS {rss // 1024} MB"


def test_register_reader_refuses_oversized_members(tmp_path):
    from firmware.register.errors import RegisterFileError
    from firmware.register.reader import open_table

    bomb = make_xlsx_bomb(tmp_path / "b.xlsx", tmp_path, entries=3_000_000)
    with pytest.raises(RegisterFileError) as e:
        open_table(bomb)
    assert e.value.code == "xlsx_too_big"


def test_declared_sheet_dimension_does_not_pad_rows(tmp_path):
    """``<dimension ref="A1:XFD1048576"/>`` made openpyxl pad every row to 16384 cells and
    yield a million empty rows; the reader reads what the sheet holds."""
    import re

    from firmware.register.reader import MAX_COLUMNS, open_table
    from tests.support.register import sample_rows, write_xlsx

    small = write_xlsx(tmp_path / "small.xlsx", sample_rows(3))
    bomb = tmp_path / "dim.xlsx"
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"/>', b"", data)
                data = data.replace(b"</sheetPr>", b'</sheetPr><dimension ref="A1:XFD1048576"/>')
                assert b"XFD1048576" in data
            dst.writestr(info, data)
    table = open_table(bomb)
    rows = []
    for _, cells in table.rows:
        rows.append(cells)
        assert len(rows) < 100, "padded rows"
    table.close()
    assert 3 <= len(rows) <= 10
    assert all(len(c) <= MAX_COLUMNS for c in rows)
