"""The releases of ``sohoa demo``: what an IT person rolls out from the demo's admin page.

At the first demo run three release artifacts of this checkout are built with the real
``sohoa release build`` code (:func:`provisioning.release.build.build_release`) into
``<data>/demo-releases/`` and reused afterwards: the base the demo kiosk runs from
(installed under the demo's release root, as the OS image installs a kiosk's first
release), a healthy new one, and a broken one whose ``sohoa`` raises as it starts (a copy
of the tree with one line added to ``firmware/cli/main.py``, as the update tests build
theirs). The two new ones are signed with the demo's offline release key
(``<data>/hub-offline-keys``, like the demo's other offline keys) and published on the
demo hub, which may then assign them but could not have made them.

Imported only by the demo's fleet side (it needs the agent's libraries, the ``hub`` extra).

The demo kiosk's release root is ``<data>/opt-sohoa`` (``releases/<version>/`` and
``current``, never ``/opt``). The service an update restarts there is not the demo
process (which keeps serving the screen and must never be replaced) but the release's own
``sohoa run`` on a trial data directory (:func:`trial_settings`), started and watched by
the in-process stand-in for systemd the tests use
(:class:`~provisioning.agent.updates.supervisor.ProcessSupervisor`); the health gate asks
that service for its self-test, so a broken release really fails it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import sysconfig
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import firmware
from provisioning.agent.updates.artifact import Expected
from provisioning.agent.updates.journal import UpdateJournal
from provisioning.agent.updates.updater import Updater
from provisioning.release.manifest import file_entry

if TYPE_CHECKING:
    from firmware.config import Settings

log = logging.getLogger("sohoa.demo_releases")

BASE = firmware.__version__
HEALTHY = f"{BASE}.post1"
BROKEN = f"{BASE}.post2"
#: The line that makes the broken release raise as its ``sohoa`` starts.
BROKEN_LINE = 'raise RuntimeError("demo release {v} is broken on purpose")\n'
#: A fixed build time: the same checkout gives the same bytes (and the same signed target).
EPOCH = 1764547200
#: The health gate's trial in the demo (a kiosk uses 300 s): short enough to watch.
TRIAL_S = 5.0
#: One trial at a time: each runs a whole kiosk service beside the demo.
TRIALS = threading.Lock()


@dataclass(frozen=True)
class DemoRelease:
    version: str
    artifact: Path
    healthy: bool

    def expected(self) -> Expected:
        """The artifact's length and SHA-256, as its signed TUF target names them."""
        entry = file_entry(self.artifact, self.artifact.name)
        return Expected(entry.length, entry.sha256, self.artifact.name)


