"""The fleet side of ``sohoa demo``: the agent beside the kiosk, signed configuration and the
hub's admin page with a demo IT account, so a newcomer sees the whole fleet with one command.

Once per demo data directory: the TUF keys are made (the "offline" keys go to
``<data>/hub-offline-keys`` — in production they never sit next to the hub) and the demo
account is created on the demo hub. Every run: the agent runs in a thread of the demo
process (in production it is its own process and unit) with a recording system interface,
so a "reboot" command sent from the admin page is recorded, not obeyed. Its updater works on
the demo's release root with the demo's releases (:mod:`firmware.demo.releases`), and nine
simulated kiosks heartbeat beside it (:mod:`firmware.demo.sim_fleet`), so a rollout from the
admin page goes out in waves and a broken release pauses it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from firmware.config import Settings
    from firmware.demo.hub import DemoHub
    from firmware.kiosk import Kiosk

log = logging.getLogger("sohoa.demo_fleet")

DEMO_USER = "it-demo"
DEMO_PASSWORD = "sohoa-demo-2025"


def keys_dir(data_dir: Path | str) -> Path:
    return Path(data_dir).resolve() / "hub-offline-keys"


def prepare_hub(hub: DemoHub) -> None:
    """TUF keys and the demo admin account, made once."""
    from provisioning.hub.admin.accounts import Accounts
    from provisioning.hub.config_publisher import repository_for
    from provisioning.hub.fleet_keys import init_keys

    repo = repository_for(hub.settings)
    if not repo.exists():
        init_keys(keys_dir(Path(hub.settings.dir).parent), repo)
    acc = Accounts(hub.service.db.engine)
    if not any(a["username"] == DEMO_USER for a in acc.list()):
        acc.add(DEMO_USER, "Cán bộ kỹ thuật (demo)", "administrator", DEMO_PASSWORD)


class DemoAgent:
    """The demo's agent in a thread; ``make`` (when given) first builds it, in that thread,
    so the screen does not wait for the demo's releases (built on the first run only)."""

    def __init__(self, agent: Any = None, make: Callable[[], tuple[Any, Any]] | None = None):
        self.agent = agent
        self.sim_fleet: Any = None
        self._make = make
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-agent", daemon=True)

    def _run(self) -> None:
        if self._make is not None:
            try:
                self.agent, self.sim_fleet = self._make()
            except Exception:  # the demo kiosk runs on without its fleet side
                log.exception("demo fleet agent did not start")
                return
        if self._stopped.is_set():
            self._stop_parts()
            return
        self.agent.run()

    def _stop_parts(self) -> None:
        if self.sim_fleet is not None:
            self.sim_fleet.stop()
        if self.agent is not None:
            self.agent.stop()

    def stop(self) -> None:
        self._stopped.set()
        self._stop_parts()
        self.thread.join(10)


def trial_dir(data_dir: Path | str) -> Path:
    """Where the demo kiosk's releases run their service during an update's trial."""
    return Path(data_dir).resolve() / "update-trial"


def releases_banner(data_dir: Path | str) -> str:
    """How to try an update, for the banner (the releases may still be being built)."""
    from firmware.demo import releases
    from firmware.demo.sim_fleet import sim_ids

    if releases.checkout_root() is None:
        return (
            "Bản phát hành mẫu không có: demo không chạy từ mã nguồn / no demo releases: "
            "the demo does not run from a source checkout"
        )
    n = len(sim_ids())
    return (
        f"Cập nhật phần mềm / software updates: trang quản trị › Triển khai, chọn bản "
        f"{releases.HEALTHY} (lành / healthy) hoặc {releases.BROKEN} (hỏng, tự quay lại / "
        f"broken, rolls back), các đợt / waves 10:0,50:0,100:0 — máy mẫu và {n} máy mô "
        f"phỏng / the demo kiosk and {n} simulated kiosks; bản đang chạy / running release: "
        f"{releases.release_root(data_dir)}/current"
    )


def prepare_releases(kiosk: Kiosk, hub: DemoHub) -> Settings:
    """The demo's releases built (once), published and the base one installed; the demo
    agent's settings (updates under the demo's release root)."""
    from firmware.demo import releases

    source = releases.checkout_root()
    settings = kiosk.settings
    if source is None:
        return settings
    data = settings.data_dir
    built = releases.build_all(data, source)
    for version in (releases.HEALTHY, releases.BROKEN):
        releases.sign_for_hub(keys_dir(data), hub.settings, built[version])
    root = releases.release_root(data)
    releases.seed(root, built[releases.BASE], releases.releases_dir(data))
    return releases.updates_settings(settings, root)


def demo_agent(kiosk: Kiosk, hub: DemoHub, updates: bool) -> tuple[Any, Any]:
    """The demo kiosk's agent (and with ``updates`` its updater on the demo's releases and
    the simulated kiosks, started)."""
    from firmware.demo.releases import BASE, demo_updater
    from firmware.demo.sim_fleet import HEARTBEAT_S, start_sim_fleet
    from provisioning.agent.agent import Agent
    from provisioning.agent.updates.duty import UpdateDuty, recover_at_start

    settings = prepare_releases(kiosk, hub) if updates else kiosk.settings
    settings = settings.model_copy(
        update={
            "agent": settings.agent.model_copy(
                update={"system": "recording", "heartbeat_s": HEARTBEAT_S}
            )
        }
    )
    agent = Agent(settings)
    if not updates or settings is kiosk.settings:
        return agent, None
    build = functools.partial(demo_updater, trial_dir=trial_dir(settings.data_dir))
    agent.duties = [
        UpdateDuty(agent, build=build) if isinstance(d, UpdateDuty) else d for d in agent.duties
    ]
    recover_at_start(agent)  # an update the last demo run left half-done ends first
    return agent, start_sim_fleet(kiosk.settings, hub, BASE)


def start_fleet(kiosk: Kiosk, hub: DemoHub, updates: bool = True) -> tuple[DemoAgent | None, str]:
    """The agent running against the demo hub with its updater, the simulated kiosks, and
    the banner lines (admin URL, account, how to try an update). ``updates=False``: the
    agent alone, no releases built and no simulated kiosks (tests of the rest). With
    updates the agent is made in its own thread, after the releases."""
    try:
        prepare_hub(hub)
        if updates:
            demo = DemoAgent(make=lambda: demo_agent(kiosk, hub, True))
            line = "\n" + releases_banner(kiosk.settings.data_dir)
        else:
            demo, line = DemoAgent(demo_agent(kiosk, hub, False)[0]), ""
        demo.thread.start()
    except Exception as exc:  # the demo kiosk runs on without its fleet side
        log.exception("demo fleet agent did not start")
        return None, f"Tác nhân quản lý không chạy ({exc}) / fleet agent not started ({exc})"
    return demo, (
        f"Trang quản trị / admin page: {hub.url}/admin/ — tài khoản / account: {DEMO_USER} "
        f"mật khẩu / password: {DEMO_PASSWORD}{line}"
    )
