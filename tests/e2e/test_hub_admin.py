"""The hub's admin page in Debian Chromium, against the real hub (uvicorn, TLS on loopback,
no client certificate in the browser): sign-in and lockout, the fleet table showing a kiosk
that heartbeated through the real agent, sending a command the agent then runs, an
enrollment token with its QR, a group's configuration edited through the form with its diff
and published (the kiosk applies it at its next heartbeat), the event log, and a viewer's
limits. Assertions read the hub's database and repository, not only the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware.fleet.config import read_applied
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.identity import enroll
from firmware.uplink.qr import parse_enroll_uri
from provisioning.agent.agent import Agent
from tests.conftest import run_sohoa
from tests.support.fleet import publisher
from tests.support.ui import requires_browser, save_screenshot

pytestmark = requires_browser
KIOSK = "xa-phuc-xa"
GROUP = "ba-dinh"
PASSWORD = "mat-khau-rat-dai-1"


def _account(hub, tmp_path: Path, user: str, role: str) -> None:
    pw = tmp_path / f"{user}.pw"
    pw.write_text(PASSWORD)
    r = run_sohoa(
        [
            "fleet",
            "admin",
            "add",
            user,
            "--dir",
            str(hub.dir),
            "--role",
            role,
            "--name",
            f"Cán bộ {user}",
            "--password-file",
            str(pw),
        ]
    )
    assert r.returncode == 0, r.stderr


@pytest.fixture
def site(hub, make_settings, tmp_path):
    from provisioning.hub.fleet_keys import init_keys
    from provisioning.hub.tuf_repo import ConfigRepository

    init_keys(tmp_path / "keys", ConfigRepository(hub.dir / "tuf"))
    _account(hub, tmp_path, "it1", "administrator")
    _account(hub, tmp_path, "xem", "viewer")
    settings = make_settings(
        kiosk_id=KIOSK,
        uplink={"connect_timeout_s": 3, "io_timeout_s": 5},
        agent={"system": "recording"},
    )
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token(GROUP).uri), catalog=catalog)
    agent = Agent(settings)
    kiosk_side = publisher(settings, catalog, devices={"camera": True, "ocr": True}).start()
    agent.step()
    yield hub, agent, paths
    kiosk_side.stop()  # the kiosk service's side: status file, answers to the doctor
    agent.close()
    catalog.close()


@pytest.fixture
def admin_page(browser):
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="vi-VN", ignore_https_errors=True
    )
    ctx.set_default_timeout(15000)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _sign_in(pg, hub, user: str, password: str = PASSWORD) -> None:
    pg.goto(hub.url + "/admin/")
    assert "/admin/login" in pg.url  # no anonymous access
    pg.fill("input[name=username]", user)
    pg.fill("input[name=password]", password)
    pg.click("button[type=submit]")


def _shot(pg, name: str) -> None:
    save_screenshot(pg, name)  # into docs/screens with UPDATE_SCREENSHOTS=1


def test_admin_page_end_to_end(site, admin_page, tmp_path):
    hub, agent, paths = site
    pg = admin_page
    _sign_in(pg, hub, "it1", "wrong password")
    assert "Sai tên đăng nhập hoặc mật khẩu" in pg.inner_text("[role=alert]")
    _sign_in(pg, hub, "it1")
    pg.wait_for_selector("#fleet")
    row = pg.locator(f"tr[data-kiosk={KIOSK}]")
    assert "Hoạt động" in row.inner_text() and GROUP in row.inner_text()
    assert pg.inner_text("[data-count=ok]") == "1"
    _shot(pg, "hub-admin-fleet")

    # one kiosk's page: send a command; the agent runs it at its next heartbeat
    row.locator("a").click()
    pg.select_option("select[name=kind]", "doctor")
    pg.click('button:has-text("Gửi lệnh / Send")')
    pg.wait_for_selector("[role=status]")
    db = hub.db()
    try:
        from provisioning.hub.commands import CommandService

        cmds = CommandService(db).list(KIOSK)
    finally:
        db.close()
    assert [(c["kind"], c["created_by"], c["state"]) for c in cmds] == [
        ("doctor", "admin:it1", "pending")
    ]
    agent.step()
    pg.reload()
    results = pg.inner_text("#commands")
    # the kiosk service answered with its own checks (no "did not answer" stand-in)
    assert "done" in results and "disk" in results and "audit" in results
    _shot(pg, "hub-admin-kiosk")

    # enrollment token with its QR
    pg.click('header a:has-text("Đăng ký máy")')
    pg.fill("input[name=group]", "tay-ho")
    pg.click('button:has-text("Tạo mã đăng ký")')
    pg.wait_for_selector("#qr svg")
    uri = pg.inner_text("#token code")
    ticket = parse_enroll_uri(uri)
    db = hub.db()
    try:
        from provisioning.hub.tokens import hash_token

        assert db.tokens.usable_token(hash_token(ticket.token))["group"] == "tay-ho"
    finally:
        db.close()
    _shot(pg, "hub-admin-token")

    # configuration of the kiosk's group through the form: diff, publish, applied on the kiosk
    pg.goto(hub.url + f"/admin/config?scope=group:{GROUP}")
    pg.fill("input[name='metadata.document_types']", "ĐA=Đề án; TTr=Tờ trình")
    pg.click('button:has-text("Xem thay đổi / Preview diff")')
    diff = pg.inner_text("#diff")
    assert "metadata.document_types" in diff and "ĐA=Đề án" in diff
    _shot(pg, "hub-admin-config-diff")
    pg.click('button:has-text("Ký và công bố / Sign and publish")')
    pg.wait_for_selector("[role=status]")
    from provisioning.hub.tuf_repo import ConfigRepository, group_role, group_target

    doc = ConfigRepository(hub.dir / "tuf").target_document(group_role(GROUP), group_target(GROUP))
    assert doc["settings"]["metadata"]["document_types"] == "ĐA=Đề án; TTr=Tờ trình"
    agent.step()
    applied = read_applied(agent.state_dir)
    assert applied["overrides"]["metadata"]["document_types"] == "ĐA=Đề án; TTr=Tờ trình"
    assert applied["version"] == doc["version"]

    pg.click('header a:has-text("Nhật ký")')
    events = pg.inner_text("#events")
    assert "command_created" in events and "config_published" in events
    assert "Gửi lệnh" in events and "Công bố cấu hình" in events  # the kinds in Vietnamese
    assert "None" not in events and "False" not in events  # no Python words
    _shot(pg, "hub-admin-events")


def test_viewer_sees_but_cannot_act_and_lockout(site, admin_page):
    hub, agent, paths = site
    pg = admin_page
    _sign_in(pg, hub, "xem")
    pg.wait_for_selector("#fleet")
    pg.goto(hub.url + f"/admin/kiosks/{KIOSK}")
    assert pg.locator("select[name=kind]").count() == 0
    csrf = pg.locator("input[name=csrf]").first.get_attribute("value")
    r = pg.request.post(
        hub.url + f"/admin/kiosks/{KIOSK}/command", form={"csrf": csrf, "kind": "reboot"}
    )
    assert "không có quyền" in r.text()
    db = hub.db()
    try:
        from provisioning.hub.commands import CommandService

        assert CommandService(db).list(KIOSK) == []
    finally:
        db.close()
    # the browser has no client certificate: device routes stay closed to it
    r = pg.request.post(hub.url + "/fleet/v1/heartbeat", data="{}")
    assert r.status == 401 and json.loads(r.text())["error"]["code"] == "cert_required"
    assert pg.request.get(hub.url + "/healthz").status == 200
    # five wrong passwords lock the account, even the right one is then refused
    pg.context.clear_cookies()
    for _ in range(5):
        _sign_in(pg, hub, "it1", "sai mat khau")
    _sign_in(pg, hub, "it1")
    assert "thử lại sau" in pg.inner_text("[role=alert]")
