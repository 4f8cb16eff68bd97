"""Rollouts on the admin page in Debian Chromium, against the real hub (uvicorn, TLS on
loopback) and three enrolled kiosks whose real agents heartbeat over mutual TLS: an
administrator starts a rollout from the form, the kiosks are offered the release in their
heartbeat answers, one commits and one rolls back (posted on the update report route as the
kiosk's updater does), the rollout pauses by itself, the page shows the counts and the
reason, resume and abort work from their buttons, and after abort the kiosk that took part
is offered the previous release. Assertions read the hub's database and the answers the
agents received."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink.identity import enroll, load_identity
from firmware.uplink.qr import parse_enroll_uri
from provisioning.agent.agent import Agent
from provisioning.fleet_schemas import UPDATE_REPORT_PATH
from provisioning.hub.rollouts import RolloutService
from tests.conftest import run_sohoa
from tests.support.ui import save_screenshot

GROUP = "ba-dinh"
PASSWORD = "mat-khau-rat-dai-1"
NEW_SHA, OLD_SHA = "e" * 64, "f" * 64


@pytest.fixture
def fleet_site(hub, make_settings, tmp_path: Path):
    pw = tmp_path / "it.pw"
    pw.write_text(PASSWORD)
    r = run_sohoa(
        [
            "fleet",
            "admin",
            "add",
            "it1",
            "--dir",
            str(hub.dir),
            "--role",
            "administrator",
            "--name",
            "Cán bộ IT",
            "--password-file",
            str(pw),
        ]
    )
    assert r.returncode == 0, r.stderr
    agents, catalogs = [], []
    for i in range(3):
        settings = make_settings(
            kiosk_id=f"xa-{i}",
            data_dir=str(tmp_path / f"var-{i}"),
            uplink={"connect_timeout_s": 3, "io_timeout_s": 5},
            agent={"system": "recording"},
        )
        paths = DataPaths(settings.data_dir).ensure()
        catalog = Catalog(paths.catalog)
        enroll(paths, f"xa-{i}", parse_enroll_uri(hub.mint_token(GROUP).uri), catalog=catalog)
        agent = Agent(settings)
        agent.step()
        agents.append(agent)
        catalogs.append(catalog)
    yield hub, agents
    for agent, catalog in zip(agents, catalogs, strict=True):
        agent.close()
        catalog.close()


def _report(agent: Agent, outcome: str, version: str, reason: str | None = None) -> None:
    """What the kiosk's updater posts after its health gate (mutual TLS)."""
    ident = load_identity(agent.paths)
    body = {"version": version, "previous": "1.1.0", "outcome": outcome, "reason": reason}
    resp = agent.link.client(ident).post(UPDATE_REPORT_PATH, json=body)
    assert resp.status_code == 204, resp.text


def _rollout(hub) -> dict:
    db = hub.db()
    try:
        rows = RolloutService(db).list()
        assert len(rows) == 1
        return rows[0]
    finally:
        db.close()


def test_rollout_from_the_admin_page(fleet_site, browser) -> None:
    hub, agents = fleet_site
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="vi-VN", ignore_https_errors=True
    )
    ctx.set_default_timeout(15000)
    pg = ctx.new_page()
    try:
        pg.goto(hub.url + "/admin/")
        pg.fill("input[name=username]", "it1")
        pg.fill("input[name=password]", PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_selector("#fleet")
        pg.click('header a:has-text("Triển khai")')
        for name, value in (
            ("version", "1.2.0"),
            ("target", "releases/sohoa-1.2.0.tar"),
            ("sha256", NEW_SHA),
            ("length", "123456"),
            ("previous_version", "1.1.0"),
            ("previous_target", "releases/sohoa-1.1.0.tar"),
            ("previous_sha256", OLD_SHA),
            ("previous_length", "120000"),
            ("waves", "100:1h"),
            ("failure", "30"),
        ):
            pg.fill(f"#new-rollout input[name={name}]", value)
        pg.check(f"#new-rollout input[name=groups][value={GROUP}]")
        pg.click('button:has-text("Bắt đầu triển khai")')
        pg.wait_for_selector("[role=status]")
        ro = _rollout(hub)
        assert ro["state"] == "active" and ro["created_by"] == "admin:it1"
        assert ro["target"]["groups"] == [GROUP] and ro["waves"][0]["failure"] == 0.3
        assert ro["previous"]["sha256"] == OLD_SHA

        # every kiosk's next heartbeat answer (real mutual TLS) names the release
        for agent in agents:
            agent.step()
            rel = agent.last_answer.rel
            assert (rel.version, rel.sha256, rel.length, rel.rollout) == (
                "1.2.0",
                NEW_SHA,
                123456,
                ro["id"],
            )
        _report(agents[0], "committed", "1.2.0")
        _report(agents[1], "rolled_back", "1.2.0", "selftest: camera không mở được")
        assert _rollout(hub)["state"] == "paused"  # 1/3 >= 30 %: paused by itself
        # hostile or broken reports are refused with a clear code and change nothing
        client = agents[2].link.client(load_identity(agents[2].paths))
        bad = client.post(UPDATE_REPORT_PATH, json={"version": "1.2.0", "outcome": "x" * 100})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        bad = client.post(UPDATE_REPORT_PATH, content=b"{", headers={"content-type": "text/plain"})
        assert bad.status_code == 415

        pg.reload()
        card = pg.locator(f"[data-rollout={ro['id']}]")
        assert card.get_attribute("data-state") == "paused"
        row = card.locator("tr[data-wave='1']")
        assert row.locator("[data-col=committed]").inner_text() == "1"
        assert row.locator("[data-col=rolled_back]").inner_text() == "1"
        assert row.locator("[data-col=pending]").inner_text().startswith("1")
        assert "selftest: camera không mở được" in card.locator(".reasons").inner_text()
        assert "rolled back in wave 1" in card.locator(".reason").inner_text()
        save_screenshot(pg, "hub-admin-rollout-paused", full_page=True)
        agents[2].step()
        assert agents[2].last_answer.rel is None  # paused: not offered to newcomers

        card.locator('button:has-text("Tiếp tục")').click()
        pg.wait_for_selector("[role=status]")
        assert _rollout(hub)["state"] == "active"
        card = pg.locator(f"[data-rollout={ro['id']}]")
        card.locator("input[name=reason]").fill("camera lỗi")
        card.locator('button:has-text("Hủy, trả về bản trước")').click()
        pg.wait_for_selector("[role=status]")
        ro = _rollout(hub)
        assert ro["state"] == "aborted" and ro["reason"] == "camera lỗi"
        agents[0].step()
        back = agents[0].last_answer.rel
        assert (back.version, back.sha256) == ("1.1.0", OLD_SHA)
        agents[2].step()
        assert agents[2].last_answer.rel is None
        assert pg.locator(f"[data-rollout={ro['id']}] .controls").count() == 0
    finally:
        ctx.close()
