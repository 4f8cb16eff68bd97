"""The kiosk's own `sohoa` works without the hub's extra (SQLAlchemy, boto3, psycopg,
python-multipart): a kiosk release installs only the base dependencies. The x86-64 image
build found `sohoa --help` dying with ModuleNotFoundError: sqlalchemy, because the rollout
commands imported the hub's database when the parser was built."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HUB_EXTRA = ("sqlalchemy", "boto3", "botocore", "psycopg", "multipart", "python_multipart")

BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc, sys

    class NoHubExtra(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {HUB_EXTRA!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NoHubExtra())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_kiosk_cli_builds_every_command_without_the_hub_extra():
    r = _run(
        """
        from firmware.cli.main import build_parser
        p = build_parser()
        for argv in (["--help"], ["selftest", "--help"], ["agent", "--help"], ["hub", "--help"]):
            try:
                p.parse_args(argv)
            except SystemExit as exc:
                assert exc.code == 0, argv
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ok")
    assert "sqlalchemy" not in r.stderr


def test_the_blocker_really_blocks():
    r = _run("import sqlalchemy\n")
    assert r.returncode != 0 and "sqlalchemy" in r.stderr
