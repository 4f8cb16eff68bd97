"""The hub's background duties (:mod:`provisioning.hub.periodic`): a failed round is logged
and the next one runs; the app's lifespan starts every duty and cancels them at shutdown."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi.testclient import TestClient

from provisioning.hub.periodic import run_periodically
from tests.support.hub import fleet_hub_dir, hub_app
from tests.support.tasks import run_for


def test_a_failed_round_is_logged_and_the_next_one_runs(caplog) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("database is locked")

    with caplog.at_level(logging.ERROR, logger="sohoa.hub"):
        ended = run_for(lambda: run_periodically(flaky, 0.05, "upload expiry sweep"), 0.4)
    assert ended == ["cancelled"]
    assert len(calls) >= 3  # the failure did not end the duty
    failed = [r for r in caplog.records if "upload expiry sweep failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None


def test_first_at_start_runs_before_the_first_wait() -> None:
    calls: list[int] = []
    run_for(
        lambda: run_periodically(lambda: calls.append(1), 60, "re-signing", first_at_start=True),
        0.3,
    )
    assert calls == [1]
    calls.clear()
    run_for(lambda: run_periodically(lambda: calls.append(1), 60, "sweep"), 0.3)
    assert calls == []


DUTIES = {
    "upload expiry sweep",
    "re-signing fleet metadata",
    "rollout evaluation",
    "checkpoint of the hub database",
}


def test_the_lifespan_runs_every_duty_and_cancels_them(tmp_path: Path) -> None:
    app = hub_app(fleet_hub_dir(tmp_path))
    running: list[asyncio.Task] = []

    @app.get("/__duties")
    async def duties() -> list[str]:
        running.extend(t for t in asyncio.all_tasks() if t.get_name() in DUTIES)
        return sorted(t.get_name() for t in running if not t.done())

    try:
        with TestClient(app) as client:
            assert set(client.get("/__duties").json()) == DUTIES
    finally:
        app.state.hub.close()
    assert running and all(t.cancelled() for t in running)  # the shutdown ended each one
