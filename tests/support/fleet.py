"""The kiosk's side of the agent boundary in tests: the kiosk service's status publisher
(:func:`firmware.fleet.kiosk_side.status_publisher`) without a whole kiosk, so agent tests
see what a real kiosk publishes, find the agent's audit records where a real kiosk puts
them, and get doctor reports the way a real kiosk answers them."""

from __future__ import annotations

from typing import Any

from firmware.fleet.kiosk_side import status_publisher
from firmware.fleet.link import StatusPublisher, read_status_file
from firmware.store.paths import DataPaths


def publisher(settings: Any, catalog: Any, **health: Any) -> StatusPublisher:
    """The kiosk service's publisher for ``settings``/``catalog``, ``health`` as the devices
    and export queue it reports (not started: ``.start()`` runs it like the service does)."""
    return status_publisher(lambda: settings, catalog, lambda: dict(health))


def kiosk_round(settings: Any, catalog: Any, **health: Any) -> dict[str, Any]:
    """One status round: take the agent's audit records into ``catalog``, then write the
    status file; the status written."""
    publisher(settings, catalog, **health).publish()
    status = read_status_file(DataPaths(settings.data_dir))
    assert status is not None
    return status


def audit_actions(settings: Any, catalog: Any, action: str | None = None) -> list[dict[str, Any]]:
    """The kiosk's audit records after a status round (``action``: only those)."""
    kiosk_round(settings, catalog)
    return [a for a in catalog.audit_records() if action is None or a["action"] == action]
