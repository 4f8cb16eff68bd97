"""The UI's front door (issue #14): loopback only, same origin only, small bodies.

DNS rebinding: a page on attacker.example whose name re-resolves to 127.0.0.1 reaches the
kiosk with ``Host: attacker.example``; a page elsewhere can post forms (no preflight, no
body needed) at ``http://127.0.0.1:8080``. Both are refused, as is a body bigger than the
route needs, before it is read. Tested in-process and against a real uvicorn."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from firmware.config import ConfigError
from kiosk_ui.app import create_app
from kiosk_ui.context import UiOptions

BASE = "http://127.0.0.1"


@pytest.fixture
def app(kiosk_factory):
    application = create_app(kiosk_factory(workers=1), UiOptions(idle_timeout_s=60))
    application.state.ui.operators.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    return application


def _login(client: TestClient, **kw) -> httpx.Response:
    return client.post("/api/v1/session/login", json={"code": "1001", "pin": "1234"}, **kw)


def _rejections(app) -> list[dict]:
    cat = app.state.ui.kiosk.catalog
    return [dict(r) for r in cat.db.query("SELECT * FROM audit WHERE action = 'api.rejected'")]


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "10.0.0.5"])
def test_foreign_host_header_is_refused(app, host):
    client = TestClient(app, base_url=BASE)
    r = client.get("/api/v1/status", headers={"Host": host})
    assert r.status_code == 421 and r.json()["code"] == "wrong_host"
    assert "127.0.0.1" in r.json()["message"]
    r = _login(client, headers={"Host": host})
    assert r.status_code == 421
    assert client.get("/", headers={"Host": host}).status_code == 421


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.1"])
def test_loopback_host_headers_are_served(app, host):
    client = TestClient(app, base_url=BASE)
    assert _login(client, headers={"Host": host}).status_code == 200


def test_cross_origin_state_changes_are_refused_even_without_a_body(app):
    client = TestClient(app, base_url=BASE)
    assert _login(client).status_code == 200
    evil = {"Origin": "http://attacker.example"}
    before = client.get("/api/v1/documents").json()
    r = client.post("/api/v1/documents", headers=evil)  # bodiless: new document
    assert r.status_code == 403 and r.json()["code"] == "cross_origin"
    r = client.post("/api/v1/session/logout", headers={**evil, "Content-Type": "text/plain"})
    assert r.status_code == 403
    r = client.post("/api/v1/documents", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = client.post("/api/v1/documents", headers={"Origin": "null"})
    assert r.status_code == 403
    assert client.get("/api/v1/documents").json() == before  # nothing was created
    ok = client.post("/api/v1/documents", headers={"Origin": "http://127.0.0.1"})
    assert ok.status_code in (200, 201), ok.text
    assert len(_rejections(app)) >= 4


def test_login_body_is_capped_before_it_is_read(app):
    client = TestClient(app, base_url=BASE)
    r = client.post(
        "/api/v1/session/login",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    assert "KB" in r.json()["message"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(64):
            yield b" " * 65536

    r = client.post(
        "/api/v1/session/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert _login(client).status_code == 200  # a normal sign-in still works


def test_non_loopback_bind_is_refused_unless_allowed(make_settings):
    with pytest.raises(ConfigError, match="allow_remote"):
        make_settings(ui={"host": "0.0.0.0"})
    s = make_settings(ui={"host": "0.0.0.0", "allow_remote": True})
    assert s.ui.host == "0.0.0.0"
    assert make_settings(ui={"host": "::1"}).ui.host == "::1"


# -- a real uvicorn on loopback ---------------------------------------------------------
@pytest.fixture
def served(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_real_server_refuses_rebinding_cross_origin_and_huge_bodies(served):
    with httpx.Client(base_url=served, timeout=30) as c:
        assert c.get("/api/v1/status", headers={"Host": "attacker.example"}).status_code == 421
        r = c.post("/api/v1/session/login", json={"code": "1001", "pin": "1234"})
        assert r.status_code == 200
        assert c.post("/api/v1/documents", headers={"Origin": "http://evil.test"}).status_code == (
            403
        )
        r = c.post(
            "/api/v1/session/login",
            content=b"x" * (8 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413


def test_rejected_calls_are_audited_but_cannot_flood_the_chain(app):
    from kiosk_ui.guard import AUDIT_PER_MINUTE

    client = TestClient(app, base_url=BASE)
    assert _login(client).status_code == 200
    r = client.post("/api/v1/pages/x/rotate", json={"quarter_turns": 9})
    assert r.status_code == 422
    (rec,) = _rejections(app)
    assert '"status": 422' in rec["details"] and "/api/v1/pages/x/rotate" in rec["details"]
    for _ in range(AUDIT_PER_MINUTE + 40):
        client.get("/api/v1/status", headers={"Host": "attacker.example"})
    assert len(_rejections(app)) == AUDIT_PER_MINUTE
    assert app.state.ui.kiosk.catalog.verify_audit().ok


def test_rejection_log_summarises_what_it_left_out():
    from kiosk_ui.guard import RejectionLog

    written: list[tuple] = []
    now = [0.0]
    log = RejectionLog(lambda *a, **kw: written.append((a[1], kw)), limit=3, clock=lambda: now[0])
    for _ in range(10):
        log.record(status=422)
    now[0] = 61.0
    log.record(status=403)
    assert [w[0] for w in written] == ["api.rejected"] * 3 + ["api.rejected_suppressed"] + [
        "api.rejected"
    ]
    assert written[3][1] == {"count": 7}
