"""One application update, step by step, and recovery after a power cut at any step.

Each step is journalled (:mod:`.journal`) before it acts; :meth:`Updater.recover` runs
when the agent starts and finishes or undoes whatever the journal says was under way, so
the kiosk always ends on one coherent release:

======================  ===================================================================
journal says            after a restart
======================  ===================================================================
download .. install     ``current`` was never touched: the half-done release is removed;
                        the update may be offered again (nothing was wrong with it).
switch, trial           the new release gets a fresh trial while it has attempts left
                        (:data:`MAX_TRIALS`, an attempt counter unlike tryboot's), then is
                        committed or rolled back like any other.
commit / rollback       finished (prune / switch back, mark never-retry), then reported.
report                  the outcome is kept until the hub has it.
======================  ===================================================================
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.errors import KioskError
from firmware.store.crashpoints import crashpoint
from provisioning.agent.updates.artifact import Expected, unpack, verify
from provisioning.agent.updates.gate import HealthGate, Verdict
from provisioning.agent.updates.install import install_release
from provisioning.agent.updates.journal import BEFORE_SWITCH, JournalFile, UpdateJournal
from provisioning.agent.updates.layout import ReleaseLayout
from provisioning.agent.updates.supervisor import Supervisor

log = logging.getLogger("sohoa.agent.updates")

MAX_TRIALS = 2
#: Refusals that say something about the release itself: never offered again.
PERMANENT_REFUSALS = frozenset({"update_refused", "update_install_failed"})
#: Reasons to stop before the switch that say nothing about the release (documents go
#: first, the link is bad): no report, the download part is kept, the offer is taken again.
DEFERRALS = frozenset({"update_deferred", "update_download_failed"})

Fetch = Callable[[Path], None]
Reporter = Callable[[dict[str, Any]], bool]
Audit = Callable[..., object]


@dataclass
class Timings:
    install_s: float = 0.0
    gate_s: float = 0.0


def _no_report(_: dict[str, Any]) -> bool:
    return False


def _no_audit(*_: Any, **__: Any) -> object:
    return None


class Updater:
    def __init__(
        self,
        layout: ReleaseLayout,
        journal: JournalFile,
        staging: Path,
        supervisor: Supervisor,
        gate: HealthGate,
        *,
        bootstrap_deps: list[Path] | None = None,
        reporter: Reporter = _no_report,
        audit: Audit = _no_audit,
    ):
        self.layout = layout
        self.journal = journal
        self.staging = Path(staging)
        self.supervisor = supervisor
        self.gate = gate
        self.bootstrap_deps = bootstrap_deps
        self.reporter = reporter
        self.audit = audit
        self.timings = Timings()

    # -- the steps ----------------------------------------------------------------------
    def artifact_path(self, version: str) -> Path:
        return self.staging / f"{version}.tar"

    def unpack_dir(self, version: str) -> Path:
        return self.staging / f"{version}.unpacked"

    def update(self, version: str, expected: Expected, fetch: Fetch) -> UpdateJournal:
        """Install ``version`` (fetched by ``fetch(path)``), gate it, commit or roll back."""
        j = self.journal.load()
        if j.in_progress():
            j = self.recover()
        if version in j.failed:
            log.info("release %s failed its health gate before: not retried", version)
            return j
        if version == self.layout.current():
            return j
        j = self.journal.step(
            j,
            "download",
            version=version,
            previous=self.layout.current(),
            target_length=expected.length,
            target_sha256=expected.sha256,
            artifact=str(self.artifact_path(version)),
            attempts=0,
            outcome=None,
            reason=None,
        )
        try:
            self.staging.mkdir(parents=True, exist_ok=True)
            fetch(self.artifact_path(version))
            crashpoint("update.download")
            j = self.journal.step(j, "verify")
            verify(self.artifact_path(version), expected)
            crashpoint("update.verify")
            j = self.journal.step(j, "unpack")
            shutil.rmtree(self.unpack_dir(version), ignore_errors=True)
            manifest = unpack(self.artifact_path(version), self.unpack_dir(version))
            if manifest.version != version:
                raise KioskError(
                    "update_refused",
                    f"The artifact holds release {manifest.version}, not {version}.",
                    "Gói cập nhật không đúng phiên bản được giao.",
                )
            crashpoint("update.unpack")
            j = self.journal.step(j, "install")
            installed = install_release(
                self.layout, manifest, self.unpack_dir(version), self.bootstrap_deps
            )
            self.timings.install_s = installed.seconds
            crashpoint("update.install")
        except KioskError as exc:
            if exc.code in DEFERRALS:
                return self._defer(j, exc)
            return self._refuse(j, exc)
        j = self.journal.step(j, "switch")
        self.layout.switch(version)
        crashpoint("update.switch")
        return self._trial(j)

    def _defer(self, j: UpdateJournal, exc: KioskError) -> UpdateJournal:
        """Not now (documents first, a bad link): the bytes that arrived stay in the part
        file for the next attempt; nothing is reported, nothing is marked failed."""
        version = str(j.version)
        shutil.rmtree(self.unpack_dir(version), ignore_errors=True)
        log.info("update %s deferred: %s", version, exc.message_en)
        return self.journal.step(j, "done", outcome="deferred", reason=exc.message_en)

    def _refuse(self, j: UpdateJournal, exc: KioskError) -> UpdateJournal:
        """Before the switch: clean up, keep the current release, report why."""
        version = str(j.version)
        if self.layout.current() != version:
            self.layout.remove(version)
        self._clean_staging(version)
        if exc.code in PERMANENT_REFUSALS:
            j.failed = sorted({*j.failed, version})
        self.audit("agent", "update.refused", version=version, reason=exc.message_en)
        return self._report(j, "refused", exc.message_en)

    def _trial(self, j: UpdateJournal) -> UpdateJournal:
        j = self.journal.step(j, "trial", attempts=j.attempts + 1)
        verdict: Verdict = self.gate.judge()
        self.timings.gate_s = verdict.seconds
        if verdict.interrupted:  # the agent stops: recovery tries again at its next start
            log.warning("trial of %s interrupted: %s", j.version, verdict.reason)
            return j
        if verdict.ok:
            crashpoint("update.trial")
            return self._commit(j)
        return self._rollback(j, verdict.reason)

    def _commit(self, j: UpdateJournal) -> UpdateJournal:
        j = self.journal.step(j, "commit", outcome="committed", reason=None)
        keep = {str(j.version)} | ({j.previous} if j.previous else set())
        removed = self.layout.prune(keep)
        self._clean_staging(str(j.version))
        crashpoint("update.commit")
        self.audit(
            "agent", "update.committed", version=j.version, previous=j.previous, pruned=removed
        )
        return self._report(j, "committed", None)

    def _rollback(self, j: UpdateJournal, reason: str) -> UpdateJournal:
        j = self.journal.step(j, "rollback", outcome="rolled_back", reason=reason)
        version = str(j.version)
        if j.previous and self.layout.current() != j.previous:
            self.layout.switch(j.previous)
        elif not j.previous:  # the very first release failed: nothing to go back to
            with contextlib.suppress(FileNotFoundError):
                self.layout.current_link.unlink()
        j.failed = sorted({*j.failed, version})
        self.journal.save(j)
        crashpoint("update.rollback")
        if j.previous:
            self.supervisor.restart()
        self.layout.remove(version)
        self._clean_staging(version)
        self.audit(
            "agent", "update.rolled_back", version=version, back_to=j.previous, reason=reason
        )
        log.warning("release %s rolled back to %s: %s", version, j.previous, reason)
        return self._report(j, "rolled_back", reason)

    def _report(self, j: UpdateJournal, outcome: str, reason: str | None) -> UpdateJournal:
        entry = {
            "version": j.version,
            "previous": j.previous,
            "outcome": outcome,
            "reason": reason,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        j = self.journal.step(
            j, "report", outcome=outcome, reason=reason, unreported=[*j.unreported, entry]
        )
        crashpoint("update.report")
        self.flush_reports(j)
        return self.journal.step(j, "done")

    def queue_report(self, entry: dict[str, Any]) -> int:
        """Keep one more outcome (e.g. of an OS update) until the hub has it; then send."""
        j = self.journal.load()
        j.unreported = [*j.unreported, entry]
        self.journal.save(j)
        return self.flush_reports(j)

    def flush_reports(self, j: UpdateJournal | None = None) -> int:
        """Send the outcomes the hub has not acknowledged; how many are still waiting.
        The hub being away changes nothing but this list."""
        j = j or self.journal.load()
        waiting = []
        for entry in j.unreported:
            try:
                sent = self.reporter(entry)
            except Exception as exc:  # an unreachable hub only delays the report
                log.info("update report not sent yet: %s", exc)
                sent = False
            if not sent:
                waiting.append(entry)
        if waiting != j.unreported:
            j.unreported = waiting
            self.journal.save(j)
        return len(waiting)

    def _clean_staging(self, version: str) -> None:
        shutil.rmtree(self.unpack_dir(version), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.artifact_path(version).unlink()

    # -- after a power cut --------------------------------------------------------------
    def recover(self) -> UpdateJournal:
        """Finish or undo the update the journal says was under way (at agent start)."""
        j = self.journal.load()
        if not j.in_progress():
            return j
        version = str(j.version)
        log.warning("update %s interrupted at %s: recovering", version, j.step)
        if j.step in BEFORE_SWITCH:
            if self.layout.current() != version:
                self.layout.remove(version)
            self._clean_staging(version)
            self.audit("agent", "update.interrupted", version=version, step=j.step)
            return self.journal.step(
                j, "done", outcome="interrupted", reason=f"power cut during {j.step}"
            )
        if j.step in ("switch", "trial"):
            if j.attempts >= MAX_TRIALS:
                return self._rollback(
                    j, f"the trial was interrupted {j.attempts} times (power cut or crash)"
                )
            if self.layout.current() != version:
                self.layout.switch(version)
            return self._trial(j)
        if j.step == "commit":
            return self._commit(j)
        if j.step == "rollback":
            return self._rollback(j, j.reason or "rolled back")
        if j.step == "report":
            self.flush_reports(j)
            return self.journal.step(j, "done")
        return j
