"""Rollouts driven through the service, as the heartbeat route and the CLI drive it.

The fleet is real rows in the hub's SQLite database (3,300 active kiosks in four groups);
outcomes arrive as the heartbeat's ``upd`` field, through :meth:`FleetService.heartbeat`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provisioning.fleet_schemas import Disk, Heartbeat, UpdateReport, Versions
from provisioning.hub.db import devices
from provisioning.hub.fleet import FleetService
from provisioning.hub.fleet_config import FleetConfig
from provisioning.hub.hub_db import HubDB
from provisioning.hub.rollouts import (
    ABORTED,
    ACTIVE,
    COMPLETED,
    PAUSED,
    Wave,
    parse_waves,
    wave_position,
)

T0 = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # 23:00 in Hà Nội
NEW = {"version": "1.2.0", "target": "releases/sohoa-1.2.0.tar", "sha256": "a" * 64, "length": 4096}
OLD = {"version": "1.1.0", "target": "releases/sohoa-1.1.0.tar", "sha256": "b" * 64, "length": 4000}
WAVES = [Wave(1, 600, 0.9, 0.05), Wave(10, 600, 0.9, 0.05), Wave(50, 600), Wave(100, 600)]


def add_devices(db: HubDB, n: int, groups: tuple[str, ...] = ("g0", "g1", "g2", "g3")) -> list[str]:
    ids = [f"kiosk-{i:05d}" for i in range(n)]
    with db.database.tx() as conn:
        conn.execute(
            devices.insert(),
            [
                {
                    "kiosk_id": k,
                    "group": groups[i % len(groups)],
                    "status": "active",
                    "enrolled_at": T0,
                }
                for i, k in enumerate(ids)
            ],
        )
    return ids


@pytest.fixture
def fleet(tmp_path: Path) -> FleetService:
    db = HubDB(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    db.create_schema()
    return FleetService(FleetConfig(), db)


def beat(fleet: FleetService, kiosk: str, now: datetime, *reports: UpdateReport):
    hb = Heartbeat(
        at=now.isoformat(), ver=Versions(app="1.1.0"), disk=Disk(free=1, total=2), upd=list(reports)
    )
    return fleet.heartbeat(kiosk, hb, now)


def test_membership_is_deterministic_and_grows_stably(fleet: FleetService) -> None:
    ids = add_devices(fleet.hub_db, 1000)
    assert wave_position("ro-x", "kiosk-1") == wave_position("ro-x", "kiosk-1")
    assert wave_position("ro-x", "kiosk-1") != wave_position("ro-y", "kiosk-1")
    rid = fleet.rollouts.create(NEW, waves=WAVES, now=T0)
    st = fleet.rollouts.status(rid, T0)
    sets = []
    for w in st["wave_status"]:
        sets.append(
            {
                k
                for pos, k in fleet.rollouts.members(fleet.rollouts.get(rid))
                if pos < w["percent"] / 100
            }
        )
    for small, big in zip(sets, sets[1:], strict=False):
        assert small < big  # a kiosk of wave k is in every later wave
    assert sets[-1] == set(ids)
    assert [len(s) for s in sets[:3]] == [w["size"] for w in st["wave_status"][:3]]
    assert 2 <= len(sets[0]) <= 25 and 60 <= len(sets[1]) <= 140  # ~1 %, ~10 % of 1,000
    # Only wave-1 kiosks are offered the release, and the answer names the TUF target.
    offered = {k for k in ids if beat(fleet, k, T0).rel is not None}
    assert offered == sets[0]
    rel = beat(fleet, next(iter(sets[0])), T0).rel
    assert rel is not None and (rel.version, rel.target, rel.sha256, rel.length, rel.rollout) == (
        "1.2.0",
        NEW["target"],
        NEW["sha256"],
        4096,
        rid,
    )


def test_only_committed_counts_and_soak_gates_the_advance(fleet: FleetService) -> None:
    # 2,000 kiosks: the 1 % wave of a random rollout id is empty with probability 0.99^n
    # (1.8 % with 400, which failed once; 2e-9 with 2,000).
    add_devices(fleet.hub_db, 2000)
    rid = fleet.rollouts.create(NEW, waves=WAVES, now=T0)
    wave1 = [k for pos, k in fleet.rollouts.members(fleet.rollouts.get(rid)) if pos < 0.01]
    assert wave1
    for k in wave1:  # downloading (or reports before the gate) are not successes
        beat(fleet, k, T0, UpdateReport(version="1.2.0", outcome="downloading"))
    assert fleet.rollouts.evaluate(rid, T0 + timedelta(hours=2)) == ACTIVE
    assert fleet.rollouts.get(rid)["wave"] == 0
    for k in wave1:
        beat(
            fleet, k, T0 + timedelta(seconds=60), UpdateReport(version="1.2.0", outcome="committed")
        )
    assert fleet.rollouts.get(rid)["wave"] == 0  # soak time not over yet
    later = T0 + timedelta(seconds=700)
    fleet.rollouts.evaluate_all(later)
    ro = fleet.rollouts.get(rid)
    assert ro["wave"] == 1 and ro["wave_started_at"] == later
    st = fleet.rollouts.status(rid, later)["wave_status"]
    assert st[0]["committed"] == len(wave1) and st[0]["pending"] == 0
    # A report for a release no rollout knows is ignored, not counted.
    assert fleet.rollouts.record(wave1[0], UpdateReport(version="9.9", outcome="committed")) is None
    # An outcome this hub does not know (a newer agent) is ignored, not counted or refused.
    assert (
        fleet.rollouts.record(wave1[0], UpdateReport(version="1.2.0", outcome="exploded")) is None
    )
    assert fleet.rollouts.status(rid)["wave_status"][0]["committed"] == len(wave1)
    assert [e["detail"]["wave"] for e in fleet.hub_db.events.events("rollout_advanced")] == [2]


def run_waves_1_and_2(
    fleet: FleetService, rid: str, fail_share: float
) -> tuple[list[str], list[str]]:
    """Wave 1 commits, soaks, advances; then ``fail_share`` of wave 2 rolls back."""
    members = fleet.rollouts.members(fleet.rollouts.get(rid))
    wave1 = [k for pos, k in members if pos < 0.01]
    wave2 = [k for pos, k in members if pos < 0.10]
    for k in wave1:
        beat(fleet, k, T0, UpdateReport(version="1.2.0", outcome="committed"))
    fleet.rollouts.evaluate_all(T0 + timedelta(seconds=601))
    assert fleet.rollouts.get(rid)["wave"] == 1
    new = [k for k in wave2 if k not in wave1]
    failing = new[: math.ceil(fail_share * len(wave2))]
    t = T0 + timedelta(seconds=700)
    for k in new:
        if k in failing:
            beat(
                fleet,
                k,
                t,
                UpdateReport(version="1.2.0", outcome="rolled_back", reason="selftest failed: ocr"),
            )
        else:
            beat(fleet, k, t, UpdateReport(version="1.2.0", outcome="committed"))
    return wave2, failing


def test_3300_kiosks_5_percent_of_wave_2_roll_back_pauses_then_resume_and_abort(
    fleet: FleetService,
) -> None:
    ids = add_devices(fleet.hub_db, 3300)
    rid = fleet.rollouts.create(NEW, previous=OLD, waves=WAVES, now=T0)
    wave2, failing = run_waves_1_and_2(fleet, rid, 0.05)
    assert len(wave2) > 250 and len(failing) >= 0.05 * len(wave2) - 1
    ro = fleet.rollouts.get(rid)
    assert ro["state"] == PAUSED and "rolled back in wave 2" in ro["reason"]
    paused = fleet.hub_db.events.events("rollout_paused")
    assert len(paused) == 1 and paused[0]["detail"]["by"] == "hub"
    st = fleet.rollouts.status(rid)
    w2 = st["wave_status"][1]
    assert (w2["rolled_back"], w2["committed"]) == (len(failing), len(wave2) - len(failing))
    assert st["rollback_reasons"] == [("selftest failed: ocr", len(failing))]
    # Paused: no kiosk outside the waves so far is offered the release.
    outside = [k for k in ids if k not in wave2]
    assert all(beat(fleet, k, T0 + timedelta(seconds=800)).rel is None for k in outside[:200])
    # A rolled-back kiosk is not offered it again; a committed one keeps its assignment.
    assert beat(fleet, failing[0], T0 + timedelta(seconds=800)).rel is None
    ok = next(k for k in wave2 if k not in failing)
    assert beat(fleet, ok, T0 + timedelta(seconds=800)).rel.version == "1.2.0"
    # Resume: the failures before it are acknowledged; the wave soaks and advances.
    fleet.rollouts.resume(rid, by="it@so", now=T0 + timedelta(seconds=900))
    assert fleet.rollouts.get(rid)["state"] == ACTIVE
    fleet.rollouts.evaluate_all(T0 + timedelta(seconds=1000))
    assert fleet.rollouts.get(rid)["wave"] == 1  # soak of wave 2 not over yet
    fleet.rollouts.evaluate_all(T0 + timedelta(seconds=1400))
    assert fleet.rollouts.get(rid)["wave"] == 2  # 95 % committed >= 90 %, soaked
    wave3 = [k for pos, k in fleet.rollouts.members(fleet.rollouts.get(rid)) if pos < 0.5]
    fresh = next(k for k in wave3 if k not in wave2)
    assert beat(fleet, fresh, T0 + timedelta(seconds=1500)).rel.version == "1.2.0"
    # Abort: those that took part get the previous release back, the others nothing.
    fleet.rollouts.abort(rid, by="it@so", reason="OCR crash")
    assert fleet.rollouts.get(rid)["state"] == ABORTED
    back = beat(fleet, ok, T0 + timedelta(seconds=1600)).rel
    assert back is not None and (back.version, back.sha256) == ("1.1.0", "b" * 64)
    assert beat(fleet, outside[-1], T0 + timedelta(seconds=1600)).rel is None
    kinds = [e["kind"] for e in fleet.hub_db.events.events() if e["kind"].startswith("rollout_")]
    assert kinds == [
        "rollout_created",
        "rollout_advanced",
        "rollout_paused",
        "rollout_resumed",
        "rollout_advanced",
        "rollout_aborted",
    ]
    with pytest.raises(Exception, match="aborted"):
        fleet.rollouts.resume(rid)


def test_below_the_failure_threshold_it_keeps_going(fleet: FleetService) -> None:
    add_devices(fleet.hub_db, 3300)
    rid = fleet.rollouts.create(NEW, waves=WAVES, now=T0)
    run_waves_1_and_2(fleet, rid, 0.02)
    assert fleet.rollouts.get(rid)["state"] == ACTIVE


def test_outside_the_maintenance_window_no_offer(fleet: FleetService) -> None:
    ids = add_devices(fleet.hub_db, 200, groups=("night", "day"))
    rid = fleet.rollouts.create(NEW, waves=[Wave(100, 0)], now=T0)
    fleet.rollouts.set_window("night", "22:00-05:00", "Asia/Ho_Chi_Minh")
    night, day = ids[0], ids[1]
    noon = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # 12:00 in Hà Nội
    assert beat(fleet, night, noon).rel is None
    assert beat(fleet, day, noon).rel.rollout == rid  # a group without a window: any time
    assert beat(fleet, night, T0).rel.rollout == rid  # 23:00 local: inside
    assert beat(fleet, night, datetime(2026, 12, 1, 21, 59, tzinfo=UTC)).rel is not None  # 04:59
    assert beat(fleet, night, datetime(2026, 12, 1, 22, 0, tzinfo=UTC)).rel is None  # 05:00
    fleet.rollouts.set_window("night", None)
    assert beat(fleet, night, noon).rel is not None


def test_target_groups_tags_and_named_kiosks(fleet: FleetService) -> None:
    ids = add_devices(fleet.hub_db, 40)
    fleet.rollouts.set_tags(ids[1], {"pilot"})
    rid = fleet.rollouts.create(
        NEW, groups=["g2"], tags=["pilot"], kiosks=[ids[3]], waves=[Wave(100, 0)], now=T0
    )
    offered = {k for k in ids if beat(fleet, k, T0).rel is not None}
    assert offered == {k for i, k in enumerate(ids) if i % 4 == 2} | {ids[1], ids[3]}
    assert fleet.rollouts.status(rid)["targeted"] == len(offered)


def test_advance_by_hand_completes_and_bad_input_is_refused(fleet: FleetService) -> None:
    add_devices(fleet.hub_db, 50)
    rid = fleet.rollouts.create(NEW, waves=parse_waves("10:1h,100:1h"), now=T0)
    fleet.rollouts.pause(rid, by="it")
    fleet.rollouts.advance(rid, by="it")
    ro = fleet.rollouts.get(rid)
    assert (ro["wave"], ro["state"]) == (1, PAUSED)
    fleet.rollouts.resume(rid, by="it")
    assert fleet.rollouts.advance(rid, by="it") == COMPLETED
    for bad in ("0,100", "50,10", "10,50", "x:1h"):
        with pytest.raises(Exception, match="100|Waves"):
            fleet.rollouts.create(NEW, waves=parse_waves(bad))
    with pytest.raises(Exception, match="SHA-256"):
        fleet.rollouts.create({**NEW, "sha256": "zz"})
    with pytest.raises(Exception, match="22:00-05:00"):
        fleet.rollouts.set_window("g0", "25:00-01:00")


def test_old_heartbeats_without_upd_still_validate() -> None:
    hb = Heartbeat.model_validate_json(
        '{"at":"2026-12-01T00:00:00Z","ver":{"app":"1.0"},"disk":{"free":1,"total":2}}'
    )
    assert hb.upd == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def any_db_fleet(request, tmp_path: Path) -> FleetService:
    url = (
        f"sqlite:///{tmp_path / 'hub.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    db = HubDB(url)
    db.create_schema()
    fleet = FleetService(FleetConfig(), db)
    FleetService(FleetConfig(), db)  # a second start (or replica) finds the tables there
    return fleet


def test_pause_resume_abort_on_sqlite_and_postgresql(any_db_fleet: FleetService) -> None:
    fleet = any_db_fleet
    ids = add_devices(fleet.hub_db, 60)
    rid = fleet.rollouts.create(NEW, previous=OLD, waves=[Wave(100, 0, 0.9, 0.1)], now=T0)
    for k in ids[:6]:
        beat(fleet, k, T0, UpdateReport(version="1.2.0", outcome="rolled_back", reason="crash"))
    assert fleet.rollouts.get(rid)["state"] == PAUSED  # 6/60 = 10 %
    fleet.rollouts.resume(rid, now=T0 + timedelta(seconds=5))
    for k in ids[6:]:
        beat(
            fleet, k, T0 + timedelta(seconds=9), UpdateReport(version="1.2.0", outcome="committed")
        )
    assert fleet.rollouts.get(rid)["state"] == COMPLETED
    fleet.rollouts.abort(rid)
    assert beat(fleet, ids[10], T0 + timedelta(seconds=20)).rel.version == "1.1.0"
    assert beat(fleet, ids[0], T0 + timedelta(seconds=20)).rel is None


def test_refused_before_download_counts_as_a_failure_and_is_not_offered_again(
    fleet: FleetService,
) -> None:
    ids = add_devices(fleet.hub_db, 20)
    rid = fleet.rollouts.create(NEW, waves=[Wave(100, 0, 0.9, 0.1)], now=T0)
    assert beat(fleet, ids[0], T0).rel.version == "1.2.0"
    why = "Release 1.2.0 assigned by the hub is refused before download: not signed"
    beat(fleet, ids[0], T0, UpdateReport(version="1.2.0", outcome="refused", reason=why))
    st = fleet.rollouts.status(rid, T0)
    assert st["wave_status"][0]["refused"] == 1 and st["wave_status"][0]["pending"] == 19
    assert st["rollback_reasons"] == [(why, 1)]
    assert beat(fleet, ids[0], T0 + timedelta(seconds=1)).rel is None  # never offered again
    assert fleet.rollouts.get(rid)["state"] == ACTIVE  # 1/20 = 5 % < 10 %
    beat(fleet, ids[1], T0, UpdateReport(version="1.2.0", outcome="refused", reason=why))
    assert fleet.rollouts.get(rid)["state"] == PAUSED  # 2/20 reaches the threshold
    # a later outcome does not undo a refusal (final, like committed and rolled_back)
    beat(fleet, ids[1], T0, UpdateReport(version="1.2.0", outcome="downloading"))
    assert fleet.rollouts.status(rid, T0)["wave_status"][0]["refused"] == 2


def test_the_first_wave_of_a_small_target_is_never_empty(fleet: FleetService) -> None:
    """A 1 % wave of ten kiosks held nobody nine times in ten: the kiosk with the lowest
    position opens it, and a broken release meets the fleet there first."""
    ids = add_devices(fleet.hub_db, 10)
    for _ in range(5):  # five rollouts, five random ids
        rid = fleet.rollouts.create(NEW, waves=WAVES, now=T0)
        first = fleet.rollouts.get(rid)["target"]["first"]
        offered = [k for k in ids if beat(fleet, k, T0).rel is not None]
        assert offered == [first]
        wave1 = fleet.rollouts.status(rid, T0)["wave_status"][0]
        assert wave1["size"] == 1
        fleet.rollouts.abort(rid, by="it")
