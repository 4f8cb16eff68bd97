"""Staged release rollouts on the hub, without HTTP: who is offered which release, when.

A rollout is a release (version and its TUF target: name, SHA-256, length; the release role
that signs it is offline, so the hub assigns releases but cannot make one), a target
(groups, tags or named kiosks) and waves, each with a share of the target, a minimum soak
time and success / failure thresholds.

Membership is deterministic and stable as the share grows: a kiosk's number in [0, 1) is the
SHA-256 of rollout id and kiosk id (:func:`wave_position`), and wave k holds the kiosks whose
number is below its share, so a kiosk in wave k is in every later wave, and a second rollout
of the same fleet draws a different first 1 %. The kiosk with the lowest number when the
rollout is created opens the first wave (:func:`position`), so no wave is empty.

A wave counts only ``committed`` reports: the kiosk sends that after its local health gate
(hawkBit counts reports made before the reboot, which says nothing). ``rolled_back``
reports count as failures with their reason; once they reach the wave's failure threshold
the rollout pauses itself (event ``rollout_paused``, ``by="hub"``). Failures counted for
that are only those received since the last resume, so an administrator who resumes has
acknowledged the ones before. The current wave advances by itself once its soak time has
passed and its success threshold is met (:meth:`RolloutService.evaluate`, called after
each report and periodically). Abort assigns the previous release back to the kiosks that
took part.

A group may have a maintenance window (local time, may span midnight): the hub offers a
release to a kiosk only inside its group's window.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from provisioning.fleet_schemas import UPDATE_OUTCOMES, ReleaseOffer, UpdateReport
from provisioning.hub.db import now_utc
from provisioning.hub.refusals import Refusal
from provisioning.hub.rollouts_db import RolloutDB
from provisioning.schemas import is_sha256_hex

if TYPE_CHECKING:
    from provisioning.hub.hub_db import HubDB

log = logging.getLogger("sohoa.hub.rollouts")

ACTIVE, PAUSED, ABORTED, COMPLETED = "active", "paused", "aborted", "completed"
STATES = frozenset({ACTIVE, PAUSED, ABORTED, COMPLETED})
#: Rollouts that may still offer something to a kiosk (newest first wins).
OFFERING = frozenset({ACTIVE, PAUSED, COMPLETED, ABORTED})
DEFAULT_TZ = "Asia/Ho_Chi_Minh"
#: Outcomes that count toward a wave's failure threshold: rolled back after the health gate,
#: or refused before download (the artifact is not signed by the release role).
FAILED = frozenset({"rolled_back", "refused"})
EVALUATE_EVERY_S = 60.0


@dataclass(frozen=True)
class Wave:
    """``percent`` of the target; advance after ``soak_s`` once ``success`` (share of the
    wave committed) is met; pause once ``failure`` (share rolled back) is reached."""

    percent: float
    soak_s: float = 3600.0
    success: float = 0.95
    failure: float = 0.05


DEFAULT_WAVES = (Wave(1), Wave(10), Wave(50), Wave(100))


def position(ro: dict[str, Any], kiosk_id: str) -> float:
    """The kiosk's place in rollout ``ro``: 0 for the kiosk chosen at creation to open the
    first wave (``target["first"]``), else its :func:`wave_position`."""
    if kiosk_id == ro["target"].get("first"):
        return 0.0
    return wave_position(ro["id"], kiosk_id)


def wave_position(rollout_id: str, kiosk_id: str) -> float:
    """The kiosk's stable number in [0, 1) for this rollout (64 bits of SHA-256)."""
    digest = hashlib.sha256(f"{rollout_id}\x00{kiosk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class RolloutError(Refusal):
    """A refused rollout request (the CLI and the admin page show both languages)."""


def _err(code: str, en: str, vi: str, status: int = 400) -> RolloutError:
    return RolloutError(code, en, vi, status)


def parse_waves(spec: str) -> list[Wave]:
    """``"1:1h,10:2h,50,100"``: percent, optionally ``:soak`` (s, m, h, d; default 1 h)."""
    waves = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        pct, _, soak = part.partition(":")
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", soak.strip() or "1h")
        try:
            percent = float(pct)
        except ValueError:
            percent = -1.0
        if m is None or not 0 < percent <= 100:
            raise _err(
                "rollout_bad_waves",
                f"Waves look like 1:1h,10:2h,50,100 (percent[:soak]); got {part!r}.",
                f"Các đợt có dạng 1:1h,10:2h,50,100 (phần trăm[:thời gian chờ]); "
                f"nhận được {part!r}.",
            )
        scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        waves.append(Wave(percent, float(m.group(1)) * scale))
    return waves


def _check_waves(waves: list[Wave]) -> None:
    pcts = [w.percent for w in waves]
    ok = bool(waves) and pcts == sorted(set(pcts)) and pcts[-1] == 100 and pcts[0] > 0
    ok = ok and all(0 <= w.success <= 1 and 0 < w.failure <= 1 and w.soak_s >= 0 for w in waves)
    if not ok:
        raise _err(
            "rollout_bad_waves",
            "Waves must grow strictly, end at 100 %, and thresholds lie between 0 and 1.",
            "Các đợt phải tăng dần, đợt cuối là 100 %, ngưỡng nằm trong khoảng 0 đến 1.",
        )


def parse_window(spec: str) -> tuple[str, str]:
    """``"22:00-05:00"`` -> ("22:00", "05:00") (end before start spans midnight)."""
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)", spec.strip())
    if m is None:
        raise _err(
            "window_bad",
            f"A maintenance window looks like 22:00-05:00; got {spec!r}.",
            f"Khung giờ bảo trì có dạng 22:00-05:00; nhận được {spec!r}.",
        )
    return f"{m.group(1)}:{m.group(2)}", f"{m.group(3)}:{m.group(4)}"


