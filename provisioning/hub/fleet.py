"""The hub's fleet duties without HTTP: take heartbeats, pace the fleet, say who is late.

Like :class:`~provisioning.hub.service.HubService` for enrollment and ingest, the routes
(``fleet_routes``) only translate requests into these calls. Everything here is synchronous
and runs in the server's worker threads.

Pacing: each hub process counts the heartbeats it answered over the last
:data:`RATE_WINDOW_S` seconds; above ``[fleet] max_heartbeats_per_s`` it answers a longer
interval (proportionally, at most ``max_stretch`` times), so a fleet coming back after an
outage spreads itself out instead of hammering one replica. The count is a load estimate of
this process only, which is what it should be: it is about this process's capacity.

Late/offline is computed when asked, from the last heartbeat and the interval the kiosk was
told, so there is no marking job that could fall behind: ``late`` once ``late_after``
intervals passed, ``offline`` after ``offline_after_s``.
"""

from __future__ import annotations

import collections
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from provisioning.fleet_schemas import Heartbeat, HeartbeatAnswer
from provisioning.hub.db import now_utc
from provisioning.hub.fleet_db import FleetDB

if TYPE_CHECKING:
    from provisioning.hub.fleet_config import FleetConfig
    from provisioning.hub.hub_db import HubDB
    from provisioning.hub.storage import ObjectStore
    from provisioning.hub.tuf_repo import ConfigRepository

RATE_WINDOW_S = 10.0

#: Kiosk states as the device list and the admin page show them.
STATE_OK, STATE_LATE, STATE_OFFLINE, STATE_NEVER = "ok", "late", "offline", "never"


