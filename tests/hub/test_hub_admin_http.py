"""The admin page's fleet table and revocation over plain HTTPS (no browser, no client
certificate), against the real hub under uvicorn on loopback: no anonymous access, the
filters (state, district/group, search) and the counts per district show what the hub's
database holds, and a kiosk an administrator revokes on its page is refused at its next
heartbeat, while a viewer's revoke is refused. (The Chromium walk-through with screenshots
is ``tests/e2e/test_hub_admin.py``.)"""

from __future__ import annotations

import datetime as dt
import re
import ssl

import httpx
import pytest

from provisioning.fleet_schemas import (
    HEARTBEAT_PATH,
    JSON_TYPE,
    Disk,
    Heartbeat,
    UploadQueue,
    Versions,
    dump_model,
)
from tests.conftest import run_sohoa
from tests.support.hub import device_client, enroll_test_device

pytestmark = pytest.mark.integration
PASSWORD = "mat-khau-rat-dai-1"


def _account(hub, tmp_path, user: str, role: str) -> None:
    pw = tmp_path / f"{user}.pw"
    pw.write_text(PASSWORD)
    r = run_sohoa(
        ["fleet", "admin", "add", user, "--dir", str(hub.dir), "--role", role]
        + ["--name", f"Cán bộ {user}", "--password-file", str(pw)]
    )
    assert r.returncode == 0, r.stderr


def _heartbeat(dev, waiting: int) -> httpx.Response:
    hb = Heartbeat(
        seq=1,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ver=Versions(app="0.9.0", os="Debian GNU/Linux 12 (bookworm)"),
        disk=Disk(free=10**9, total=4 * 10**9),
        upq=UploadQueue(wait=waiting),
    )
    with device_client(dev) as c:
        return c.post(HEARTBEAT_PATH, content=dump_model(hb), headers={"Content-Type": JSON_TYPE})


def _browser(hub) -> httpx.Client:
    """What a browser has: the hub's CA trusted, no client certificate."""
    ctx = ssl.create_default_context(cafile=str(hub.ca_path))
    return httpx.Client(base_url=hub.url, verify=ctx, timeout=30)


def _sign_in(c: httpx.Client, user: str) -> None:
    r = c.post("/admin/login", data={"username": user, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/admin/", r.text


def _rows(html: str) -> list[str]:
    return re.findall(r'data-kiosk="([^"]+)"', html)


def test_fleet_table_filters_counts_and_revocation(hub, tmp_path):
    _account(hub, tmp_path, "it1", "administrator")
    _account(hub, tmp_path, "xem", "viewer")
    a1 = enroll_test_device(hub, "xa-an-binh", group="huyen-a")
    a2 = enroll_test_device(hub, "xa-an-lac", group="huyen-a")
    enroll_test_device(hub, "xa-binh-minh", group="huyen-b")  # enrolled, never heard from
    assert _heartbeat(a1, waiting=4).status_code == 200
    assert _heartbeat(a2, waiting=0).status_code == 200

    with _browser(hub) as c:
        # no anonymous access: every page sends to the sign-in form
        for path in ("/admin/", "/admin/kiosks/xa-an-binh", "/admin/tokens", "/admin/events"):
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/admin/login", path
        _sign_in(c, "it1")
        page = c.get("/admin/").text
        assert sorted(_rows(page)) == ["xa-an-binh", "xa-an-lac", "xa-binh-minh"]
        assert re.search(r'data-count="ok">2<', page) and re.search(r'data-count="never">1<', page)
        # counts per district (group): ok, late, offline, never
        assert re.search(r"<td>huyen-a</td><td>2</td><td>0</td><td>0</td><td>0</td>", page)
        assert re.search(r"<td>huyen-b</td><td>0</td><td>0</td><td>0</td><td>1</td>", page)
        assert _rows(c.get("/admin/?state=never").text) == ["xa-binh-minh"]
        assert sorted(_rows(c.get("/admin/?group=huyen-a").text)) == ["xa-an-binh", "xa-an-lac"]
        assert _rows(c.get("/admin/?q=LAC").text) == ["xa-an-lac"]
        # one kiosk's page, then revoke it as an administrator
        kiosk = c.get("/admin/kiosks/xa-an-lac").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', kiosk).group(1)
        r = c.post("/admin/kiosks/xa-an-lac/revoke", data={"csrf": csrf, "reason": "mất máy"})
        assert r.status_code == 303
    r = _heartbeat(a2, waiting=0)
    assert r.status_code in (401, 403) and r.json()["error"]["code"] == "device_revoked"
    assert _heartbeat(a1, waiting=4).status_code == 200  # the others are untouched

    with _browser(hub) as c:  # a viewer may look but not revoke
        _sign_in(c, "xem")
        kiosk = c.get("/admin/kiosks/xa-an-binh").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', kiosk).group(1)
        r = c.post("/admin/kiosks/xa-an-binh/revoke", data={"csrf": csrf, "reason": "x"})
        assert r.status_code == 403 and "không có quyền" in r.text
    assert _heartbeat(a1, waiting=4).status_code == 200


def test_a_refused_command_or_a_stale_form_is_a_page_that_says_why(hub, tmp_path):
    """Forged or stale form posts (a kind the agent does not run, a kiosk that is not
    enrolled, a CSRF token of an earlier sign-in) answer a page in both languages with a
    4xx status: no traceback, no command queued."""
    _account(hub, tmp_path, "vh1", "operator")
    enroll_test_device(hub, "xa-an-binh", group="huyen-a")
    with _browser(hub) as c:
        _sign_in(c, "vh1")
        old = re.search(r'name="csrf" value="([^"]+)"', c.get("/admin/kiosks/xa-an-binh").text)
        csrf = old.group(1)
        r = c.post("/admin/kiosks/xa-an-binh/command", data={"csrf": csrf, "kind": "format_disk"})
        assert r.status_code == 400 and "Không có lệnh &#39;format_disk&#39;" in r.text
        assert "doctor" in r.text  # the page names the commands there are
        r = c.post("/admin/kiosks/no-such/command", data={"csrf": csrf, "kind": "doctor"})
        assert r.status_code == 404 and "Không có máy &#39;no-such&#39;" in r.text
        _sign_in(c, "vh1")  # a new session: the page loaded before holds a stale token
        r = c.post("/admin/kiosks/xa-an-binh/command", data={"csrf": csrf, "kind": "doctor"})
        assert r.status_code == 403 and "tải lại trang" in r.text
    db = hub.db()
    try:
        from provisioning.hub.commands import CommandService

        assert CommandService(db).list("xa-an-binh") == []
    finally:
        db.close()
