"""The simulated kiosks beside the demo kiosk, so a rollout's waves (10 %, 50 %, 100 %) mean
something on the demo hub.

Each simulated kiosk is enrolled in the demo hub through the real enrollment client (its
own key and certificate, ``<data>/sim-fleet/<id>/``) and runs the real agent
(:class:`~provisioning.agent.agent.Agent`: heartbeats and telemetry over mutual TLS) with one
duty in place of the updater, :class:`SimUpdates`: when the hub assigns a release it reports
``downloading``, then the outcome the release really has on a simulated kiosk, and posts it
on the update report route as the updater does. That outcome comes from
:class:`ReleaseJudge`: one real install of the release's bytes as the hub serves them, under
a release root of its own, through the demo's updater and health gate (the release's own
``sohoa run`` and self-test on simulated devices), once per version: the simulated kiosks
are identical, so they share the verdict. A healthy release is committed, a broken one rolled
back with the gate's reason and, like on a kiosk, never taken again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.demo.releases import demo_updater, updates_settings
from firmware.store.paths import DataPaths
from provisioning.agent.agent import Agent
from provisioning.agent.commands import Commands
from provisioning.agent.config_sync import ConfigSync
from provisioning.agent.updates.artifact import Expected
from provisioning.agent.updates.duty import copy_from
from provisioning.fleet_schemas import RELEASE_PREFIX, UPDATE_REPORT_PATH
from sohoa_common.atomic import atomic_write_text

if TYPE_CHECKING:
    from firmware.config import Settings
    from firmware.demo.hub import DemoHub
    from provisioning.agent.agent import StepContext
    from provisioning.fleet_schemas import HeartbeatAnswer, ReleaseOffer

log = logging.getLogger("sohoa.demo_sim_fleet")

#: Simulated kiosks beside the demo kiosk: ten in all, so 10 % is one kiosk.
COUNT = 9
HEARTBEAT_S = 5.0


def sim_dir(data_dir: Path | str) -> Path:
    return Path(data_dir).resolve() / "sim-fleet"


def sim_ids(count: int = COUNT) -> list[str]:
    return [f"demo-sim-{i:02d}" for i in range(1, count + 1)]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class JudgeStopped(Exception):
    """The demo stops: the verdict under way says nothing about the release."""


class ReleaseJudge:
    """What a release does on a simulated kiosk: installed and gated once per version."""

    def __init__(self, base: Settings, hub: DemoHub, work: Path):
        from provisioning.hub.config_publisher import repository_for

        self.targets = repository_for(hub.settings).targets_dir
        settings = base.model_copy(update={"data_dir": work / "data", "kiosk_id": "demo-sim-judge"})
        settings = updates_settings(settings, work / "opt-sohoa")
        DataPaths(settings.data_dir).ensure()
        self.updater = demo_updater(settings, work / "trial")
        self.verdicts_path = work / "verdicts.json"
        self.verdicts = _read_json(self.verdicts_path)
        self._lock = threading.Lock()
        self.closing = threading.Event()

    def close(self) -> None:
        """End a trial under way (its service is a process of its own) without a verdict."""
        self.closing.set()
        self.updater.gate.stopping.set()
        self.updater.supervisor.stop()

    def judge(self, offer: ReleaseOffer) -> tuple[str, str | None]:
        """(outcome, reason) of ``offer`` on a simulated kiosk: committed or rolled_back."""
        key = f"{offer.version} {offer.sha256}"
        with self._lock:
            if key not in self.verdicts:
                name = offer.target.removeprefix(RELEASE_PREFIX)
                artifact = self.targets / RELEASE_PREFIX / f"{offer.sha256}.{name}"
                expected = Expected(offer.length, offer.sha256, name)
                j = self.updater.update(offer.version, expected, copy_from(artifact))
                if self.closing.is_set():  # cut by the demo's stop: the trial says nothing
                    raise JudgeStopped(offer.version)
                if self.updater.layout.current() == offer.version:
                    outcome = "committed"  # now, or in an earlier run whose verdict was lost
                elif j.version == offer.version and j.outcome == "rolled_back":
                    outcome = "rolled_back"
                else:
                    outcome = "refused"
                reason = None if outcome == "committed" else j.reason
                self.verdicts[key] = {"outcome": outcome, "reason": reason}
                atomic_write_text(self.verdicts_path, json.dumps(self.verdicts, indent=1))
            v = self.verdicts[key]
            return str(v["outcome"]), v.get("reason")


class SimUpdates:
    """The duty of a simulated kiosk's agent: take the assigned release as a kiosk would
    (never one that failed here before), report its outcome like the updater."""

    name = "updates"

    def __init__(self, agent: Agent, judge: ReleaseJudge, base_version: str):
        self.agent = agent
        self.judge = judge
        self.state_path = agent.state_dir / "sim-release.json"
        state = _read_json(self.state_path)
        self.current = str(state.get("current") or base_version)
        self.failed: list[str] = list(state.get("failed") or [])
        self.worker: threading.Thread | None = None

    def after_heartbeat(self, ctx: StepContext, answer: HeartbeatAnswer) -> None:
        rel = answer.rel
        if rel is None or rel.version == self.current or rel.version in self.failed:
            return
        if self.worker is not None and self.worker.is_alive():
            return
        self.worker = threading.Thread(
            target=self._take,
            args=(ctx, rel),
            name=f"sim-update-{self.agent.settings.kiosk_id}",
            daemon=True,
        )
        self.worker.start()

    def _post(self, ctx: StepContext, entry: dict[str, Any]) -> None:
        entry = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **entry}
        try:
            self.agent.link.client(ctx.ident).post(UPDATE_REPORT_PATH, json=entry)
        except Exception as exc:  # the next assignment tries again
            log.info("simulated kiosk report not sent: %s", exc)

    def _take(self, ctx: StepContext, rel: ReleaseOffer) -> None:
        previous = self.current
        self._post(ctx, {"version": rel.version, "outcome": "downloading", "previous": previous})
        try:
            outcome, reason = self.judge.judge(rel)
        except JudgeStopped:
            return
        except Exception as exc:
            log.exception("simulated update of %s failed", rel.version)
            outcome, reason = "refused", str(exc)[:300]
        if outcome == "committed":
            self.current = rel.version
        else:
            self.failed = sorted({*self.failed, rel.version})
        atomic_write_text(
            self.state_path, json.dumps({"current": self.current, "failed": self.failed})
        )
        self._post(
            ctx,
            {"version": rel.version, "previous": previous, "outcome": outcome, "reason": reason},
        )


def _enrolled(settings: Settings, hub: DemoHub) -> None:
    from firmware.demo.hub import GROUP
    from firmware.uplink.identity import enroll, load_identity
    from firmware.uplink.qr import parse_enroll_uri
    from provisioning import schemas
    from provisioning.hub.pki import load_cert
    from provisioning.hub.tokens import mint_token

    paths = DataPaths(settings.data_dir).ensure()
    ca_sha256 = schemas.cert_sha256(load_cert(hub.settings.ca_cert_path))
    ident = load_identity(paths)
    if ident is not None and ident.ca_sha256 == ca_sha256:
        return
    token = mint_token(hub.service.db.tokens, GROUP, 1, hub.url, ca_sha256)
    enroll(paths, settings.kiosk_id, parse_enroll_uri(token.uri), actor="demo")


class SimKioskService:
    """The kiosk service's side of a simulated kiosk: the real status publisher
    (:func:`firmware.fleet.kiosk_side.status_publisher`) over the kiosk's own catalog,
    with its configured devices answering. So its heartbeats carry a running service, its
    queue and audit head, and a remote ``doctor`` is answered by the real checks, as on a
    kiosk; only the devices are simulated."""

    def __init__(self, settings: Settings):
        from firmware.fleet.kiosk_side import status_publisher
        from firmware.fleet.link import configured_devices
        from firmware.store.catalog import Catalog

        self.catalog = Catalog(DataPaths(settings.data_dir).ensure().catalog)
        devices = dict.fromkeys(configured_devices(settings), True)
        health = {"devices": devices, "ocr_backlog": 0, "last_error": None}
        self.publisher = status_publisher(lambda: settings, self.catalog, lambda: dict(health))

    def start(self) -> SimKioskService:
        self.publisher.publish()  # before the agent's first heartbeat
        self.publisher.start()
        return self

    def stop(self) -> None:
        self.publisher.stop()
        self.catalog.close()


class SimFleet:
    """The simulated kiosks' agents, each in a thread of the demo process, beside their
    simulated kiosk services."""

    def __init__(self, agents: list[Agent], judge: ReleaseJudge, services: list[SimKioskService]):
        self.agents = agents
        self.judge = judge
        self.services = services
        self.threads = [
            threading.Thread(target=a.run, name=f"demo-sim-{i}", daemon=True)
            for i, a in enumerate(agents)
        ]

    def start(self) -> SimFleet:
        for svc in self.services:
            svc.start()
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.judge.close()
        for a in self.agents:
            a.stop()
        for t in self.threads:
            t.join(10)
        for svc in self.services:
            svc.stop()


def start_sim_fleet(base: Settings, hub: DemoHub, base_version: str) -> SimFleet:
    """Enroll (once) and start the simulated kiosks; ``base`` is the demo kiosk's settings."""
    root = sim_dir(base.data_dir)
    judge = ReleaseJudge(base, hub, root / "judge")
    agents, services = [], []
    for kiosk_id in sim_ids():
        agent_cfg = base.agent.model_copy(
            update={"heartbeat_s": HEARTBEAT_S, "system": "recording", "state_dir": None}
        )
        uplink = base.uplink.model_copy(update={"hub_url": hub.url})
        settings = base.model_copy(
            update={
                "kiosk_id": kiosk_id,
                "data_dir": root / kiosk_id / "data",
                "agent": agent_cfg,
                "uplink": uplink,
            }
        )
        _enrolled(settings, hub)
        # The agent's own duties, but updates are judged once for all (SimUpdates).
        agent = Agent(settings, duties=[])
        agent.add_duty(ConfigSync(agent))
        agent.add_duty(Commands(agent))
        agent.add_duty(SimUpdates(agent, judge, base_version))
        agents.append(agent)
        services.append(SimKioskService(settings))
    return SimFleet(agents, judge, services).start()
