"""`sohoa operator disable | enable | unlock | reset-pin` on the real command line (issue 16)."""

from __future__ import annotations

import pytest

from firmware.errors import KioskError
from firmware.store.catalog import Catalog
from firmware.store.operators import Operators
from tests.conftest import run_sohoa


def test_unlock_reset_pin_and_disable_from_the_command_line(tmp_path):
    args = ["--data-dir", str(tmp_path)]
    r = run_sohoa([*args, "operator", "add", "1001", "--name", "Lan"], input="1234\n")
    assert r.returncode == 0, r.stderr
    cat = Catalog(tmp_path / "catalog.db")
    try:
        ops = Operators(cat)
        for _ in range(ops.max_failures):
            with pytest.raises(KioskError):
                ops.authenticate("1001", "0000")
        assert ops.get("1001").locked_until
        assert run_sohoa([*args, "operator", "unlock", "1001"]).returncode == 0
        assert not ops.get("1001").locked_until
        r = run_sohoa([*args, "operator", "reset-pin", "1001"], input="5678\n")
        assert r.returncode == 0, r.stderr
        assert ops.authenticate("1001", "5678").code == "1001"
        assert run_sohoa([*args, "operator", "disable", "1001"]).returncode == 0
        assert ops.get("1001").disabled
        assert run_sohoa([*args, "operator", "enable", "1001"]).returncode == 0
        assert not ops.get("1001").disabled
        bad = run_sohoa([*args, "operator", "unlock", "4242"])
        assert bad.returncode == 2 and "4242" in bad.stderr
        actions = [(a["actor"], a["action"]) for a in cat.audit_records()]
        for act in ("operator.unlock", "operator.reset_pin", "operator.disable", "operator.enable"):
            assert ("cli", act) in actions
    finally:
        cat.close()


def test_data_commands_outside_the_project_name_the_folder_and_create_nothing(tmp_path):
    """Issue 16: run from another folder, doctor quietly created ./var and said all fine."""
    import os
    import subprocess

    from tests.conftest import sohoa_cmd

    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    for command in (["doctor"], ["operator", "list"], ["audit", "verify"]):
        r = subprocess.run(
            sohoa_cmd() + command, cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert str(tmp_path / "var") in r.stderr and "--data-dir" in r.stderr
    assert not (tmp_path / "var").exists()
    named = run_sohoa(["--data-dir", str(tmp_path / "k"), "doctor"])
    assert f"data directory: {tmp_path / 'k'}" in named.stdout
