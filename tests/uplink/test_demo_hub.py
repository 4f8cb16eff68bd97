"""The demo's own hub (``firmware.demo.hub``): created once in the demo data dir, served
in-process over mutual TLS, the demo kiosk enrolled through the real client; an ordinary
document sealed on the kiosk is delivered with a verified receipt and stored byte for byte,
also after a restart on the same data dir, and also when the hub's old port is taken."""

from __future__ import annotations

import socket
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from firmware.demo.hub import hub_dir, start_for_demo
from firmware.kiosk import Kiosk
from firmware.service import start_uplink
from firmware.store.states import DocState
from firmware.uplink.identity import load_identity
from firmware.uplink.outbox import Outbox
from provisioning.schemas import verify_receipt
from tests.export.test_export_routing import _review_document
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration
KIOSK_ID = "demo-kiosk"


def _settings(make_settings: Any, data: Path) -> Any:
    # retention_days keeps the sealed PDF after delivery, to compare it with the hub's copy
    return make_settings(
        data_dir=str(data),
        kiosk_id=KIOSK_ID,
        uplink={"retention_days": 30, "backoff_base_s": 0.2, "backoff_max_s": 1},
    )


def _port_is_free(port: int) -> bool:
    with closing(socket.socket()) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _demo_run(settings: Any) -> dict[str, Any]:
    """One demo start: hub + enrollment + uploader, one ordinary document sealed and
    delivered, then everything stopped the way ``run_service`` stops it."""
    kiosk = Kiosk(settings)
    hub, banner = start_for_demo(kiosk)
    assert hub is not None, banner
    worker = start_uplink(kiosk)
    try:
        assert hub.url in banner and str(hub.objects_dir) in banner
        doc = kiosk.seal(_review_document(kiosk, "thuong"), "clerk")
        assert doc["state"] == DocState.QUEUED
        pdf = Path(Outbox(kiosk.catalog).get(doc["id"])["path"]).read_bytes()
        assert wait_for(
            lambda: kiosk.catalog.get_document(doc["id"])["state"] == DocState.DELIVERED, 60, 0.1
        ), kiosk.uplink_status()

        row = Outbox(kiosk.catalog).get(doc["id"])
        ident = load_identity(kiosk.paths)
        assert ident is not None
        verify_receipt(row["receipt"], ident.ca, row["sha256"], doc["id"], KIOSK_ID)
        assert (hub.objects_dir / row["receipt"]["stored_as"]).read_bytes() == pdf
        status = kiosk.uplink_status()
        assert (status["waiting"], status["hub"], status["last_error"]) == (0, hub.url, None)
        devices = hub.service.db.devices.list_devices()
        result = {
            "url": hub.url,
            "port": hub.settings.port,
            "serial": ident.cert.serial_number,
            "doc": doc["id"],
            "devices": [(d["kiosk_id"], d["status"]) for d in devices],
            "hub_url_override": kiosk.settings.uplink.hub_url,
        }
    finally:
        worker.stop()
        hub.stop()
        kiosk.stop()
    assert not hub.thread.is_alive()
    assert _port_is_free(result["port"])  # the hub let go of its port
    return result


def test_demo_hub_delivers_and_survives_restarts(make_settings, tmp_path):
    data = tmp_path / "demo"
    first = _demo_run(_settings(make_settings, data))
    assert first["devices"] == [(KIOSK_ID, "active")]
    assert first["hub_url_override"] == ""  # enrolled at the hub's own URL
    hub_toml = (hub_dir(data) / "hub.toml").read_bytes()

    # Restart: same hub dir and CA, same port, no new enrollment.
    second = _demo_run(_settings(make_settings, data))
    assert (second["url"], second["serial"]) == (first["url"], first["serial"])
    assert second["devices"] == [(KIOSK_ID, "active")]
    assert (hub_dir(data) / "hub.toml").read_bytes() == hub_toml

    # Restart while something else holds the hub's port: a free port, the uplink pointed
    # there, still the same certificate.
    with closing(socket.socket()) as squatter:
        squatter.bind(("127.0.0.1", first["port"]))
        squatter.listen()
        third = _demo_run(_settings(make_settings, data))
    assert third["url"] != first["url"]
    assert third["hub_url_override"] == third["url"]
    assert third["serial"] == first["serial"]
    assert third["devices"] == [(KIOSK_ID, "active")]

    kiosk = Kiosk(_settings(make_settings, data))
    try:
        states = {kiosk.catalog.get_document(r["doc"])["state"] for r in (first, second, third)}
        assert states == {DocState.DELIVERED}
        assert kiosk.catalog.verify_audit().ok
    finally:
        kiosk.stop()


def test_enrolls_again_when_the_kiosk_lost_its_identity(make_settings, tmp_path):
    """The hub remembers the kiosk but the kiosk's identity dir is gone: the demo revokes
    the old device and enrolls again rather than leaving documents waiting."""
    import shutil

    from firmware.store.paths import DataPaths
    from firmware.uplink.identity import identity_dir

    data = tmp_path / "demo"
    first = _demo_run(_settings(make_settings, data))
    shutil.rmtree(identity_dir(DataPaths(data)))
    again = _demo_run(_settings(make_settings, data))
    assert again["serial"] != first["serial"]
    assert again["devices"] == [(KIOSK_ID, "active")]


def test_without_the_hub_extra_the_demo_says_why_documents_wait(
    make_settings, tmp_path, monkeypatch
):
    import provisioning

    if hasattr(provisioning, "hub"):  # restored afterwards, like the modules below
        monkeypatch.setattr(provisioning, "hub", provisioning.hub)
    for name in [m for m in sys.modules if m.startswith("provisioning.hub")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # as if not installed
    kiosk = Kiosk(_settings(make_settings, tmp_path / "demo"))
    try:
        hub, banner = start_for_demo(kiosk)
        assert hub is None
        assert "sqlalchemy" in banner and "sohoa[hub]" in banner
        assert not hub_dir(kiosk.settings.data_dir).exists()
        assert kiosk.uplink_status()["state"] == "not_enrolled"
    finally:
        kiosk.stop()
