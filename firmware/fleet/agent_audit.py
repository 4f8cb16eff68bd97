"""The agent's audit records, taken into the kiosk's hash-chained audit log by the kiosk.

The agent must leave an audit record on the kiosk for every command, configuration and
update step, but it cannot write the catalog (the kiosk's, 0600). So it writes each record
as one small file, ``<agent state>/audit/<seq>.json`` (0640, atomic), numbered in order;
the kiosk service (:class:`AuditTakeOver`, every status round) appends the new ones to its
log with their ``agent_seq`` and publishes the highest it has in the status file
(``agent_audit_taken``); the agent then deletes the files up to there.

Exactly once: the highest ``agent_seq`` in the catalog is where the kiosk resumes after a
restart, and a record is appended in one transaction, so a power cut neither loses nor
doubles one. The agent's numbering continues from whichever is highest of its files, its
own state and the kiosk's ``agent_audit_taken``, so a lost agent state does not reuse
numbers the kiosk already took.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.fleet.link import SHARED_DIR_MODE, SHARED_FILE_MODE, ensure_dir
from sohoa_common.atomic import atomic_write_text

if TYPE_CHECKING:
    from firmware.store.catalog import Catalog

log = logging.getLogger("sohoa.fleet_audit")

SEQ_KEY = "agent_seq"
AT_KEY = "agent_at"  # when the agent wrote the record
TAKEN_KEY = "agent_audit_taken"  # in the kiosk status file
#: Keywords of ``Catalog.audit`` besides its details: a record's details cannot carry them.
_RESERVED = frozenset({"actor", "action", "doc_id", "page_id", AT_KEY})


def audit_dir(state_dir: Path) -> Path:
    return state_dir / "audit"


def _seq_of(path: Path) -> int | None:
    stem = path.name.removesuffix(".json")
    return int(stem) if path.name.endswith(".json") and stem.isdigit() else None


def pending(state_dir: Path) -> list[tuple[int, Path]]:
    """The record files there, in order."""
    d = audit_dir(state_dir)
    try:
        names = list(d.iterdir())
    except OSError:
        return []
    found = [(s, p) for p in names if (s := _seq_of(p)) is not None]
    return sorted(found)


class AgentAuditLog:
    """The agent's side. ``audit()`` has the signature of ``Catalog.audit`` so the agent's
    parts record events the same way the kiosk's do."""

    def __init__(self, state_dir: Path, floor: int = 0):
        self.state_dir = state_dir
        self._lock = threading.Lock()
        files = pending(state_dir)
        self._last = max([floor, *(s for s, _ in files)])

    def audit(
        self,
        actor: str,
        action: str,
        doc_id: str | None = None,
        page_id: str | None = None,
        **details: Any,
    ) -> dict[str, Any]:
        with self._lock:
            seq = self._last + 1
            record = {
                "seq": seq,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "actor": actor,
                "action": action,
                "doc_id": doc_id,
                "page_id": page_id,
                "details": details,
            }
            d = ensure_dir(audit_dir(self.state_dir), SHARED_DIR_MODE)
            atomic_write_text(
                d / f"{seq:012d}.json",
                json.dumps(record, ensure_ascii=False, default=str),
                mode=SHARED_FILE_MODE,
            )
            self._last = seq
            return record

    def prune(self, taken: int) -> int:
        """Delete the records the kiosk has taken (``agent_audit_taken``); how many."""
        n = 0
        with self._lock:
            for seq, path in pending(self.state_dir):
                if seq > taken:
                    break
                path.unlink(missing_ok=True)
                n += 1
            self._last = max(self._last, taken)
        return n


class AuditTakeOver:
    """The kiosk's side: append the agent's new records to the catalog's audit log."""

    def __init__(self, catalog: Catalog, state_dir: Path):
        self.catalog = catalog
        self.state_dir = state_dir
        self.taken: int | None = None

    def __call__(self) -> dict[str, Any]:
        """Take over what is new; the status fields naming how far (``agent_audit_taken``)."""
        if self.taken is None:
            self.taken = self.catalog.max_audit_detail(SEQ_KEY)
        for seq, path in pending(self.state_dir):
            if seq <= self.taken:
                continue
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
                details = dict(rec["details"])
                actor, action = str(rec["actor"]), str(rec["action"])
                doc_id, page_id = rec.get("doc_id"), rec.get("page_id")
                # names the agent's ``audit()`` cannot have put there (its own parameters) or
                # that the take-over adds: such a file was not written by it
                clash = sorted(details.keys() & _RESERVED)
                if clash:
                    raise ValueError(f"details use reserved names {clash}")
            except (ValueError, KeyError, TypeError) as exc:
                mark: dict[str, Any] = {SEQ_KEY: seq}
                self.catalog.audit(
                    "agent",
                    "agent.audit_malformed",
                    file=path.name,
                    problem=str(exc)[:200],
                    **mark,
                )
            except OSError as exc:  # unreadable (modes): stop here, try again next round
                log.warning("agent audit record %s unreadable: %s", path, exc)
                break
            else:
                details.pop(SEQ_KEY, None)
                details[AT_KEY] = rec.get("at")
                details[SEQ_KEY] = seq
                self.catalog.audit(actor, action, doc_id, page_id, **details)
            self.taken = seq
        return {TAKEN_KEY: self.taken}
