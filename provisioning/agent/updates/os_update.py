"""Whole-OS updates through Debian's ``rauc``: the signed bundle goes into the other root
slot, the bootloader tries it with an attempt counter, and the agent marks it good only
after the same local health gate as an application update.

Trust is checked twice before anything is written: the bundle file must match the length
and SHA-256 of its TUF target (signed by the offline release role, :mod:`.offer`), and
``rauc install`` checks the bundle's own CMS signature against the keyring (the release
key's X.509 counterpart). Nothing asks the hub whether to keep the new OS.

The steps, in ``<data>/agent/updates/os.json`` (fsynced, like the application journal):

============  ==========================================================================
``install``   written before ``rauc install``; a power cut here leaves the booted slot
              primary or the new one primary (rauc switches last): the next boot decides.
``reboot``    installed, the new slot is primary; the agent asks for a reboot.
(boot)        the bootloader (U-Boot boot counting on the Pi, the custom backend's
              counter on the twin) boots the new slot while it has attempts left, else
              the old one.
``trial``     the agent at start (:meth:`OsUpdater.after_boot`): booted the new slot ->
              health gate -> ``rauc status mark-good`` (committed) or ``mark-bad`` and a
              reboot into the old slot (rolled back); booted the old slot -> the new OS
              did not come up within its attempts (rolled back, nothing to mark).
``done``      outcome and reason kept; the report waits in the application journal's
              ``unreported`` list until the hub has it.
============  ==========================================================================
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from firmware.errors import KioskError
from provisioning.agent.updates.artifact import Expected, verify
from provisioning.agent.updates.gate import HealthGate
from sohoa_common.atomic import atomic_write_text

log = logging.getLogger("sohoa.agent.updates")

OS_JOURNAL = "os.json"
RAUC_TIMEOUT_S = 1800.0  # writing a 1 GB slot to an SD card takes minutes


def _failed(what: str, detail: str) -> KioskError:
    return KioskError(
        "os_update_failed",
        f"The OS update failed at {what}: {detail[-300:]}",
        "Cập nhật hệ điều hành không thành công; máy vẫn chạy phiên bản hiện tại.",
    )


class Rauc:
    """The ``rauc`` command line (it talks to the rauc service over D-Bus)."""

    def __init__(self, conf: Path | None = None, env: dict[str, str] | None = None):
        self.conf = conf
        self.env = env

    def run(self, *args: str, timeout: float = 120.0) -> str:
        cmd = ["rauc", *([f"--conf={self.conf}"] if self.conf else []), *args]
        env = {**os.environ, **self.env} if self.env else None
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _failed(args[0], str(exc)) from None
        if proc.returncode != 0:
            raise _failed(" ".join(args[:2]), (proc.stderr or proc.stdout).strip())
        return proc.stdout

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run("status", "--output-format=json"))
        return data

    def slots(self) -> dict[str, dict[str, Any]]:
        """slot name -> its status (``bootname``, ``state``, ``boot_status``...)."""
        return {name: s for entry in self.status()["slots"] for name, s in entry.items()}

    def booted(self) -> str:
        return str(self.status()["booted"])

    def primary_bootname(self) -> str:
        st = self.status()
        return str(self.slots()[st["boot_primary"]]["bootname"])

    def install(self, bundle: Path) -> None:
        self.run("install", str(bundle), timeout=RAUC_TIMEOUT_S)

    def mark(self, state: str) -> None:
        """``good`` or ``bad`` for the booted slot."""
        self.run("status", f"mark-{state}", "booted")


@dataclass
class OsJournal:
    step: str = "done"
    version: str | None = None
    from_slot: str | None = None
    to_slot: str | None = None
    outcome: str | None = None
    reason: str | None = None
    failed: list[str] = field(default_factory=list)  # never retried

    def in_progress(self) -> bool:
        return self.step != "done"


class OsUpdater:
    """Install a bundle, and after the reboot keep it or go back (``report`` as for
    application updates: ``{"version", "outcome", "reason", "previous", "at"}``)."""

    def __init__(
        self,
        rauc: Rauc,
        directory: Path,
        gate: HealthGate,
        reboot: Callable[[], None],
        report: Callable[[dict[str, Any]], object],
    ):
        self.rauc = rauc
        self.path = Path(directory) / OS_JOURNAL
        self.gate = gate
        self.reboot = reboot
        self.report = report

    def load(self) -> OsJournal:
        try:
            return OsJournal(**json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return OsJournal()

    def _step(self, j: OsJournal, step: str, **changes: Any) -> OsJournal:
        for k, v in changes.items():
            setattr(j, k, v)
        j.step = step
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(asdict(j), sort_keys=True, indent=1))
        log.info("OS update %s: %s", j.version, step)
        return j

    def install(self, version: str, bundle: Path, expected: Expected) -> OsJournal:
        """Verify, install into the other slot, ask for the reboot that tries it."""
        j = self.load()
        if version in j.failed:
            return j
        verify(bundle, expected)  # before rauc reads a byte of it
        booted = self.rauc.booted()
        j = self._step(j, "install", version=version, from_slot=booted, outcome=None, reason=None)
        try:
            self.rauc.install(bundle)
        except KioskError as exc:
            return self._finish(j, "refused", exc.message_en)
        j = self._step(j, "reboot", to_slot=self.rauc.primary_bootname())
        self.reboot()
        return j

    def after_boot(self) -> OsJournal:
        """At agent start: judge the OS this boot runs, if an OS update is under way."""
        j = self.load()
        if not j.in_progress():
            return j
        booted = self.rauc.booted()
        if j.step == "install":  # cut during rauc install: whatever booted is the OS
            if booted == j.from_slot:
                return self._finish(j, "refused", "power cut during the installation")
            j.to_slot = booted  # rauc had finished and switched: the new slot came up
        if booted != j.to_slot:
            return self._finish(
                j,
                "rolled_back",
                f"the new OS (slot {j.to_slot}) did not come up within its boot attempts; "
                f"the bootloader went back to slot {booted}",
            )
        j = self._step(j, "trial")
        verdict = self.gate.judge()
        if verdict.interrupted:  # the agent stops: judged again at its next start
            return j
        if verdict.ok:
            self.rauc.mark("good")
            return self._finish(j, "committed", None)
        self.rauc.mark("bad")  # the bootloader boots the other slot next
        j = self._finish(j, "rolled_back", verdict.reason)
        self.reboot()
        return j

    def _finish(self, j: OsJournal, outcome: str, reason: str | None) -> OsJournal:
        failed = j.failed if outcome == "committed" else sorted({*j.failed, str(j.version)})
        j = self._step(j, "done", outcome=outcome, reason=reason, failed=failed)
        self.report(
            {
                "version": j.version,
                "previous": j.from_slot,
                "outcome": outcome,
                "reason": reason,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
        return j
