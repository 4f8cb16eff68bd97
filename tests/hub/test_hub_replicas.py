"""Two hub replicas on one hub directory and one database (what ``bench/fleet.py`` runs behind
its balancer): no state that only one of them knows.

Each replica is the hub's own composition (``HubService`` + ``create_app``), as
``python -m provisioning.hub`` builds it; a kiosk's heartbeats reach one or the other (a new
connection after a restart lands on whichever the balancer picks), and what the hub hands
out or records must not depend on which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provisioning.fleet_schemas import Disk, Heartbeat, Versions, kiosk_target
from provisioning.hub.db import now_utc
from provisioning.hub.fleet import FleetService
from provisioning.hub.tuf_repo import ConfigRepository
from tests.support.hub import enroll_kiosks, fleet_hub_dir, hub_app

KIOSK = "xa-0001"
GROUP = "huyen-07"


@pytest.fixture
def replicas(tmp_path: Path):
    hub_dir = fleet_hub_dir(tmp_path, name="replicas")
    a, b = hub_app(hub_dir), hub_app(hub_dir)
    enroll_kiosks(a.state.hub.db, GROUP, [(KIOSK, "0a1b")])
    yield a, b
    for app in (a, b):
        app.state.hub.close()


def beat(app: Any, seq: int) -> Any:
    fleet: FleetService = app.state.fleet
    hb = Heartbeat(
        seq=seq,
        at=now_utc().isoformat(),
        ver=Versions(app="0.1.0", cfg=None),
        disk=Disk(free=1, total=2),
    )
    return fleet.heartbeat(KIOSK, hb)


def kinds(app: Any, kind: str) -> list[dict[str, Any]]:
    return app.state.hub.db.events.events(kind, kiosk_id=KIOSK)


def test_first_heartbeats_on_both_replicas_publish_the_kiosk_document_once(replicas) -> None:
    a, b = replicas
    first, second = beat(a, 1), beat(b, 2)
    assert len(kinds(a, "config_published")) == 1
    assert len(kinds(b, "heartbeat_first")) == 1  # the second replica saw the first's write
    assert first.cfg is not None and second.cfg == first.cfg
    repo: ConfigRepository = b.state.config_repo
    doc = repo.target_document(repo.bin_for(KIOSK), kiosk_target(KIOSK))
    assert doc is not None and doc["group"] == GROUP


def test_a_replica_does_not_replace_settings_published_on_the_other(replicas) -> None:
    a, b = replicas
    repo_a: ConfigRepository = a.state.config_repo
    repo_b: ConfigRepository = b.state.config_repo
    # Replica A found no document for the new kiosk; before it publishes one, an
    # administrator publishes the kiosk's settings through replica B.
    assert repo_a.target_document(repo_a.bin_for(KIOSK), kiosk_target(KIOSK)) is None
    repo_b.publish_kiosk(KIOSK, GROUP, {"ui": {"idle_s": 90}})
    assert repo_a.publish_kiosk_if_missing(KIOSK, GROUP) is False
    doc = repo_a.target_document(repo_a.bin_for(KIOSK), kiosk_target(KIOSK))
    assert doc is not None and doc["settings"] == {"ui": {"idle_s": 90}}
    beat(a, 1)  # and A's heartbeat path leaves it alone too
    assert repo_b.target_document(repo_b.bin_for(KIOSK), kiosk_target(KIOSK)) == doc


def test_a_command_sent_on_one_replica_is_handed_out_by_the_other_until_reported(
    replicas,
) -> None:
    from provisioning.fleet_schemas import CommandResult

    a, b = replicas
    beat(a, 1)
    cmd = a.state.fleet.commands.create(KIOSK, "resync_config", by="it-admin")
    handed = beat(b, 2).cmds
    assert [c["id"] for c in handed] == [cmd["id"]]
    assert b.state.fleet.commands.record_result(
        KIOSK, cmd["id"], CommandResult(status="done", finished_at=now_utc().isoformat())
    )
    assert beat(a, 3).cmds == []
    assert beat(b, 4).cmds == []


@pytest.mark.slow
def test_replicas_starting_together_on_a_fresh_postgresql_all_start(postgres_url: str) -> None:
    """Every table creator of the hub at once, from four processes' worth of threads: the
    second CREATE TABLE of a racing pair used to fail, and that replica died at start."""
    import threading

    from provisioning.hub.fleet_config import FleetConfig
    from provisioning.hub.hub_db import HubDB

    barrier, failures = threading.Barrier(4), []

    def start() -> None:
        db = HubDB(postgres_url)
        try:
            barrier.wait()
            db.create_schema()
            FleetService(FleetConfig(), db)  # fleet, command and rollout tables
        except Exception as exc:  # the failure is the finding
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    db = HubDB(postgres_url)
    try:
        assert db.devices.list_devices() == []  # and the schema is there, once
    finally:
        db.close()