class RateMeter:
    """Events per second over a sliding window (thread-safe; monotonic clock)."""

    def __init__(self, window_s: float = RATE_WINDOW_S, clock: Any = time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def tick(self) -> float:
        """Count one event; the rate including it."""
        now = self.clock()
        with self._lock:
            self._times.append(now)
            while self._times and self._times[0] < now - self.window_s:
                self._times.popleft()
            return len(self._times) / self.window_s


#: Seconds between prunings of the heartbeat history (done by the heartbeat that finds one due).
PRUNE_EVERY_S = 3600.0
#: Seconds between re-signing rounds of the fleet's online TUF metadata.
RESIGN_EVERY_S = 3600.0


class FleetService:
    """``hub_db`` is the hub's database (devices, events); ``store`` the object store
    (only ``healthz`` and log bundles need it, so ``sohoa hub device list`` passes none)."""

    def __init__(
        self,
        cfg: FleetConfig,
        hub_db: HubDB,
        store: ObjectStore | None = None,
        *,
        config_repo: ConfigRepository | None = None,
        signer: Any = None,
    ):
        self.cfg = cfg
        self.hub_db = hub_db
        self.store = store
        self.repo = config_repo
        self._kiosks_in_repo: set[str] = set()
        from provisioning.hub.commands import CommandService

        #: Remote commands; ``signer`` is the hub's ReceiptSigner (its key signs commands).
        self.commands = CommandService(
            hub_db,
            getattr(signer, "key", None),
            getattr(signer, "cert", None),
        )
        self.db = FleetDB(hub_db.engine)
        self.db.create_schema()
        from provisioning.hub.rollouts import RolloutService

        #: Staged releases: outcomes the heartbeat reports, the release its answer offers.
        self.rollouts = RolloutService(hub_db)
        self.rate = RateMeter()
        self._pruned_at = -PRUNE_EVERY_S

    # --- heartbeats ------------------------------------------------------------------------

    def interval_for(self, rate: float) -> float:
        """The interval to answer at the current load (stretched above the threshold)."""
        base = self.cfg.heartbeat_s
        if rate <= self.cfg.max_heartbeats_per_s:
            return base
        return base * min(self.cfg.max_stretch, rate / self.cfg.max_heartbeats_per_s)

    def heartbeat(
        self, kiosk_id: str, hb: Heartbeat, now: datetime | None = None
    ) -> HeartbeatAnswer:
        """Record one heartbeat; the answer tells the kiosk when to come back."""
        now = now or now_utc()
        interval = self.interval_for(self.rate.tick())
        body = hb.model_dump(mode="json", exclude_none=True)
        before = self.db.record_heartbeat(
            kiosk_id, body, interval, timedelta(seconds=self.cfg.history_every_s), now
        )
        self._note_changes(kiosk_id, before, hb, now)
        for report in hb.upd:
            self.rollouts.record(kiosk_id, report, now)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self.prune(now)
        hint = self.ensure_kiosk_config(kiosk_id)
        return HeartbeatAnswer(
            interval=round(interval, 1),
            now=now.isoformat(timespec="milliseconds"),
            cfg=hint,
            cmds=self.commands.pending_for(kiosk_id, now) if self.commands.key else [],
            rel=self.rollouts.offer_for(kiosk_id, now),
        )

    def ensure_kiosk_config(self, kiosk_id: str) -> int | None:
        """The TUF timestamp version to announce; first publishes the kiosk's own signed
        document (naming its group) when the repository has none for it yet."""
        repo = self.repo
        if repo is None or not repo.exists():
            return None
        if kiosk_id not in self._kiosks_in_repo:
            # Only "this kiosk has a document" is remembered here, which no replica can undo;
            # the check that matters runs in the repository under its cross-process lock.
            from provisioning.fleet_schemas import kiosk_target

            bin_role = repo.bin_for(kiosk_id)
            if repo.target_document(bin_role, kiosk_target(kiosk_id)) is None:
                group = self.db.device_group(kiosk_id) or "default"
                if repo.publish_kiosk_if_missing(kiosk_id, group):
                    self.hub_db.events.event(
                        "config_published", kiosk_id, scope="kiosk", group=group
                    )
            self._kiosks_in_repo.add(kiosk_id)
        return repo.timestamp_version()

    def refresh_metadata(self) -> None:
        """Re-sign the configuration repository's online metadata before it expires (the
        app's lifespan runs this every :data:`RESIGN_EVERY_S`, first at start)."""
        if self.repo is not None:
            self.repo.refresh_expiring()

    def _note_changes(
        self, kiosk_id: str, before: dict[str, Any] | None, hb: Heartbeat, now: datetime
    ) -> None:
        """Events for the timeline: first contact, back after being offline, config applied
        or refused. Routine heartbeats are not events (the history keeps them)."""
        if before is None:
            self.hub_db.events.event("heartbeat_first", kiosk_id, app=hb.ver.app, cfg=hb.ver.cfg)
            return
        gap = (now - before["received_at"]).total_seconds()
        if gap > self.cfg.offline_after_s:
            self.hub_db.events.event("back_online", kiosk_id, offline_s=round(gap))
        prev = before["body"]
        if hb.ver.cfg != (prev.get("ver") or {}).get("cfg"):
            self.hub_db.events.event("config_running", kiosk_id, version=hb.ver.cfg)
        if hb.cfg_err and hb.cfg_err != prev.get("cfg_err"):
            self.hub_db.events.event("config_refused", kiosk_id, reason=hb.cfg_err)
        if hb.ver.app != (prev.get("ver") or {}).get("app"):
            self.hub_db.events.event("app_version", kiosk_id, version=hb.ver.app)

    def state_of(self, latest: dict[str, Any] | None, now: datetime) -> str:
        if latest is None:
            return STATE_NEVER
        age = (now - latest["received_at"]).total_seconds()
        if age > self.cfg.offline_after_s:
            return STATE_OFFLINE
        if age > self.cfg.late_after * latest["interval_s"]:
            return STATE_LATE
        return STATE_OK

    def devices(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every enrolled kiosk with its latest heartbeat and its state (ok/late/offline/
        never): what ``sohoa hub device list`` and the admin page show."""
        now = now or now_utc()
        latest = self.db.latest()
        out = []
        for dev in self.hub_db.devices.list_devices():
            hb = latest.get(dev["kiosk_id"])
            body = hb["body"] if hb else {}
            out.append(
                {
                    **dev,
                    "state": self.state_of(hb, now),
                    "last_heartbeat_at": hb["received_at"] if hb else None,
                    "versions": body.get("ver"),
                    "upload_queue": body.get("upq"),
                    "export_queue": body.get("exq"),
                    "disk": body.get("disk"),
                    "devices": body.get("dev"),
                    "pages_today": body.get("pages"),
                    "clock_offset_s": body.get("clk"),
                    "errors": body.get("errs"),
                    "config_error": body.get("cfg_err"),
                }
            )
        return out

    def prune(self, now: datetime | None = None) -> int:
        """Drop heartbeat history older than ``history_days``."""
        now = now or now_utc()
        return self.db.prune_history(now - timedelta(days=self.cfg.history_days))

    # --- health of the hub itself ---------------------------------------------------------

    def healthz(self) -> tuple[bool, dict[str, Any]]:
        """Database and object storage reachable, and the hub's version (for monitoring)."""
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            version = dist_version("sohoa")
        except PackageNotFoundError:  # a source checkout without installation
            version = "unknown"
        checks: dict[str, Any] = {}
        try:
            self.db.ping()
            checks["database"] = "ok"
        except Exception as exc:  # any failure is the answer here
            checks["database"] = f"error: {type(exc).__name__}: {exc}"
        try:
            if self.store is None:
                raise RuntimeError("no object store configured")
            self.store.has("healthz/probe")
            checks["storage"] = "ok"
        except Exception as exc:
            checks["storage"] = f"error: {type(exc).__name__}: {exc}"
        ok = all(v == "ok" for v in checks.values())
        return ok, {"status": "ok" if ok else "degraded", "version": version, **checks}
