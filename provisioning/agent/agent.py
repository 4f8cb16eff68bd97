"""The agent's loop: renew the certificate when due, send a heartbeat, let each duty act on
the answer, wait the interval the hub asked for (backoff with jitter while the hub fails).

:meth:`Agent.step` is one poll and returns how long to wait; the ``sohoa agent`` process
loops on it, tests call it directly. Duties (:class:`Duty`) are what the agent does with the
hub's answer: sync the signed configuration, run remote commands, and later (issue 18)
software updates; each is isolated, so one failing never stops the heartbeat or the others.

The agent runs as its own user (``sohoa-agent``). It never opens the kiosk's catalog or
documents: what it needs from the kiosk comes from the kiosk's status file, its own files
live in its state dir (``[agent] state_dir``), and its audit records go to the kiosk
through :class:`~firmware.fleet.agent_audit.AgentAuditLog` (:mod:`firmware.fleet.link`
describes the boundary and its modes).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from firmware.errors import KioskError
from firmware.fleet.agent_audit import TAKEN_KEY, AgentAuditLog
from firmware.fleet.link import (
    SHARED_DIR_MODE,
    agent_state_dir,
    ensure_dir,
    read_kiosk_status,
    read_status_file,
)
from firmware.store.paths import DataPaths
from firmware.uplink.client import UplinkError
from firmware.uplink.identity import Identity, load_identity
from firmware.uplink.worker import backoff_delay
from provisioning.agent import telemetry
from provisioning.agent.hub_link import HubLink
from provisioning.agent.renewal import Renewal
from provisioning.agent.state import AgentState, load_state, save_state
from provisioning.fleet_schemas import MAX_ERRORS, HeartbeatAnswer

if TYPE_CHECKING:
    from firmware.config import Settings

log = logging.getLogger("sohoa.agent")

#: Spread of the next poll around the interval (a fleet started together drifts apart).
JITTER = 0.1


@dataclass
class StepContext:
    """What a duty gets after a heartbeat: the agent and the identity used for it."""

    agent: Agent
    ident: Identity
    now: dt.datetime


class Duty(Protocol):
    name: str

    def after_heartbeat(self, ctx: StepContext, answer: HeartbeatAnswer) -> None:
        """Act on the hub's answer; raise :class:`KioskError` to have it reported."""