def in_window(window: dict[str, str] | None, now: datetime) -> bool:
    """Whether ``now`` (aware) falls in the window; no window means always."""
    if window is None:
        return True
    local = now.astimezone(ZoneInfo(window["tz"])).time()
    start, end = time.fromisoformat(window["start"]), time.fromisoformat(window["end"])
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def _matches(target: dict[str, Any], device: dict[str, Any]) -> bool:
    """A kiosk is targeted when it is named, or in a named group, or has a named tag; a
    target naming nothing is the whole fleet."""
    groups, tags, kiosks = target.get("groups"), target.get("tags"), target.get("kiosks")
    if not (groups or tags or kiosks):
        return True
    return (
        device["kiosk_id"] in (kiosks or [])
        or device["group"] in (groups or [])
        or bool(set(tags or []) & set(device["tags"]))
    )


class RolloutService:
    """Rollouts in the hub database (``hub_db``), which also writes their audit events."""

    def __init__(self, hub_db: HubDB):
        self.db = RolloutDB(hub_db.engine, hub_db.reads)
        self.db.create_schema()
        self.hub_db = hub_db

    # --- creating and reading -------------------------------------------------------------

    def create(
        self,
        release: dict[str, Any],
        *,
        groups: list[str] | None = None,
        tags: list[str] | None = None,
        kiosks: list[str] | None = None,
        waves: list[Wave] | None = None,
        previous: dict[str, Any] | None = None,
        by: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """A new active rollout at its first wave; its id."""
        now = now or now_utc()
        waves = list(waves or DEFAULT_WAVES)
        _check_waves(waves)
        for rel in (release, previous):
            if rel is None:
                continue
            if not (
                rel.get("version")
                and rel.get("target")
                and is_sha256_hex(str(rel.get("sha256", "")))
                and isinstance(rel.get("length"), int)
                and rel["length"] > 0
            ):
                raise _err(
                    "rollout_bad_release",
                    "A release needs a version, its TUF target name, SHA-256 (64 hex) and length.",
                    "Bản phát hành cần số phiên bản, tên tệp TUF, SHA-256 (64 ký tự hex) và "
                    "độ dài.",
                )
        rollout_id = f"ro-{now:%Y%m%d}-{secrets.token_hex(3)}"
        target: dict[str, Any] = {
            "groups": groups or [],
            "tags": tags or [],
            "kiosks": kiosks or [],
        }
        # The targeted kiosk with the lowest position belongs to the first wave whatever its
        # share: a 1 % or 10 % wave of a small target (a district, the demo's ten kiosks)
        # otherwise held nobody about as often as not, and a broken release first met the
        # fleet in a later, bigger wave.
        first = self.members({"id": rollout_id, "target": target})
        target["first"] = first[0][1] if first else None
        self.db.insert(
            {
                "id": rollout_id,
                "release": release,
                "previous": previous,
                "target": target,
                "waves": [asdict(w) for w in waves],
                "wave": 0,
                "state": ACTIVE,
                "wave_started_at": now,
                "created_at": now,
                "created_by": by,
            }
        )
        self.hub_db.events.event(
            "rollout_created",
            None,
            rollout=rollout_id,
            version=release["version"],
            by=by,
            target=target,
            waves=[w.percent for w in waves],
        )
        return rollout_id

    def get(self, rollout_id: str) -> dict[str, Any]:
        ro = self.db.get(rollout_id)
        if ro is None:
            raise _err(
                "rollout_unknown",
                f"No rollout {rollout_id!r}.",
                f"Không có đợt triển khai {rollout_id!r}.",
                status=404,
            )
        return ro

    def members(self, ro: dict[str, Any]) -> list[tuple[float, str]]:
        """(position, kiosk id) of every targeted active kiosk, by position."""
        return sorted(
            (position(ro, d["kiosk_id"]), d["kiosk_id"])
            for d in self.db.active_devices()
            if _matches(ro["target"], d)
        )

    def status(self, rollout_id: str, now: datetime | None = None) -> dict[str, Any]:
        """The rollout with per-wave counts (a kiosk in wave k is counted in every later
        wave too): members, committed, rolled back, downloading, pending; and the reasons
        of rollbacks. What ``rollout show`` and the admin page display."""
        now = now or now_utc()
        ro = self.get(rollout_id)
        members = self.members(ro)
        outcomes = self.db.outcomes(rollout_id)
        waves = []
        for i, w in enumerate(ro["waves"]):
            ids = [k for pos, k in members if pos < w["percent"] / 100]
            counts = {o: 0 for o in UPDATE_OUTCOMES}
            for k in ids:
                o = outcomes.get(k)
                if o is not None:
                    counts[o["outcome"]] += 1
            waves.append(
                {
                    **w,
                    "index": i,
                    "size": len(ids),
                    "committed": counts["committed"],
                    "rolled_back": counts["rolled_back"],
                    "refused": counts["refused"],
                    "downloading": counts["downloading"],
                    "pending": len(ids)
                    - counts["committed"]
                    - counts["rolled_back"]
                    - counts["refused"],
                    "current": i == ro["wave"],
                    "reached": i <= ro["wave"],
                }
            )
        reasons: dict[str, int] = {}
        for o in outcomes.values():
            if o["outcome"] in FAILED:
                reason = o["reason"] or "(không rõ / unknown)"
                reasons[reason] = reasons.get(reason, 0) + 1
        soaked = (now - ro["wave_started_at"]).total_seconds()
        return {
            **ro,
            "targeted": len(members),
            "wave_status": waves,
            "rollback_reasons": sorted(reasons.items(), key=lambda kv: -kv[1]),
            "soaked_s": soaked,
        }

    def list(self) -> list[dict[str, Any]]:
        return self.db.all()

    # --- reports from kiosks --------------------------------------------------------------

    def record(
        self, kiosk_id: str, report: UpdateReport, now: datetime | None = None
    ) -> str | None:
        """Keep one kiosk's outcome for the newest rollout of that version; the rollout id,
        or None when no rollout is about it (a kiosk updated by hand) or the outcome is
        unknown (a newer agent; ignored, not refused). Evaluates the rollout after news."""
        now = now or now_utc()
        if report.outcome not in UPDATE_OUTCOMES:
            return None
        ro = next((r for r in self.db.all() if r["release"]["version"] == report.version), None)
        if ro is None:
            return None
        reason = (report.reason or "")[:500] or None
        if self.db.record_outcome(ro["id"], kiosk_id, report.outcome, reason, now):
            if report.outcome != "downloading":
                self.hub_db.events.event(
                    f"update_{report.outcome}",
                    kiosk_id,
                    rollout=ro["id"],
                    version=report.version,
                    reason=reason,
                )
            self.evaluate(ro["id"], now)
        return str(ro["id"])

    # --- automatic progress ---------------------------------------------------------------

    def evaluate(self, rollout_id: str, now: datetime | None = None) -> str:
        """Pause on the current wave's failure threshold, advance when its soak time has
        passed and its success threshold is met; the state after."""
        now = now or now_utc()
        ro = self.get(rollout_id)
        if ro["state"] != ACTIVE:
            return str(ro["state"])
        wave = ro["waves"][ro["wave"]]
        members = [k for pos, k in self.members(ro) if pos < wave["percent"] / 100]
        outcomes = self.db.outcomes(rollout_id)
        since = ro.get("resumed_at")
        failed = [
            k
            for k in members
            if (o := outcomes.get(k)) is not None
            and o["outcome"] in FAILED
            and (since is None or o["at"] > since)
        ]
        if members and len(failed) / len(members) >= wave["failure"]:
            n, share = f"{len(failed)}/{len(members)}", f"{wave['failure']:.0%}"
            reason = (
                f"{n} máy quay lại bản cũ ở đợt {ro['wave'] + 1} (ngưỡng {share}) / "
                f"{n} rolled back in wave {ro['wave'] + 1} (threshold {share})"
            )
            if self.db.update(rollout_id, frozenset({ACTIVE}), state=PAUSED, reason=reason):
                self.hub_db.events.event(
                    "rollout_paused", None, rollout=rollout_id, by="hub", reason=reason
                )
                log.warning("rollout %s paused itself: %s", rollout_id, reason)
            return PAUSED
        committed = sum(1 for k in members if (outcomes.get(k) or {}).get("outcome") == "committed")
        soaked = (now - ro["wave_started_at"]).total_seconds() >= wave["soak_s"]
        met = not members or committed / len(members) >= wave["success"]
        if soaked and met:
            return self._next_wave(ro, now, by="hub")
        return ACTIVE

    def evaluate_all(self, now: datetime | None = None) -> None:
        for ro in self.db.all(frozenset({ACTIVE})):
            self.evaluate(ro["id"], now)

    def _next_wave(self, ro: dict[str, Any], now: datetime, by: str | None) -> str:
        last = ro["wave"] + 1 >= len(ro["waves"])
        values: dict[str, Any] = (
            {"state": COMPLETED} if last else {"wave": ro["wave"] + 1, "wave_started_at": now}
        )
        if not self.db.update(ro["id"], frozenset({ro["state"]}), **values):
            return str(self.get(ro["id"])["state"])
        if last:
            self.hub_db.events.event("rollout_completed", None, rollout=ro["id"], by=by)
            return COMPLETED
        self.hub_db.events.event(
            "rollout_advanced", None, rollout=ro["id"], wave=ro["wave"] + 2, by=by
        )
        return str(ro["state"])

    # --- administrators -------------------------------------------------------------------

    def _change(
        self, rollout_id: str, expect: frozenset[str], kind: str, by: str | None, **values: Any
    ) -> None:
        ro = self.get(rollout_id)
        if ro["state"] not in expect or not self.db.update(rollout_id, expect, **values):
            raise _err(
                "rollout_state",
                f"Rollout {rollout_id} is {ro['state']}; cannot {kind.removeprefix('rollout_')}.",
                f"Đợt triển khai {rollout_id} đang ở trạng thái {STATE_VI[ro['state']]}; "
                f"không thể {ACTION_VI[kind]}.",
                status=409,
            )
        self.hub_db.events.event(
            kind,
            None,
            rollout=rollout_id,
            by=by,
            **{k: v for k, v in values.items() if k == "reason"},
        )

    def pause(self, rollout_id: str, by: str | None = None, reason: str = "") -> None:
        self._change(
            rollout_id,
            frozenset({ACTIVE}),
            "rollout_paused",
            by,
            state=PAUSED,
            reason=reason or f"paused by {by or 'admin'}",
        )

    def resume(self, rollout_id: str, by: str | None = None, now: datetime | None = None) -> None:
        """Active again; rollbacks received before now no longer count toward the pause."""
        self._change(
            rollout_id,
            frozenset({PAUSED}),
            "rollout_resumed",
            by,
            state=ACTIVE,
            reason=None,
            resumed_at=now or now_utc(),
        )

    def advance(self, rollout_id: str, by: str | None = None, now: datetime | None = None) -> str:
        """The next wave now, whatever the soak time and thresholds say (kept paused if it
        was paused)."""
        ro = self.get(rollout_id)
        if ro["state"] not in (ACTIVE, PAUSED):
            self._change(rollout_id, frozenset({ACTIVE, PAUSED}), "rollout_advanced", by)
        return self._next_wave(ro, now or now_utc(), by=by or "admin")

    def abort(self, rollout_id: str, by: str | None = None, reason: str = "") -> None:
        """Stop offering the release; kiosks that took part are offered the previous one."""
        self._change(
            rollout_id,
            frozenset({ACTIVE, PAUSED, COMPLETED}),
            "rollout_aborted",
            by,
            state=ABORTED,
            reason=reason or f"aborted by {by or 'admin'}",
        )

    # --- what a kiosk is offered ----------------------------------------------------------

    def offer_for(self, kiosk_id: str, now: datetime | None = None) -> ReleaseOffer | None:
        """The release this kiosk should run now, or None (nothing assigned, or outside its
        group's maintenance window). The newest rollout that says something wins."""
        now = now or now_utc()
        offering = self.db.all(OFFERING)
        if not offering:  # the usual heartbeat: no rollout running, one query
            return None
        device = self.db.device(kiosk_id)
        if device is None:
            return None
        candidates = [r for r in offering if _matches(r["target"], device)]
        if not candidates or not in_window(self.db.windows().get(device["group"]), now):
            return None
        for ro in candidates:
            rel = self._release_for(ro, kiosk_id)
            if rel is not None:
                return ReleaseOffer(
                    version=rel["version"],
                    target=rel["target"],
                    sha256=rel["sha256"],
                    length=rel["length"],
                    rollout=ro["id"],
                )
        return None

    def _release_for(self, ro: dict[str, Any], kiosk_id: str) -> dict[str, Any] | None:
        outcome = self.db.outcome_of(ro["id"], kiosk_id)
        if outcome in FAILED:
            return None  # the kiosk will not retry it; offering it again is noise
        if ro["state"] == ABORTED:
            return ro["previous"] if outcome is not None else None
        if ro["state"] == COMPLETED:
            return ro["release"]
        if ro["state"] == PAUSED:
            return ro["release"] if outcome is not None else None
        share = ro["waves"][ro["wave"]]["percent"] / 100
        return ro["release"] if position(ro, kiosk_id) < share else None

    # --- maintenance windows and tags ------------------------------------------------------

    def set_window(self, group: str, spec: str | None, tz: str = DEFAULT_TZ) -> None:
        """Offer releases to ``group`` only inside ``spec`` ("22:00-05:00"); None clears."""
        if spec is None:
            self.db.clear_window(group)
            self.hub_db.events.event("window_cleared", None, group=group)
            return
        start, end = parse_window(spec)
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise _err(
                "window_bad_tz", f"Unknown time zone {tz!r}.", f"Múi giờ {tz!r} không có."
            ) from None
        self.db.set_window(group, start, end, tz)
        self.hub_db.events.event("window_set", None, group=group, start=start, end=end, tz=tz)

    def windows(self) -> dict[str, dict[str, str]]:
        return self.db.windows()

    def set_tags(self, kiosk_id: str, tags: set[str]) -> None:
        self.db.set_tags(kiosk_id, tags)
        self.hub_db.events.event("tags_set", kiosk_id, tags=sorted(tags))


#: Vietnamese names of the states and actions (the CLI and the admin page say these).
STATE_VI = {ACTIVE: "đang chạy", PAUSED: "tạm dừng", ABORTED: "đã hủy", COMPLETED: "hoàn tất"}
ACTION_VI = {
    "rollout_paused": "tạm dừng",
    "rollout_resumed": "tiếp tục",
    "rollout_advanced": "chuyển đợt",
    "rollout_aborted": "hủy",
}
