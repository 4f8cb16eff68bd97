"""The small local interface between the kiosk service and the fleet agent: files, with
deliberate owners and modes, because the two run as different users.

The agent (``sohoa agent``, user ``sohoa-agent``) and the kiosk service (user ``sohoa``)
never call each other and never open each other's private files; either can be down without
the other noticing more than a stale file, and the kiosk keeps scanning whatever the agent
does. The only thing they share is the group ``sohoa-link`` (both units have it as a
supplementary group; the image's ``data-layout`` creates the directories below with it).

This module is the one place that knows the layout and the modes:

- The kiosk's data dir (``<data>``, ``sohoa:sohoa-link 0710``): the group may only pass
  through it, to the two directories below; the catalog (0600), documents and logs
  (``0750 sohoa:sohoa``) stay the kiosk's alone.
- ``<data>/run/`` (``2750``): ``kiosk-status.json`` (0640), rewritten by the kiosk every
  :data:`STATUS_EVERY_S`: device health, export queue, and what the agent would otherwise
  have to read from the catalog (upload queue, pages today, audit head, the document in
  progress, how far the agent's audit records were taken over). A file older than
  :data:`STALE_AFTER_S` means the kiosk service is not running.
- ``<data>/run/doctor.json``, ``selftest.json`` (0640): the kiosk's answers to the agent's
  requests (:func:`ask_kiosk`): ``sohoa doctor``'s and ``sohoa selftest``'s checks, run by
  the kiosk because they read the catalog and open the devices.
- ``<data>/identity/`` (``2770``): the mutual-TLS identity, written at enrollment by the
  kiosk and at renewal or re-key by the agent; files 0640 so the other side reads them
  (:mod:`firmware.uplink.identity`).
- The agent's state dir (:func:`agent_state_dir`, ``sohoa-agent:sohoa-link 2750``): the
  agent's private files (0600) and directories (0700), and two the kiosk reads:
  ``config/`` (the applied signed configuration, :mod:`firmware.fleet.config`) and
  ``audit/`` (the agent's audit records, which the kiosk takes into its hash-chained log,
  :mod:`firmware.fleet.agent_audit`), ``requests/`` (asks of the agent the kiosk
  answers, :func:`ask_kiosk`), and ``update-state.json`` (0640, :func:`write_update_state`:
  where the application update stands, rewritten with the updater's journal at every step,
  so the touchscreen says "Đang cập nhật phần mềm" during the switch and the trial).

Every file is written atomically (temporary name, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.store.paths import DataPaths
from sohoa_common.atomic import atomic_write_text

if TYPE_CHECKING:
    from firmware.config import Settings
    from firmware.store.catalog import Catalog

log = logging.getLogger("sohoa.fleet_link")

STATUS_EVERY_S = 20.0
STALE_AFTER_S = 120.0
#: How often the kiosk looks for a request of the agent (a doctor report).
REQUEST_POLL_S = 1.0
#: How long the agent waits for the kiosk's doctor report before saying it did not answer.
DOCTOR_WAIT_S = 60.0

#: The group both services share; nothing else is in it.
LINK_GROUP = "sohoa-link"
#: The kiosk's data dir: the group may pass through, not list or read.
DATA_DIR_MODE = 0o710
#: A directory one side writes and the other reads (setgid: files keep the link group).
SHARED_DIR_MODE = 0o2750
#: A directory both sides write (the identity).
COMMON_DIR_MODE = 0o2770
#: A directory or file only its owner uses.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
#: A file the other side reads.
SHARED_FILE_MODE = 0o640


def agent_state_dir(settings: Settings) -> Path:
    """The agent's own directory: ``[agent] state_dir``, else ``<data_dir>-agent`` (on the
    image /var/lib/sohoa -> /var/lib/sohoa-agent, the directory its unit owns)."""
    if settings.agent.state_dir is not None:
        return Path(settings.agent.state_dir)
    data = Path(settings.data_dir).absolute()
    return data.with_name(data.name + "-agent")


def ensure_dir(path: Path, mode: int) -> Path:
    """Create ``path`` and give it ``mode`` when this process owns it. A directory the other
    side (or the image's data-layout, as root) created keeps its owner and mode: only the
    owner may change a mode, and the layout's choice is the deliberate one."""
    path.mkdir(parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid == os.geteuid() and (st.st_mode & 0o7777) != mode:
        with contextlib.suppress(PermissionError):
            path.chmod(mode)
    return path


def run_dir(paths: DataPaths) -> Path:
    return paths.root / "run"


def kiosk_status_path(paths: DataPaths) -> Path:
    return run_dir(paths) / "kiosk-status.json"


def write_kiosk_status(paths: DataPaths, status: dict[str, Any]) -> None:
    """The kiosk's side: publish ``status`` for the agent (group-readable, atomic)."""
    ensure_dir(run_dir(paths), SHARED_DIR_MODE)
    body = {"written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **status}
    atomic_write_text(
        kiosk_status_path(paths),
        json.dumps(body, ensure_ascii=False, default=str),
        mode=SHARED_FILE_MODE,
    )


def read_status_file(paths: DataPaths) -> dict[str, Any] | None:
    """The status file as written, however old (None when missing or unreadable)."""
    try:
        data = json.loads(kiosk_status_path(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_kiosk_status(paths: DataPaths, now: float | None = None) -> dict[str, Any] | None:
    """The kiosk's last status, or None when it is missing, unreadable or stale (the
    kiosk service is not running)."""
    try:
        age = (now if now is not None else time.time()) - kiosk_status_path(paths).stat().st_mtime
    except OSError:
        return None
    if age > STALE_AFTER_S:
        return None
    return read_status_file(paths)


#: A document in one of these states, changed within :data:`ACTIVE_WINDOW_S`, is one the
#: clerk is working on (updates wait for it). Older ones are left-overs of a crash that the
#: kiosk's recovery finishes or that wait for a clerk; they must not block updates forever.
ACTIVE_WINDOW_S = 1800.0


def document_in_progress(catalog: Catalog, now: dt.datetime | None = None) -> str | None:
    """The id of a document the clerk is working on right now, else None."""
    from firmware.store.states import DocState

    active = (DocState.OPEN, DocState.CAPTURING, DocState.PROCESSING, DocState.SEALING)
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(seconds=ACTIVE_WINDOW_S)
    for doc in catalog.list_documents(states_in=[s.value for s in active], limit=50):
        try:
            changed = dt.datetime.fromisoformat(str(doc["updated_at"]))
        except ValueError:
            return str(doc["id"])
        if changed.tzinfo is None:
            changed = changed.replace(tzinfo=dt.UTC)
        if changed >= cutoff:
            return str(doc["id"])
    return None


def local_midnight(now: dt.datetime | None = None) -> dt.datetime:
    now = (now or dt.datetime.now(dt.UTC)).astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def upload_queue(catalog: Catalog) -> dict[str, Any]:
    """The upload queue as the heartbeat reports it (``provisioning.fleet_schemas.UploadQueue``)."""
    from firmware.uplink.outbox import Outbox

    box = Outbox(catalog)
    counts = box.counts()
    err = None
    if counts["failing"]:
        failing = [r for r in box.rows(waiting=True) if r.get("last_error_code")]
        if failing:
            latest = max(failing, key=lambda r: (r.get("last_error") or {}).get("at") or "")
            err = latest["last_error_code"]
    return {
        "wait": counts["waiting"],
        "fail": counts["failing"],
        "oldest": box.oldest_waiting(),
        "ok": box.last_delivery(),
        "err": err,
    }


def catalog_status(catalog: Catalog, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the agent needs from the catalog, read by the kiosk (the agent cannot open it)."""
    return {
        "upload_queue": upload_queue(catalog),
        "pages_today": catalog.pages_captured_since(local_midnight(now)),
        "audit_head": catalog.audit_head()[1],
        "document_in_progress": document_in_progress(catalog, now),
    }


def configured_devices(settings: Settings) -> list[str]:
    """The devices this kiosk is configured with, the only ones its health names: a device
    it does not have is not a broken one."""
    wanted = {
        "camera": settings.camera.backend != "none",
        "scanner": settings.scanner.enabled,
        "pedal": settings.pedal.backend != "none",
        "leds": settings.leds.backend != "none",
        "ocr": True,
    }
    return [name for name, on in wanted.items() if on]


def kiosk_health(
    kiosk: Any,
    export_waiting: Callable[[], int] | None = None,
    exporting: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """What the agent needs from the running kiosk (a subset of ``Kiosk.status()``), and
    whether an export to a USB stick is running (the agent's updater waits for it)."""
    st = kiosk.status()
    answers = {
        "camera": bool(st["camera"]["available"]),
        "scanner": bool(st["scanner"]["available"]),
        "pedal": bool(st["pedal"]["available"]),
        "leds": getattr(kiosk, "leds", None) is not None,
        "ocr": bool(st["ocr"]["available"]),
    }
    return {
        "devices": {name: answers[name] for name in configured_devices(kiosk.settings)},
        "ocr_backlog": st["ocr"]["backlog"],
        "last_error": st["last_error"],
        "export_waiting": export_waiting() if export_waiting is not None else 0,
        "exporting": bool(exporting()) if exporting is not None else False,
    }


#: What the agent may ask of the running kiosk: ``sohoa doctor``'s checks (the remote doctor
#: command, the log bundle) and ``sohoa selftest``'s (the update health gate, answered by the
#: service of the release just switched to). Both need the catalog and the devices, which
#: only the kiosk's user may open.
REQUEST_KINDS = ("doctor", "selftest")


def request_path(state_dir: Path, kind: str) -> Path:
    """The agent's request (``{"id": ...}``), in its state dir's ``requests/`` (2750)."""
    return state_dir / "requests" / f"{kind}.json"


def answer_path(paths: DataPaths, kind: str) -> Path:
    """The kiosk's answer, in ``<data>/run/`` (``{"id", "at", "version", "result"}``)."""
    return run_dir(paths) / f"{kind}.json"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ask_kiosk(
    paths: DataPaths,
    state_dir: Path,
    kind: str,
    request_id: str,
    wait_s: float,
    *,
    poll_s: float = 0.2,
    give_up: Callable[[], str | None] | None = None,
) -> dict[str, Any] | None:
    """The agent's side: ask the running kiosk and wait for its answer (the whole body);
    None when it did not answer within ``wait_s``. ``give_up`` is asked at every poll and
    ends the wait early with :class:`KioskGaveUp` when it names a reason (the service died)."""
    req = request_path(state_dir, kind)
    ensure_dir(req.parent, SHARED_DIR_MODE)
    atomic_write_text(req, json.dumps({"id": request_id}), mode=SHARED_FILE_MODE)
    deadline = time.monotonic() + wait_s
    while True:
        answer = _read_json(answer_path(paths, kind))
        if answer is not None and answer.get("id") == request_id:
            return answer
        if give_up is not None and (reason := give_up()):
            raise KioskGaveUp(reason)
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)


class KioskGaveUp(Exception):
    """The kiosk cannot answer any more (``ask_kiosk``'s ``give_up`` said why)."""


def answer_requests(
    paths: DataPaths, state_dir: Path, handlers: dict[str, Callable[[], Any]]
) -> list[str]:
    """The kiosk's side: answer each pending request of the agent once; the kinds answered."""
    from firmware import __version__

    answered = []
    for kind, handler in handlers.items():
        req = _read_json(request_path(state_dir, kind))
        if req is None or not req.get("id"):
            continue
        done = _read_json(answer_path(paths, kind))
        if done is not None and done.get("id") == req["id"]:
            continue
        result = handler()
        ensure_dir(run_dir(paths), SHARED_DIR_MODE)
        body = {
            "id": str(req["id"]),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "version": __version__,
            "result": result,
        }
        atomic_write_text(
            answer_path(paths, kind),
            json.dumps(body, ensure_ascii=False, default=str),
            mode=SHARED_FILE_MODE,
        )
        answered.append(kind)
    return answered


#: Journal steps during which the kiosk's screen says the software is being updated: the
#: switch to the new release, its trial, and the switch back after a failed one.
SWITCHING_STEPS = frozenset({"switch", "trial", "rollback"})


def update_state_path(state_dir: Path) -> Path:
    return state_dir / "update-state.json"


def write_update_state(state_dir: Path, state: dict[str, Any]) -> None:
    """The agent's side: publish where the update stands (the journal's public part)."""
    ensure_dir(state_dir, SHARED_DIR_MODE)
    body = {"written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **state}
    atomic_write_text(
        update_state_path(state_dir), json.dumps(body, ensure_ascii=False), mode=SHARED_FILE_MODE
    )


def read_update_state(state_dir: Path) -> dict[str, Any]:
    """The kiosk's side: the update as the agent last published it, with ``switching``
    (the screen shows the update); nothing published is no update."""
    state = _read_json(update_state_path(state_dir)) or {}
    state["switching"] = state.get("step") in SWITCHING_STEPS
    return state


class StatusPublisher:
    """A daemon thread of the kiosk service: every ``every_s``, take over the agent's new
    audit records (``take_over``) and then write the status (``collect``), so the status
    names how far the take-over went and the agent may drop what the kiosk has; every
    :data:`REQUEST_POLL_S`, answer the requests of the agent in ``state_dir`` (``requests``:
    kind -> what makes the answer, see :data:`REQUEST_KINDS`) and hand a change of the
    agent's update state to ``on_update`` (the screens' event)."""

    def __init__(
        self,
        paths: DataPaths,
        collect: Callable[[], dict[str, Any]],
        every_s: float = STATUS_EVERY_S,
        take_over: Callable[[], dict[str, Any]] | None = None,
        requests: dict[str, Callable[[], Any]] | None = None,
        state_dir: Path | None = None,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.paths = paths
        #: called with :func:`read_update_state` whenever the agent's update state changes
        self.on_update = on_update
        self._update_seen: dict[str, Any] | None = None
        self.collect = collect
        self.take_over = take_over
        self.requests = requests or {}
        self.state_dir = state_dir
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-status", daemon=True)

    def start(self) -> StatusPublisher:
        self._thread.start()
        return self

    def publish(self) -> None:
        extra: dict[str, Any] = {}
        if self.take_over is not None:
            try:
                extra = self.take_over()
            except Exception:  # the agent's records wait for the next round
                log.exception("taking over the agent's audit records failed")
        try:
            write_kiosk_status(self.paths, {**self.collect(), **extra})
        except Exception:  # the status file must never take the kiosk down
            log.exception("writing the kiosk status for the agent failed")

    def answer_requests(self) -> None:
        if not self.requests or self.state_dir is None:
            return
        try:
            answer_requests(self.paths, self.state_dir, self.requests)
        except Exception:  # never take the kiosk down over a request of the agent
            log.exception("answering a request of the agent failed")

    def watch_update(self) -> None:
        if self.on_update is None or self.state_dir is None:
            return
        try:
            state = read_update_state(self.state_dir)
            if state != self._update_seen:
                self._update_seen = state
                self.on_update(state)
        except Exception:  # never take the kiosk down over the update's screen
            log.exception("reading the agent's update state failed")

    def _run(self) -> None:
        due = 0.0
        while True:
            if time.monotonic() >= due:
                self.publish()
                due = time.monotonic() + self.every_s
            self.answer_requests()
            self.watch_update()
            if self._stop.wait(min(REQUEST_POLL_S, self.every_s)):
                return

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(RuntimeError):
            self._thread.join(5)
