"""The kiosk service's half of the local interface with the fleet agent, put together once
(the service runs it; agent tests run the same thing in place of a whole kiosk).

Every status round: the agent's audit records are taken into the catalog's log, then the
status file is written with the service's health (``health``: devices, export queue) and
what the agent needs from the catalog; in between, the agent's requests are answered with
``sohoa doctor``'s or ``sohoa selftest``'s checks, run here because they need the catalog
and the devices, which the agent's user may not open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from firmware.fleet.agent_audit import AuditTakeOver
from firmware.fleet.link import STATUS_EVERY_S, StatusPublisher, agent_state_dir, catalog_status
from firmware.store.paths import DataPaths

if TYPE_CHECKING:
    from firmware.config import Settings
    from firmware.store.catalog import Catalog


def doctor_checks(settings: Settings, devices: dict[str, bool]) -> list[dict[str, Any]]:
    """``devices``: the service's own device health (the devices it holds are not opened
    a second time)."""
    from firmware.doctor import run_checks

    return [asdict(c) for c in run_checks(settings, live=devices)]


def selftest_checks(settings: Settings) -> list[dict[str, Any]]:
    from firmware.selftest import run_selftest

    return [asdict(c) for c in run_selftest(settings)]


def status_publisher(
    settings: Callable[[], Settings],
    catalog: Catalog,
    health: Callable[[], dict[str, Any]],
    every_s: float = STATUS_EVERY_S,
    on_update: Callable[[dict[str, Any]], None] | None = None,
) -> StatusPublisher:
    """The publisher (not started). ``settings`` is asked each time: the fleet configuration
    may replace the kiosk's settings while it runs. ``on_update``: the agent's update state
    changed (:func:`firmware.fleet.link.read_update_state`)."""
    base = settings()
    state_dir = agent_state_dir(base)
    return StatusPublisher(
        DataPaths(base.data_dir),
        lambda: {**health(), **catalog_status(catalog)},
        every_s=every_s,
        take_over=AuditTakeOver(catalog, state_dir),
        requests={
            "doctor": lambda: doctor_checks(settings(), health().get("devices") or {}),
            "selftest": lambda: selftest_checks(settings()),
        },
        state_dir=state_dir,
        on_update=on_update,
    )
