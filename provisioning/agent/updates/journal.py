"""The update journal: one small JSON file, rewritten atomically and fsynced at every step,
so recovery after a power cut knows exactly where the update stood.

Steps, in order: ``download`` -> ``verify`` -> ``unpack`` -> ``install`` -> ``switch`` ->
``trial`` -> ``commit`` (or ``rollback``) -> ``report`` -> ``done``. A step is written
*before* it starts; recovery (``Updater.recover``) decides from the last step written:
before ``switch`` the old release is still current and the half-done work is discarded;
from ``switch`` to ``trial`` the new release gets a fresh trial while it has attempts left,
else it is rolled back; ``commit``/``rollback`` are finished; ``report`` is sent again.

Also kept here: releases that failed their health gate (never retried) and the outcomes
not yet reported to the hub.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from firmware.fleet.link import write_update_state
from sohoa_common.atomic import atomic_write_text

log = logging.getLogger("sohoa.agent.updates")

STEPS = (
    "download",
    "verify",
    "unpack",
    "install",
    "switch",
    "trial",
    "commit",
    "rollback",
    "report",
    "done",
)
BEFORE_SWITCH = frozenset({"download", "verify", "unpack", "install"})
JOURNAL_NAME = "update.json"


@dataclass
class UpdateJournal:
    step: str = "done"
    version: str | None = None  # the release being installed
    previous: str | None = None  # what ``current`` pointed at before
    target_length: int | None = None
    target_sha256: str | None = None
    artifact: str | None = None  # where the download is kept
    attempts: int = 0  # trials started for ``version``
    outcome: str | None = None  # committed | rolled_back | refused | deferred | interrupted
    reason: str | None = None
    failed: list[str] = field(default_factory=list)  # never retried
    unreported: list[dict[str, Any]] = field(default_factory=list)

    def in_progress(self) -> bool:
        return self.step != "done"


#: What of the journal the kiosk may read (:func:`firmware.fleet.link.write_update_state`).
PUBLIC_FIELDS = ("step", "version", "previous", "outcome", "reason", "attempts")


class JournalFile:
    """The journal on disk (the agent's own directory); with ``shared_dir`` (the agent's
    state dir) each save also publishes its public part for the kiosk's screen."""

    def __init__(self, directory: Path, shared_dir: Path | None = None):
        self.path = Path(directory) / JOURNAL_NAME
        self.shared_dir = shared_dir

    def load(self) -> UpdateJournal:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return UpdateJournal()
        known = {f.name for f in fields(UpdateJournal)}
        return UpdateJournal(**{k: v for k, v in data.items() if k in known})

    def save(self, journal: UpdateJournal) -> None:
        if journal.step not in STEPS:
            raise ValueError(f"unknown update step {journal.step!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = asdict(journal)
        atomic_write_text(self.path, json.dumps(data, sort_keys=True, indent=1))
        if self.shared_dir is not None:
            try:
                write_update_state(self.shared_dir, {k: data[k] for k in PUBLIC_FIELDS})
            except OSError as exc:  # the screen's notice is not worth failing the update
                log.warning("update state not published: %s", exc)

    def step(self, journal: UpdateJournal, step: str, **changes: Any) -> UpdateJournal:
        """Record that ``step`` starts now (written before the step does anything)."""
        for k, v in changes.items():
            setattr(journal, k, v)
        journal.step = step
        self.save(journal)
        log.info("update %s: %s", journal.version, step)
        return journal