def default_duties(agent: Agent) -> list[Duty]:
    """What the agent does after each heartbeat, in order (the one place listing them)."""
    from provisioning.agent.commands import Commands
    from provisioning.agent.config_sync import ConfigSync
    from provisioning.agent.updates.duty import UpdateDuty

    return [ConfigSync(agent), Commands(agent), UpdateDuty(agent)]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Agent:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        rng: random.Random | None = None,
        duties: list[Duty] | None = None,
        child_args: list[str] | None = None,
    ):
        self.settings = settings
        #: Options a child ``sohoa`` (the service an update restarts, its self-test) needs
        #: to read this agent's configuration, e.g. ``["--config", path]``.
        self.child_args = list(child_args or [])
        self.paths = DataPaths(settings.data_dir)  # the kiosk's: only run/ and identity/
        self.state_dir = ensure_dir(agent_state_dir(settings), SHARED_DIR_MODE)
        self.state: AgentState = load_state(self.state_dir)
        published = read_status_file(self.paths) or {}
        self.audit_log = AgentAuditLog(self.state_dir, floor=int(published.get(TAKEN_KEY) or 0))
        self.link = HubLink(
            hub_url=settings.uplink.hub_url,
            connect_timeout_s=settings.uplink.connect_timeout_s,
            io_timeout_s=settings.uplink.io_timeout_s,
            transport=transport,
        )
        self.renewal = Renewal(settings, self.audit_log.audit)
        self.rng = rng or random.Random()
        self.duties: list[Duty] = duties if duties is not None else default_duties(self)
        self.failures = 0
        self.status = "starting"
        self.last_answer: HeartbeatAnswer | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    # -- plumbing for duties ------------------------------------------------------------
    def add_duty(self, duty: Duty) -> Agent:
        self.duties.append(duty)
        return self

    def note_error(self, err: KioskError, now: dt.datetime | None = None) -> None:
        """Remember an error for the next heartbeats (the newest :data:`MAX_ERRORS`)."""
        at = (now or _now()).isoformat(timespec="seconds")
        entry = {"code": err.code, "at": at, "msg": err.message_en[:200]}
        errors = [e for e in self.state.errors if e.get("code") != err.code] + [entry]
        self.state.errors = errors[-MAX_ERRORS:]
        save_state(self.state_dir, self.state)
        log.warning("%s: %s", err.code, err.message_en)

    def clock_ok(self) -> bool:
        """False when the last heartbeat showed this kiosk's clock far from the hub's (the
        Pi has no RTC): time-based decisions such as metadata expiry are then not trusted."""
        off = self.state.clock_offset_s
        return off is None or abs(off) <= self.settings.agent.clock_tolerance_s

    def save(self) -> None:
        save_state(self.state_dir, self.state)

    def audit(self, action: str, **details: Any) -> None:
        """An audit record on the kiosk (taken into its log by the kiosk service)."""
        self.audit_log.audit("agent", action, **details)

    # -- one poll -----------------------------------------------------------------------
    def step(self) -> float:
        now = _now()
        base = self.settings.agent.heartbeat_s
        ident = load_identity(self.paths)
        if ident is None:
            self.status = "not_enrolled"
            return base
        try:
            ident = self.renewal.renew_if_due(ident, now)
        except UplinkError as exc:  # keep the current certificate until it expires
            self.note_error(exc, now)
        if ident.expired(now):
            self.status = "certificate_expired"
            self.note_error(
                UplinkError(
                    "certificate_expired",
                    "This kiosk's certificate has expired; enroll it again with a new token.",
                    "Chứng thư của máy đã hết hạn; cần đăng ký lại thiết bị bằng mã mới.",
                ),
                now,
            )
            return base
        kiosk = read_kiosk_status(self.paths)
        if kiosk is not None and kiosk.get(TAKEN_KEY):
            self.audit_log.prune(int(kiosk[TAKEN_KEY]))
        hb = telemetry.collect(self.paths, self.state, now, kiosk)
        try:
            answer, offset = self.link.heartbeat(ident, hb)
        except UplinkError as exc:
            self.failures += 1
            self.status = "hub_unreachable" if exc.code.startswith("hub_") else exc.code
            self.note_error(exc, now)
            return backoff_delay(
                self.failures,
                self.settings.agent.backoff_base_s,
                self.settings.agent.backoff_max_s,
                self.rng,
            )
        self.failures = 0
        self.status = "ok"
        self.last_answer = answer
        self.state.seq = hb.seq
        self.state.last_heartbeat_at = hb.at
        self.state.interval_s = answer.interval
        self.state.clock_offset_s = round(offset, 3)
        if answer.cfg is not None:
            self.state.hub_config_hint = answer.cfg
        self.save()
        if not self.clock_ok():
            self.note_error(
                KioskError(
                    "clock_off",
                    f"The kiosk clock is {offset:+.0f} s off the hub's clock; check the time "
                    "source (NTP). Time-based checks wait for a good clock.",
                    "Đồng hồ của máy lệch so với trung tâm; hãy kiểm tra nguồn giờ (NTP).",
                ),
                now,
            )
        ctx = StepContext(self, ident, now)
        for duty in self.duties:
            try:
                duty.after_heartbeat(ctx, answer)
            except KioskError as exc:
                self.note_error(exc, now)
            except Exception as exc:  # a duty must never stop the heartbeat
                log.exception("agent duty %s failed", duty.name)
                self.note_error(
                    KioskError(f"{duty.name}_failed", f"{duty.name}: {exc}", f"{duty.name}: {exc}"),
                    now,
                )
        interval = max(base, answer.interval)
        return interval * (1 + self.rng.uniform(-JITTER, JITTER))

    # -- the process --------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception:  # the agent must never die silently
                log.exception("agent step failed")
                wait = self.settings.agent.backoff_base_s
            self._wake.wait(wait)
            self._wake.clear()
        self.close()

    def close(self) -> None:
        for duty in self.duties:
            close = getattr(duty, "close", None)
            if close is not None:
                close()
        self.link.close()

    def describe(self) -> dict[str, Any]:
        return {"status": self.status, "failures": self.failures, **self.state.__dict__}
