"""``sohoa register ...`` and ``sohoa progress`` as an archivist runs them (real processes)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_sohoa
from tests.support.register import sample_rows, write_csv, write_xlsx

pytestmark = pytest.mark.integration


def test_import_list_select_and_progress_from_the_command_line(tmp_path):
    data = tmp_path / "var"
    rows = sample_rows(90)
    rows.append([999, "1-NQ/TU", "30/02/2021", "Tỉnh ủy", "V/v ngày sai", "", ""])
    incoming = write_csv(tmp_path / "den.csv", rows, "cp1258")
    outgoing = write_xlsx(tmp_path / "di.xlsx", sample_rows(40, start=500))
    args = ["--data-dir", str(data)]

    r = run_sohoa(
        [*args, "register", "import", str(incoming), "--name", "Sổ đến", "--direction", "in"]
    )
    assert r.returncode == 3, r.stderr  # one row rejected, the others imported
    assert "Đã nhập 90 dòng vào sổ «Sổ đến»" in r.stdout
    assert "cp1258" in r.stdout
    assert "dòng 94: Ngày văn bản: Ngày không có thật: 30/02/2021" in r.stdout
    r = run_sohoa(
        [
            *args,
            "register",
            "import",
            str(outgoing),
            "--name",
            "Sổ đi",
            "--direction",
            "out",
            "--json",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["imported"] == 40

    r = run_sohoa(
        [*args, "register", "import", str(incoming), "--name", "Sổ đến", "--direction", "in"]
    )
    assert "0 dòng vào sổ" in r.stdout and "90 dòng đã có sẵn" in r.stdout

    missing = write_csv(tmp_path / "thieu.csv", [[1, "a"]], header=["Số đến", "Trích yếu"])
    r = run_sohoa([*args, "register", "import", str(missing), "--name", "X", "--direction", "in"])
    assert r.returncode == 1 and "Tệp thiếu cột" in r.stderr and "Traceback" not in r.stderr

    r = run_sohoa([*args, "register", "list"])
    assert "Sổ đến\tđến/in\t90 dòng" in r.stdout and "Sổ đi\tđi/out\t40 dòng" in r.stdout

    r = run_sohoa([*args, "progress"])
    assert r.returncode == 0
    assert "0/90 văn bản đến, 0/40 văn bản đi đã được số hóa (2020-2024)" in r.stdout
    r = run_sohoa(
        [*args, "progress", "--register", "Sổ đến", "--from", "2021", "--to", "2022", "--json"]
    )
    data_json = json.loads(r.stdout)
    assert data_json["directions"] == {"in": {"total": 36, "digitized": 0}}
    assert [y["year"] for y in data_json["registers"][0]["years"]] == [2021, 2022]

    r = run_sohoa(
        [*args, "register", "select", "add", "--from", "2021", "--to", "2021", "--type", "NQ"]
    )
    assert r.returncode == 0 and "NQ" in r.stdout
    r = run_sohoa([*args, "progress", "--json"])
    regs = {x["name"]: x for x in json.loads(r.stdout)["registers"]}
    assert regs["Sổ đến"]["selected"] == 6  # NQ letters of 2021 in the incoming register

    r = run_sohoa([*args, "register", "checkout", "1"])
    assert r.returncode == 0, r.stderr
    r = run_sohoa([*args, "progress", "--custody"])
    assert "1 bản gốc chưa trả" in r.stdout and "1-NQ/TU (Sổ đến)" in r.stdout
    run_sohoa([*args, "register", "return", "1"])
    r = run_sohoa([*args, "progress", "--custody"])
    assert "Mọi bản gốc đã được trả" in r.stdout