def checkout_root() -> Path | None:
    """The source checkout the demo runs from (None when installed from a wheel)."""
    root = Path(firmware.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else None


def releases_dir(data_dir: Path | str) -> Path:
    return Path(data_dir).resolve() / "demo-releases"


def release_root(data_dir: Path | str) -> Path:
    return Path(data_dir).resolve() / "opt-sohoa"


def deps_site() -> Path:
    """Where the first release borrows its libraries from: the demo's own environment."""
    return Path(sysconfig.get_paths()["purelib"])


def _built(out: Path) -> Path | None:
    found = sorted(out.glob("sohoa-*.tar")) if out.is_dir() else []
    return found[0] if len(found) == 1 else None


def build_one(source: Path, version: str, out: Path, broken: bool = False) -> Path:
    """``out``'s artifact when built before, else build it (broken: raises at start)."""
    from provisioning.release.build import build_release, copy_checkout

    done = _built(out)
    if done is not None:
        return done
    shutil.rmtree(out, ignore_errors=True)
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    tree = source
    if broken:
        tree = copy_checkout(source, staging / "src")
        main = tree / "firmware" / "cli" / "main.py"
        anchor = "from __future__ import annotations\n"
        text = main.read_text(encoding="utf-8")
        main.write_text(
            text.replace(anchor, anchor + BROKEN_LINE.format(v=version), 1), encoding="utf-8"
        )
    try:
        built = build_release(tree, version, staging / "out", epoch=EPOCH)
        out.parent.mkdir(parents=True, exist_ok=True)
        (staging / "out").rename(out)  # complete or absent: a cut build is built again
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / built.name


def build_all(data_dir: Path | str, source: Path) -> dict[str, DemoRelease]:
    d = releases_dir(data_dir)
    return {
        BASE: DemoRelease(BASE, build_one(source, BASE, d / BASE), True),
        HEALTHY: DemoRelease(HEALTHY, build_one(source, HEALTHY, d / HEALTHY), True),
        BROKEN: DemoRelease(BROKEN, build_one(source, BROKEN, d / BROKEN, broken=True), False),
    }


def sign_for_hub(keys: Path, hub_settings: Any, rel: DemoRelease) -> None:
    """Sign ``rel`` with the release key in the offline key directory ``keys`` unless the
    hub serves it already."""
    from provisioning.fleet_schemas import RELEASE_ROLE, release_target
    from provisioning.hub.config_publisher import repository_for
    from provisioning.hub.fleet_keys import publish_release
    from provisioning.hub.tuf_repo import RepoError

    repo = repository_for(hub_settings)
    name = release_target(rel.artifact.name)
    with contextlib.suppress(RepoError):
        have = repo.load(RELEASE_ROLE).signed.targets.get(name)
        if have is not None and have.hashes.get("sha256") == rel.expected().sha256:
            return
    publish_release(keys, repo, rel.artifact, rel.version)


def seed(root: Path, rel: DemoRelease, scratch: Path) -> None:
    """What the OS image does for a kiosk: its first release installed and made current."""
    from provisioning.agent.updates.artifact import unpack
    from provisioning.agent.updates.install import install_release
    from provisioning.agent.updates.layout import ReleaseLayout

    layout = ReleaseLayout(root)
    if layout.current() is not None:
        return
    unpacked = scratch / f"seed-{rel.version}"
    shutil.rmtree(unpacked, ignore_errors=True)
    manifest = unpack(rel.artifact, unpacked)
    install_release(layout, manifest, unpacked, [deps_site()])
    layout.switch(rel.version)
    shutil.rmtree(unpacked, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def trial_settings(base: Settings, trial_dir: Path) -> tuple[Settings, Path]:
    """The settings of the release's service during a trial (simulated devices, its own
    data directory and loopback port) and the config file that hands them to it."""
    from firmware.config import load_settings

    trial_dir.mkdir(parents=True, exist_ok=True)
    cfg = trial_dir / "sohoa.toml"
    cfg.write_text(
        f'data_dir = "{trial_dir / "data"}"\nkiosk_id = "{base.kiosk_id}-trial"\n'
        '[camera]\nbackend = "sim"\n[pedal]\nbackend = "none"\n[leds]\nbackend = "none"\n'
        f"[ocr]\nworkers = 1\n[ui]\nport = {_free_port()}\n",
        encoding="utf-8",
    )
    return load_settings(cfg), cfg


def updates_settings(settings: Settings, root: Path) -> Settings:
    """``settings`` whose updates go to ``root`` with the demo's short trial."""
    upd = settings.updates.model_copy(
        update={
            "release_root": root,
            "supervisor": "process",
            "trial_s": TRIAL_S,
            "max_restarts": 2,
            "bootstrap_deps": [deps_site()],
        }
    )
    return settings.model_copy(update={"updates": upd})


def demo_updater(settings: Settings, trial_dir: Path, **kw: Any) -> Updater:
    """The updater of a demo kiosk: ``settings.updates.release_root``, the release's service
    on ``trial_dir`` under the in-process supervisor, stopped once the outcome is known."""
    from provisioning.agent.updates.duty import build_updater, updates_dir
    from provisioning.agent.updates.supervisor import ProcessSupervisor

    served, cfg = trial_settings(settings, trial_dir)
    sup = ProcessSupervisor(
        settings.updates.release_root,
        ["--config", str(cfg), "run"],
        log_path=updates_dir(settings) / "service.log",
    )
    return build_updater(
        settings,
        supervisor=sup,
        service_settings=served,
        updater_class=TrialUpdater,
        **kw,
    )


class TrialUpdater(Updater):
    """The updater with the demo's rule for the service it restarts: a trial is judged one
    at a time (each runs a kiosk service), and the service stops once the outcome is known
    (the demo process, not the release, serves the screen)."""

    def update(self, *args: Any, **kw: Any) -> UpdateJournal:
        with TRIALS:
            try:
                return super().update(*args, **kw)
            finally:
                self.supervisor.stop()

    def recover(self) -> UpdateJournal:
        with TRIALS:
            try:
                return super().recover()
            finally:
                self.supervisor.stop()
