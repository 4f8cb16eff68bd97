"""What a heartbeat says about the kiosk, gathered from the kiosk's status file and the OS.

The agent runs as its own user and cannot open the catalog (the kiosk's, 0600): the kiosk
publishes what the heartbeat needs from it (upload queue, pages today, audit head) in its
status file (:mod:`firmware.fleet.link`) along with device health and the export queue.
The rest comes from ``/proc`` (uptime, boot id), ``/etc/os-release`` and the disk. When
the status file is missing or stale the kiosk service is reported down (``dev.service``
false) and its parts are left at their defaults: a heartbeat saying "the kiosk is not
running" is worth more than none.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware import __version__ as app_version
from firmware.fleet.link import read_kiosk_status
from firmware.store.paths import DataPaths
from provisioning.fleet_schemas import (
    MAX_ERRORS,
    Disk,
    ErrorNote,
    ExportQueue,
    Heartbeat,
    UploadQueue,
    Versions,
)

if TYPE_CHECKING:
    from provisioning.agent.state import AgentState

PROC = Path("/proc")
OS_RELEASE = Path("/etc/os-release")


def os_name(path: Path = OS_RELEASE) -> str:
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def uptime_s(proc: Path = PROC) -> float:
    try:
        return float((proc / "uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def boot_id(proc: Path = PROC) -> str:
    try:
        return (proc / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def collect(
    paths: DataPaths,
    state: AgentState,
    now: dt.datetime | None = None,
    kiosk: dict[str, Any] | None = None,
) -> Heartbeat:
    """The heartbeat to send now (``kiosk``: the status file, read here when not given)."""
    now = now or dt.datetime.now(dt.UTC)
    errs: list[ErrorNote] = [ErrorNote(**e) for e in state.errors[-MAX_ERRORS:]]
    usage = shutil.disk_usage(paths.root)
    if kiosk is None:
        kiosk = read_kiosk_status(paths)
    dev: dict[str, bool] = {"service": kiosk is not None}
    upq, exq, pages, audit = UploadQueue(), ExportQueue(), 0, ""
    if kiosk is not None:
        dev.update({k: bool(v) for k, v in (kiosk.get("devices") or {}).items()})
        exq = ExportQueue(wait=int(kiosk.get("export_waiting") or 0))
        if isinstance(kiosk.get("upload_queue"), dict):
            upq = UploadQueue(**kiosk["upload_queue"])
        pages = int(kiosk.get("pages_today") or 0)
        audit = str(kiosk.get("audit_head") or "")
        last: dict[str, Any] | None = kiosk.get("last_error")
        if last and last.get("code"):
            errs.append(
                ErrorNote(code=str(last["code"]), msg=str(last.get("message_en", ""))[:200])
            )
    return Heartbeat(
        seq=state.seq + 1,
        at=now.isoformat(timespec="seconds"),
        ver=Versions(app=app_version, os=os_name(), cfg=state.config_version),
        up=round(uptime_s(), 0),
        boot=boot_id(),
        disk=Disk(free=usage.free, total=usage.total),
        upq=upq,
        exq=exq,
        pages=pages,
        dev=dev,
        audit=audit,
        clk=state.clock_offset_s,
        errs=errs[-MAX_ERRORS:],
        cfg_err=state.config_error,
    )
