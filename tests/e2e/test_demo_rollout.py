"""Issue 18's "done means", as the IT person does it on the real `sohoa demo` (its own process,
fresh data dir) in Debian Chromium: sign in to the demo hub's admin page with the account
the banner prints, start a rollout of the demo's healthy release in waves 10/50/100 %, watch
it complete with the demo kiosk committed (its release root's `current` points at the new
version, the hub's database counts it committed), then roll out the broken release: it rolls
back on the first wave, the rollout pauses by itself, and the page shows why. Meanwhile the
demo kiosk's own touchscreen says "Đang cập nhật phần mềm… Vui lòng không tắt máy" while
its agent switches to the new release and tries it, and not once it is committed.

The demo builds its releases with the real `sohoa release build` code and installs them with
the real updater and health gate; the waves are given no soak time (the IT person types
them), the demo's trial is 5 s."""

from __future__ import annotations

import os
import platform
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from firmware.demo.fleet import DEMO_PASSWORD, DEMO_USER
from firmware.demo.releases import BASE, BROKEN, HEALTHY, release_root
from firmware.demo.sim_fleet import COUNT
from provisioning.hub.config import load_hub_settings
from provisioning.hub.hub_db import HubDB
from provisioning.hub.rollouts import RolloutService
from provisioning.release.build import artifact_name
from tests.conftest import ROOT, sohoa_cmd
from tests.support.ui import requires_browser
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, requires_browser]
KIOSK = "demo-e2e-kiosk"
WAVES = "10:0,50:0,100:0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo(tmp_path):
    data = tmp_path / "demo"
    out = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(SOHOA_KIOSK_ID=KIOSK, SOHOA_CAMERA__WIDTH="1600", SOHOA_CAMERA__HEIGHT="1200")
    port = _free_port()
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [*sohoa_cmd(), "--data-dir", str(data), "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:

        def banner() -> str:
            assert proc.poll() is None, out.read_text()
            return out.read_text(encoding="utf-8", errors="replace")

        assert wait_for(lambda: "Sohoa kiosk demo running" in banner(), 600, 0.5), banner()
        text = banner()
        m = re.search(r"admin page: (https://127\.0\.0\.1:\d+/admin/)", text)
        assert m, text
        assert DEMO_USER in text and DEMO_PASSWORD in text and HEALTHY in text and BROKEN in text
        yield data, m.group(1), f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rollout(data: Path, version: str) -> tuple[dict, dict]:
    """The newest rollout of ``version`` with its wave status, and its per-kiosk outcomes,
    from the demo hub's database."""
    db = HubDB(load_hub_settings(data / "hub").database_url)
    try:
        svc = RolloutService(db)
        ro = next(r for r in svc.list() if r["release"]["version"] == version)
        return svc.status(ro["id"]), svc.db.outcomes(ro["id"])
    finally:
        db.close()


def _sims_enrolled(data: Path) -> int:
    """How many of the demo's simulated kiosks the demo hub has enrolled."""
    db = HubDB(load_hub_settings(data / "hub").database_url)
    try:
        return sum(d["kiosk_id"].startswith("demo-sim-") for d in db.devices.list_devices())
    finally:
        db.close()


def _start(pg, admin: str, version: str) -> None:
    pg.goto(admin + "rollouts")
    target = "releases/" + artifact_name(version, platform.machine())
    pg.select_option("#new-rollout select[name=release]", target)
    pg.fill("#new-rollout input[name=waves]", WAVES)
    pg.click('button:has-text("Bắt đầu triển khai")')
    pg.wait_for_selector("[role=status]")


def test_it_rolls_a_release_out_to_the_demo_fleet_and_a_broken_one_pauses(demo, browser):
    data, admin, kiosk_url = demo
    current = release_root(data) / "current"
    assert os.readlink(current) == f"releases/{BASE}"  # the demo kiosk runs its base release
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="vi-VN", ignore_https_errors=True
    )
    ctx.set_default_timeout(20000)
    pg = ctx.new_page()
    screen = browser.new_page(viewport={"width": 1024, "height": 600}, locale="vi-VN")
    try:
        screen.goto(kiosk_url + "/signin")  # the demo kiosk's touchscreen
        assert screen.locator("#update-screen").is_hidden()
        pg.goto(admin)
        pg.fill("input[name=username]", DEMO_USER)
        pg.fill("input[name=password]", DEMO_PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_selector("#fleet")
        # The simulated kiosks enroll from the agent's thread once the demo's releases are
        # built (a minute or more on a loaded machine): wait for the hub to know them, then
        # the page (server-rendered) shows them.
        assert wait_for(lambda: _sims_enrolled(data) == COUNT, 300, 1), _sims_enrolled(data)
        pg.reload()
        assert pg.locator("#fleet").inner_text().count("demo-sim-") == COUNT
        pg.click('header a:has-text("Triển khai")')
        _start(pg, admin, HEALTHY)

        def committed() -> bool:
            st, outcomes = _rollout(data, HEALTHY)
            return (
                st["state"] == "completed"
                and (outcomes.get(KIOSK) or {}).get("outcome") == "committed"
            )

        # while the agent switches the demo kiosk and tries the release, its screen says so
        screen.wait_for_selector("#update-screen", state="visible", timeout=600_000)
        assert "Vui lòng không tắt máy" in screen.inner_text("#update-screen")
        assert wait_for(committed, 600, 1), _rollout(data, HEALTHY)
        screen.wait_for_selector("#update-screen", state="hidden")
        assert os.readlink(current) == f"releases/{HEALTHY}"
        st, outcomes = _rollout(data, HEALTHY)
        assert [w["committed"] for w in st["wave_status"]][-1] == COUNT + 1
        assert sorted(o["outcome"] for o in outcomes.values()) == ["committed"] * (COUNT + 1)
        pg.goto(admin + "rollouts")
        card = pg.locator(f"[data-rollout={st['id']}]")
        assert card.get_attribute("data-state") == "completed"
        assert card.locator("tr[data-wave='3'] [data-col=committed]").inner_text() == "10"

        _start(pg, admin, BROKEN)
        assert wait_for(lambda: _rollout(data, BROKEN)[0]["state"] == "paused", 300, 1)
        st, outcomes = _rollout(data, BROKEN)
        # paused on the first wave (never empty: the lowest-placed kiosk opens it) at its
        # first rollback: nobody committed it, and no kiosk outside that wave was offered it
        w = st["wave"]
        assert w == 0, st
        first = st["wave_status"][w]
        assert first["size"] >= 1
        assert first["rolled_back"] >= 1 and all(x["committed"] == 0 for x in st["wave_status"])
        assert f"rolled back in wave {w + 1}" in st["reason"]
        reported = [o["outcome"] for o in outcomes.values() if o["outcome"] != "downloading"]
        assert set(reported) == {"rolled_back"} and len(outcomes) <= first["size"]
        if KIOSK in outcomes:  # the demo kiosk was in that wave: it tries it, then goes back

            def back() -> bool:
                return _rollout(data, BROKEN)[1][KIOSK]["outcome"] == "rolled_back"

            assert wait_for(back, 300, 1), _rollout(data, BROKEN)
        assert os.readlink(current) == f"releases/{HEALTHY}"  # the demo kiosk kept it
        pg.goto(admin + "rollouts")
        card = pg.locator(f"[data-rollout={st['id']}]")
        assert card.get_attribute("data-state") == "paused"
        assert f"rolled back in wave {w + 1}" in card.locator(".reason").inner_text()
        assert "self-test failed" in card.locator(".reasons").inner_text()
        row = card.locator(f"tr[data-wave='{w + 1}'] [data-col=rolled_back]")
        assert int(row.inner_text().split()[0]) >= 1
    finally:
        screen.close()
        ctx.close()
