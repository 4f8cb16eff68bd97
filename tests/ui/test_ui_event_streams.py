"""Event streams are bounded per session and end at sign-out (issue #14): 60 streams from
one session used to starve every other call, and a stream opened before sign-out kept
receiving events. Against a real uvicorn on loopback, with httpx streaming clients."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from firmware.events import EventKind
from kiosk_ui.app import create_app
from kiosk_ui.context import SESSION_COOKIE, UiOptions
from kiosk_ui.streams import PER_SESSION
from tests.support.wait import wait_for


@pytest.fixture
def served(kiosk_factory):
    app = create_app(kiosk_factory(workers=1), UiOptions(idle_timeout_s=60))
    app.state.ui.operators.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, 20)
    yield app, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


class Reader(threading.Thread):
    """One open event stream; collects its ``data:`` events until the server ends it."""

    def __init__(self, base: str, cookie: str) -> None:
        super().__init__(daemon=True)
        self.base, self.cookie = base, cookie
        self.events: list[dict] = []
        self.status: int | None = None
        self.ended = threading.Event()

    def run(self) -> None:
        try:
            with (
                httpx.Client(base_url=self.base, timeout=60) as c,
                c.stream("GET", "/api/v1/events", headers={"Cookie": self.cookie}) as r,
            ):
                self.status = r.status_code
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()


def test_streams_per_session_are_bounded_and_end_at_sign_out(served):
    app, base = served
    ui = app.state.ui
    c = httpx.Client(base_url=base, timeout=30)
    r = c.post("/api/v1/session/login", json={"code": "1001", "pin": "1234"})
    assert r.status_code == 200
    cookie = f"{SESSION_COOKIE}={c.cookies[SESSION_COOKIE]}"
    readers = []
    for _ in range(PER_SESSION + 3):
        rd = Reader(base, cookie)
        rd.start()
        readers.append(rd)
        assert wait_for(lambda rd=rd: rd.status is not None, 10)
    assert wait_for(lambda: ui.streams.open_count() == PER_SESSION, 10), ui.streams.open_count()
    # The oldest streams were ended by the newer ones of the same session.
    assert all(rd.ended.wait(10) for rd in readers[:3])
    assert c.get("/api/v1/status").status_code == 200  # other calls are still served
    ui.kiosk.events.publish(EventKind.BACKLOG, backlog=0, probe=1)
    live = readers[3:]
    assert wait_for(lambda: all(any(e.get("probe") == 1 for e in rd.events) for rd in live), 10)
    assert c.post("/api/v1/session/logout", json={}).status_code == 200
    assert all(rd.ended.wait(10) for rd in live), "a stream outlived its session"
    ui.kiosk.events.publish(EventKind.BACKLOG, backlog=0, probe=2)
    time.sleep(0.5)
    assert not any(e.get("probe") == 2 for rd in readers for e in rd.events)
    assert ui.streams.open_count() == 0
    c.close()


def test_a_page_event_reaches_the_screen_with_its_thumbnail_url():
    """The script shows a just-captured page from its event with the URL the server spells
    (it used to build ``?v=new`` itself: a second spelling of the same URL)."""
    from kiosk_ui.picture_urls import page_picture_url
    from kiosk_ui.streams import for_screen

    ev = {"kind": "page", "page_id": "P2026:1", "doc_id": "D1", "state": "captured"}
    shown = for_screen(ev)
    assert shown["thumb_url"] == page_picture_url("P2026:1", "thumb", "new")
    assert shown["thumb_url"] == "/api/v1/pages/P2026%3A1/thumb.jpg?v=new"
    assert for_screen({"kind": "document", "doc_id": "D1"}) == {"kind": "document", "doc_id": "D1"}
