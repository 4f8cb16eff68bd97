"""`sohoa demo`'s fleet side: the agent runs beside the kiosk against the in-process hub, the
kiosk shows up on the hub within one heartbeat, the banner names the admin page and a demo
IT account that signs in, and a group's document types published on the hub reach the
kiosk's review screen without a restart (the kiosk service's ConfigWatcher)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from firmware.demo.fleet import DEMO_PASSWORD, DEMO_USER, start_fleet
from firmware.demo.hub import GROUP, start_for_demo
from firmware.fleet.config import ConfigWatcher, read_applied
from firmware.kiosk import Kiosk
from kiosk_ui.app import UiOptions, create_app
from tests.export.test_export_routing import _review_document
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration
KIOSK_ID = "demo-kiosk"


def test_demo_runs_the_agent_and_fleet_config_reaches_the_review_screen(make_settings, tmp_path):
    from provisioning.hub.admin.accounts import Accounts
    from provisioning.hub.config_publisher import ConfigPublisher, repository_for
    from provisioning.hub.fleet_db import FleetDB

    settings = make_settings(data_dir=str(tmp_path / "demo"), kiosk_id=KIOSK_ID)
    kiosk = Kiosk(settings)
    hub, _ = start_for_demo(kiosk)
    assert hub is not None
    demo, banner = start_fleet(kiosk, hub, updates=False)  # updates: test_demo_rollout
    watcher = ConfigWatcher(kiosk, settings, every_s=0.2).start()
    try:
        assert demo is not None, banner
        assert f"{hub.url}/admin/" in banner and DEMO_USER in banner and DEMO_PASSWORD in banner
        fleet = FleetDB(hub.service.db.engine)
        assert wait_for(lambda: KIOSK_ID in fleet.latest(KIOSK_ID), 30, 0.2)
        assert Accounts(hub.service.db.engine).sign_in(DEMO_USER, DEMO_PASSWORD)

        app = create_app(kiosk, UiOptions(idle_timeout_s=60))
        app.state.ui.operators.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
        client = TestClient(app, base_url="http://127.0.0.1")
        assert (
            client.post(
                "/api/v1/session/login", json={"code": "1001", "pin": "1234", "lang": "vi"}
            ).status_code
            == 200
        )
        doc_id = _review_document(kiosk, "thuong")
        assert "Đề án" not in client.get(f"/review/{doc_id}").text

        publisher = ConfigPublisher(repository_for(hub.settings), hub.service.db)
        pub = publisher.publish(
            f"group:{GROUP}", {"metadata": {"document_types": "ĐA=Đề án"}}, by="test"
        )
        demo.agent.wake()  # what the next heartbeat does, without waiting a minute
        assert wait_for(
            lambda: (read_applied(demo.agent.state_dir) or {}).get("version") == pub.version,
            30,
            0.2,
        )
        assert wait_for(lambda: kiosk.settings.metadata.document_types == "ĐA=Đề án", 10, 0.1)
        page = client.get(f"/review/{doc_id}").text
        assert '<option value="ĐA"' in page and "Đề án" in page
        # and sealing with the new type is accepted by the kiosk's API
        r = client.post(
            f"/api/v1/documents/{doc_id}/seal",
            json={"doc_type": "ĐA", "confidentiality": "thuong", "title": "Đề án số hóa"},
        )
        assert r.status_code == 200, r.text
        assert kiosk.catalog.get_document(doc_id)["metadata"]["doc_type"] == "ĐA"
    finally:
        watcher.stop()
        if demo is not None:
            demo.stop()
        hub.stop()
        kiosk.stop()
