"""`sohoa demo` seeds its documents before the screen is served (issue 16: seeding in the
background raced the first clerk, the Scan screen grabbed the seeded document)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time

import httpx
import pytest

from tests.conftest import ROOT, sohoa_cmd

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_demo_answers_only_once_its_documents_are_seeded(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(SOHOA_CAMERA__WIDTH="1600", SOHOA_CAMERA__HEIGHT="1200")
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [*sohoa_cmd(), "--data-dir", str(data), "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        while True:
            assert proc.poll() is None, "the demo exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/signin", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.5)
        db = sqlite3.connect(data / "catalog.db")
        states = [r[0] for r in db.execute("SELECT state FROM documents")]
        db.close()
        assert states, "the screen answered before any demo document existed"
        assert not {"open", "capturing", "processing", "review"} & set(states), states
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/session/login",
            json={"code": "1001", "pin": "1234"},
        )
        if login.status_code == 200:  # the demo clerk starts with no document of its own
            st = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", cookies=login.cookies)
            assert st.json()["current_document"] is None
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
