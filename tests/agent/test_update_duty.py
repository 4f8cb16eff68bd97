"""When the agent's update duty lets a release use the link: documents waiting for the hub
go first while the upload window is open (the fleet's window when it sets one); outside the
window, or with nothing waiting, the release may download. Real catalog and outbox on disk;
the agent sees the queue only through the status file the kiosk's side writes from them
(:func:`tests.support.fleet.kiosk_round`), as on a kiosk where it may not open the catalog."""

from __future__ import annotations

import datetime as dt

from firmware.errors import KioskError
from firmware.fleet.config import write_applied
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.outbox import Outbox, route_sealed
from provisioning.agent.agent import Agent
from provisioning.agent.updates.duty import documents_go_first
from tests.support.fleet import kiosk_round
from tests.support.uplink import sealed_document

NOON = dt.datetime(2026, 3, 2, 12, 0)


def _agent(make_settings, window: str = "") -> tuple[Agent, Catalog, DataPaths]:
    settings = make_settings(uplink={"window": window})
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    return Agent(settings, duties=[]), catalog, paths


def test_waiting_documents_go_first_inside_the_window_only(make_settings):
    agent, catalog, paths = _agent(make_settings, window="08:00-17:00")
    try:
        kiosk_round(agent.settings, catalog)
        assert not documents_go_first(agent, NOON)  # nothing waiting: the link is free
        route_sealed(catalog, sealed_document(catalog, paths), "clerk")
        assert not documents_go_first(agent, NOON)  # not published yet: the agent cannot know
        kiosk_round(agent.settings, catalog)
        assert documents_go_first(agent, NOON)
        assert not documents_go_first(agent, NOON.replace(hour=20))  # they cannot go now
    finally:
        agent.close()
        catalog.close()


def test_a_document_the_hub_keeps_refusing_does_not_hold_releases_back(make_settings):
    agent, catalog, paths = _agent(make_settings)
    try:
        doc = route_sealed(catalog, sealed_document(catalog, paths), "clerk")
        kiosk_round(agent.settings, catalog)
        assert documents_go_first(agent, NOON)
        refused = KioskError("hub_rejected", "the hub refused it", "trung tâm từ chối")
        Outbox(catalog).record_failure(doc["id"], refused, NOON + dt.timedelta(hours=1))
        kiosk_round(agent.settings, catalog)
        assert not documents_go_first(agent, NOON)
    finally:
        agent.close()
        catalog.close()


def test_the_fleet_window_is_the_one_that_counts(make_settings):
    agent, catalog, paths = _agent(make_settings, window="")  # local file: any time
    try:
        route_sealed(catalog, sealed_document(catalog, paths), "clerk")
        kiosk_round(agent.settings, catalog)
        assert documents_go_first(agent, NOON)
        write_applied(agent.state_dir, 7, {"uplink": {"window": "18:00-06:00"}})  # signed config
        assert not documents_go_first(agent, NOON)
        assert documents_go_first(agent, NOON.replace(hour=22))
    finally:
        agent.close()
        catalog.close()
