"""The uplink refuses any hub address that is not https, before a byte leaves the kiosk.

Issue 14: ``uplink.hub_url = "http://..."`` validated and ``sohoa queue send`` sent the PDF
in clear. Both layers are shown through the real CLI: the configuration is refused with its
file and line, and an identity whose stored hub address says http (a hand-edited hub.json)
makes the client refuse before it connects. A plain TCP listener stands where the hub
would be and counts connections: it must see none.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.config import ConfigError, load_settings
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.store.states import DocState
from firmware.uplink.client import TusClient, UplinkError
from firmware.uplink.identity import enroll, identity_dir
from firmware.uplink.outbox import Outbox, route_sealed
from firmware.uplink.qr import parse_enroll_uri
from tests.conftest import run_sohoa
from tests.support import uplink as fakes

KIOSK = "kiosk-https-01"


class Listener:
    """A TCP port that accepts and counts connections (and reads what they send)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(1)
            try:
                self.received += conn.recv(65536)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


def test_http_hub_url_is_a_config_error_with_file_and_line(tmp_path: Path, listener: Listener):
    conf = tmp_path / "sohoa.toml"
    conf.write_text(
        f'data_dir = "{tmp_path / "var"}"\nkiosk_id = "{KIOSK}"\n\n[uplink]\n'
        f'chunk_kb = 32\nhub_url = "http://127.0.0.1:{listener.port}"\n'
    )
    r = run_sohoa(["--config", str(conf), "queue", "send"], timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"{conf}:6:" in r.stderr  # the hub_url line
    assert "uplink.hub_url" in r.stderr and "https://" in r.stderr
    assert listener.accepted == 0

    # The same rule in-process, for every spelling that is not https with a host.
    for bad in ("http://hub.example", "ftp://hub.example", "https://", "hub.example:8443"):
        with pytest.raises(ConfigError, match="https"):
            load_settings(None, data_dir=str(tmp_path / "v"), uplink={"hub_url": bad})
    ok = load_settings(None, data_dir=str(tmp_path / "v"), uplink={"hub_url": "https://h:1"})
    assert ok.uplink.hub_url == "https://h:1"


def test_client_refuses_an_http_hub_before_connecting(hub, tmp_path: Path, listener: Listener):
    """Enrolled for real, then hub.json is edited to http: ``queue send`` sends nothing,
    the listener sees no connection, the document stays queued with the reason."""
    paths = DataPaths(tmp_path / "kiosk").ensure()
    catalog = Catalog(paths.catalog)
    try:
        enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=catalog)
        doc = route_sealed(
            catalog, fakes.sealed_document(catalog, paths, size=20_000, seed=1), "clerk"
        )
    finally:
        catalog.close()
    hub_json = identity_dir(paths) / "hub.json"
    meta = json.loads(hub_json.read_text())
    meta["hub"] = f"http://127.0.0.1:{listener.port}"
    hub_json.write_text(json.dumps(meta))
    conf = tmp_path / "sohoa.toml"
    conf.write_text(
        f'data_dir = "{paths.root}"\nkiosk_id = "{KIOSK}"\n[uplink]\nbackoff_base_s = 5\n'
    )

    r = run_sohoa(["--config", str(conf), "queue", "send"], timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert listener.accepted == 0 and listener.received == b""
    catalog = Catalog(paths.catalog)
    try:
        assert catalog.get_document(doc["id"])["state"] == DocState.QUEUED
        row = Outbox(catalog).get(doc["id"])
        assert row["last_error_code"] == "hub_not_https"
        assert row["offset"] == 0 and not row["upload_url"]
    finally:
        catalog.close()
    assert hub.db().receipts.receipt_count() == 0

    # The client object itself refuses at construction (no request can be made with it).
    with pytest.raises(UplinkError) as err:
        TusClient(f"http://127.0.0.1:{listener.port}", False)
    assert err.value.code == "hub_not_https" and "https" in err.value.message_vi
    assert listener.accepted == 0
