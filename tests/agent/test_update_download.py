"""Release downloads resume with HTTP Range after a cut or a restart, keep to the cap, and
waste at most the bytes in flight: a loopback server that drops the connection every
300 KB (like the commune link), counted on the server's side."""

from __future__ import annotations

import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from firmware.errors import KioskError
from provisioning.agent.updates.download import part_path, resume_download

DATA = os.urandom(3 * 1024 * 1024)


class CuttingServer:
    def __init__(self, data: bytes, cut_every: int = 0, honour_range: bool = True):
        self.data, self.cut_every, self.honour_range = data, cut_every, honour_range
        self.sent = 0
        self.requests: list[str | None] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = 0
                m = re.match(r"bytes=(\d+)-$", rng or "")
                if m and outer.honour_range:
                    start = int(m.group(1))
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(outer.data) - 1}/{len(outer.data)}"
                    )
                else:
                    self.send_response(200)
                body = outer.data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                pos = 0
                while pos < len(body):
                    with outer._lock:
                        n = min(16384, len(body) - pos)
                        if outer.cut_every:
                            boundary = (outer.sent // outer.cut_every + 1) * outer.cut_every
                            n = min(n, boundary - outer.sent)
                        outer.sent += n
                        cut = outer.cut_every and outer.sent % outer.cut_every == 0
                    self.wfile.write(body[pos : pos + n])
                    pos += n
                    if cut and pos < len(body):
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tuf/targets/sohoa.tar"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def test_a_cut_every_300_kb_costs_at_most_5_percent_extra(client, tmp_path):
    srv = CuttingServer(DATA, cut_every=300 * 1024)
    try:
        dest = tmp_path / "r.tar"
        stats = resume_download(client, srv.url, dest, len(DATA), sleep=lambda s: None)
    finally:
        srv.close()
    assert dest.read_bytes() == DATA and not part_path(dest).exists()
    assert stats.requests >= 10 and stats.restarts == 0
    assert srv.requests[0] is None and all(r and r.startswith("bytes=") for r in srv.requests[1:])
    assert srv.sent <= len(DATA) * 1.05, f"{srv.sent - len(DATA)} bytes sent twice"


def test_a_restart_of_the_agent_resumes_from_the_part_file(client, tmp_path):
    srv = CuttingServer(DATA, cut_every=1024 * 1024)
    dest = tmp_path / "r.tar"
    try:
        with pytest.raises(KioskError):  # the agent "dies" after the first cut
            resume_download(client, srv.url, dest, len(DATA), max_attempts=1, sleep=lambda s: None)
        have = part_path(dest).stat().st_size
        assert 0 < have < len(DATA)
        resume_download(client, srv.url, dest, len(DATA), sleep=lambda s: None)
    finally:
        srv.close()
    assert dest.read_bytes() == DATA
    assert srv.requests[1] == f"bytes={have}-"


def test_a_server_ignoring_range_restarts_the_file_and_a_too_long_part_is_dropped(client, tmp_path):
    srv = CuttingServer(DATA[:200_000], honour_range=False)
    dest = tmp_path / "r.tar"
    part_path(dest).write_bytes(b"x" * 1000)
    try:
        stats = resume_download(client, srv.url, dest, 200_000, sleep=lambda s: None)
        assert dest.read_bytes() == DATA[:200_000] and stats.restarts == 1
        part_path(dest).write_bytes(b"x" * 300_000)  # longer than the signed length
        stats = resume_download(client, srv.url, tmp_path / "r.tar", 200_000, sleep=lambda s: None)
        assert stats.restarts == 1
    finally:
        srv.close()


def test_reading_is_paced_to_the_bandwidth_cap(client, tmp_path):
    srv = CuttingServer(DATA[:256_000])
    slept: list[float] = []
    now = [0.0]

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    try:
        resume_download(
            client,
            srv.url,
            tmp_path / "r.tar",
            256_000,
            rate_bps=256_000,
            sleep=sleep,
            clock=lambda: now[0],
        )
    finally:
        srv.close()
    # 256,000 bytes at 256 kbit/s take 8 s: the downloader waited exactly that long
    assert sum(slept) == pytest.approx(8.0, abs=0.01) and len(slept) > 10


def test_documents_waiting_in_the_upload_window_pause_the_download_which_resumes(client, tmp_path):
    srv = CuttingServer(DATA[:512_000])
    now = [0.0]
    documents_waiting = [True]

    def sleep(s: float) -> None:
        now[0] += s

    dest = tmp_path / "r.tar"
    try:
        with pytest.raises(KioskError) as exc:  # paced at 256 kbit/s: 1 s of it, then yield
            resume_download(
                client,
                srv.url,
                dest,
                512_000,
                rate_bps=256_000,
                sleep=sleep,
                clock=lambda: now[0],
                should_yield=lambda: documents_waiting[0],
            )
        assert exc.value.code == "update_deferred"
        have = part_path(dest).stat().st_size
        assert 0 < have < 512_000  # what arrived is kept
        documents_waiting[0] = False
        resume_download(client, srv.url, dest, 512_000, sleep=sleep, should_yield=lambda: False)
    finally:
        srv.close()
    assert dest.read_bytes() == DATA[:512_000]
    assert srv.requests[-1] == f"bytes={have}-"
