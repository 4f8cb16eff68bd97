"""The "collect logs" bundle: what IT needs to see why a kiosk misbehaves, in one tar.gz.

Contents: the agent's state and command journal, the kiosk status file, the applied
configuration, the ``sohoa doctor`` report, the last day of the service journals when
``journalctl`` exists (the kiosk service logs there), and the kiosk's log directory when the
agent may read it (in development, where both run as one user; on the image it is the
kiosk's alone and its content is in the journal). No documents, no keys: the identity
directory and the catalog's contents are never included.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from firmware.fleet.config import config_dir
from firmware.fleet.link import kiosk_status_path
from firmware.store.paths import DataPaths

MAX_LOG_BYTES = 20 * 1024 * 1024  # per file: the newest part of a runaway log


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _tail(path: Path) -> bytes:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size > MAX_LOG_BYTES:
            fh.seek(size - MAX_LOG_BYTES)
        return fh.read()


def journal_text() -> bytes | None:
    if shutil.which("journalctl") is None:
        return None
    try:
        r = subprocess.run(
            ["journalctl", "-u", "sohoa", "-u", "sohoa-agent", "--since", "-1d", "--no-pager"],
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def _kiosk_logs(paths: DataPaths) -> list[Path]:
    try:
        return sorted(p for p in paths.logs.rglob("*") if p.is_file())
    except OSError:  # the kiosk's alone (another user): its content is in the journal
        return []


def build_bundle(
    paths: DataPaths, state_dir: Path, dest: Path, doctor: list[dict[str, Any]]
) -> Path:
    """Write the bundle to ``dest`` (tar.gz) and return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        for p in _kiosk_logs(paths):
            try:
                _add_bytes(tar, f"logs/{p.relative_to(paths.logs)}", _tail(p))
            except OSError:
                continue
        for name, p in (
            ("agent/state.json", state_dir / "state.json"),
            ("agent/commands.json", state_dir / "commands.json"),
            ("kiosk-status.json", kiosk_status_path(paths)),
            ("config/current.json", config_dir(state_dir) / "current.json"),
        ):
            if p.is_file():
                _add_bytes(tar, name, p.read_bytes())
        _add_bytes(tar, "doctor.json", json.dumps(doctor, ensure_ascii=False, indent=1).encode())
        journal = journal_text()
        if journal is not None:
            _add_bytes(tar, "journal.txt", journal)
    return dest
