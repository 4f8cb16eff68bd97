"""The hub admin page as a browser reaches it, for tests without Chromium: an IT account made
with the real CLI, an HTTPS client that trusts the hub's CA and has no client certificate,
and the sign-in form."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import run_sohoa

PASSWORD = "mat-khau-rat-dai-1"


def add_account(hub: Any, tmp_path: Path, user: str, role: str) -> None:
    """``sohoa fleet admin add`` as provincial IT runs it."""
    pw = tmp_path / f"{user}.pw"
    pw.write_text(PASSWORD)
    r = run_sohoa(
        ["fleet", "admin", "add", user, "--dir", str(hub.dir), "--role", role]
        + ["--name", f"Cán bộ {user}", "--password-file", str(pw)]
    )
    assert r.returncode == 0, r.stderr


def browser(hub: Any) -> httpx.Client:
    """What a browser has: the hub's CA trusted, no client certificate."""
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    return httpx.Client(base_url=hub.url, verify=ctx, timeout=30)


def sign_in(c: httpx.Client, user: str) -> None:
    r = c.post("/admin/login", data={"username": user, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/admin/", r.text


def csrf_of(html: str) -> str:
    """The form token of a page (every form of a session carries the same one)."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no form on the page"
    return found.group(1)
