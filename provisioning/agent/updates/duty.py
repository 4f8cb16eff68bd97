"""The updater as one of the agent's duties, and how it is put together from settings.

At agent start (:func:`recover_at_start`, before the first heartbeat, hub or no hub) the
journal is recovered: an update cut by a power failure ends on one coherent release. After
each heartbeat the duty sends the update outcomes the hub does not have yet and takes up the
release the hub assigns (:class:`UpdateDuty`). An update itself runs through
:func:`run_update` (also ``sohoa agent update``), never while the clerk is in the middle of a
document (:mod:`.busy`).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuf.api import exceptions as tuf_errors

from firmware.errors import KioskError
from firmware.fleet.config import effective_settings
from firmware.fleet.link import (
    PRIVATE_DIR_MODE,
    SHARED_DIR_MODE,
    agent_state_dir,
    ensure_dir,
    read_kiosk_status,
)
from firmware.store.paths import DataPaths
from firmware.uplink.window import is_open
from provisioning.agent.config_sync import ConfigSync
from provisioning.agent.hub_link import HubLink
from provisioning.agent.system import open_system
from provisioning.agent.updates.artifact import Expected
from provisioning.agent.updates.busy import document_in_progress, export_in_progress
from provisioning.agent.updates.download import resume_download
from provisioning.agent.updates.gate import GateConfig, HealthGate, kiosk_selftest
from provisioning.agent.updates.journal import JournalFile, UpdateJournal
from provisioning.agent.updates.layout import ReleaseLayout
from provisioning.agent.updates.offer import TrustedRelease, check_offer
from provisioning.agent.updates.os_update import OsUpdater, Rauc
from provisioning.agent.updates.supervisor import ProcessSupervisor, Supervisor, SystemdSupervisor
from provisioning.agent.updates.updater import Audit, Fetch, Reporter, Updater
from provisioning.fleet_schemas import OS_BUNDLE_SUFFIX, UPDATE_REPORT_PATH

if TYPE_CHECKING:
    from firmware.config import Settings
    from firmware.uplink.identity import Identity
    from provisioning.agent.agent import Agent, StepContext
    from provisioning.fleet_schemas import HeartbeatAnswer, ReleaseOffer

log = logging.getLogger("sohoa.agent.updates")

#: Where the agent reports an update outcome on the hub (the hub's rollout side).
REPORT_PATH = UPDATE_REPORT_PATH


def updates_dir(settings: Settings) -> Path:
    """The updater's journal and staging area, in the agent's state dir (its alone)."""
    return agent_state_dir(settings) / "updates"


def make_supervisor(settings: Settings, global_args: list[str]) -> Supervisor:
    cfg = settings.updates
    if cfg.supervisor == "process":
        return ProcessSupervisor(
            cfg.release_root,
            [*global_args, *cfg.service_args],
            log_path=updates_dir(settings) / "service.log",
        )
    return SystemdSupervisor(agent_state_dir(settings))


def _not_reported(_: dict[str, Any]) -> bool:
    return False


def _not_audited(*_: Any, **__: Any) -> object:
    return None


def build_updater(
    settings: Settings,
    *,
    global_args: list[str] | None = None,
    supervisor: Supervisor | None = None,
    reporter: Reporter | None = None,
    audit: Audit | None = None,
    service_settings: Settings | None = None,
    updater_class: type[Updater] = Updater,
) -> Updater:
    """The updater for these settings (``global_args``: how children find the same config).

    ``service_settings``: those of the service the supervisor runs, whose self-test the
    health gate asks for (default: this kiosk's own; the demo runs the release's service on
    a trial data directory beside the demo kiosk, which it must never replace)."""
    cfg, args = settings.updates, list(global_args or [])
    served = service_settings or settings
    layout = ReleaseLayout(cfg.release_root)
    work = updates_dir(settings)
    ensure_dir(work.parent, SHARED_DIR_MODE)
    ensure_dir(work, PRIVATE_DIR_MODE)
    sup = supervisor or make_supervisor(settings, args)
    gate = HealthGate(
        sup,
        kiosk_selftest(DataPaths(served.data_dir), agent_state_dir(served), sup),
        GateConfig(trial_s=cfg.trial_s, max_restarts=cfg.max_restarts),
    )
    return updater_class(
        layout,
        JournalFile(work, shared_dir=agent_state_dir(settings)),
        work / "staging",
        sup,
        gate,
        bootstrap_deps=list(cfg.bootstrap_deps) or None,
        reporter=reporter or _not_reported,
        audit=audit or _not_audited,
    )


def run_update(
    updater: Updater,
    paths: DataPaths,
    version: str,
    fetch: Fetch,
    expected: Expected,
) -> UpdateJournal:
    """Install ``version`` from a local artifact file, unless the clerk is mid-document or
    an export runs (then :class:`KioskError` ``update_deferred``: try again later)."""
    busy = document_in_progress(paths)
    if busy is not None:
        raise KioskError(
            "update_deferred",
            f"Document {busy} is being captured or sealed; the update waits until it is done.",
            "Đang có tài liệu được chụp hoặc niêm phong; cập nhật sẽ chờ đến khi xong.",
        )
    if export_in_progress(paths):
        raise KioskError(
            "update_deferred",
            "An export to a USB stick is running; the update waits until it is done.",
            "Đang xuất tài liệu ra USB; cập nhật sẽ chờ đến khi xong.",
        )
    return updater.update(version, expected, fetch)


def copy_from(artifact: Path) -> Fetch:
    """Fetch from a file at hand (a USB stick, a path given at the console)."""

    def fetch(dest: Path) -> None:
        shutil.copyfile(artifact, dest)

    return fetch


def download_from(
    agent: Agent,
    ident: Identity,
    url: str,
    length: int,
    should_yield: Callable[[], bool] | None = None,
) -> Fetch:
    """Fetch from the hub over the kiosk's mutual-TLS identity, resumable, within the
    bandwidth cap (``[uplink] bandwidth_kbit``, the fleet's value when it sets one) so
    documents keep their share. Its own connection: the heartbeat goes on meanwhile."""

    def fetch(dest: Path) -> None:
        uplink = effective_settings(agent.settings, agent.state_dir)[0].uplink
        link = HubLink(
            hub_url=agent.settings.uplink.hub_url,
            connect_timeout_s=agent.settings.uplink.connect_timeout_s,
            io_timeout_s=agent.settings.uplink.io_timeout_s,
            transport=agent.link.transport,
        )
        try:
            resume_download(
                link.client(ident),
                url,
                dest,
                length,
                rate_bps=uplink.bandwidth_kbit * 1000,
                should_yield=should_yield,
            )
        finally:
            link.close()

    return fetch


def documents_go_first(agent: Agent, now: dt.datetime | None = None) -> bool:
    """Documents are waiting and the upload window is open: the link is theirs now (outside
    the window they cannot go anyway, so a release may use it). Documents whose last
    attempt failed do not count: one the hub keeps refusing must not hold every release
    back (and on a dead link the release cannot move either)."""
    uplink = effective_settings(agent.settings, agent.state_dir)[0].uplink
    local = (now or dt.datetime.now()).astimezone()
    if not is_open(uplink.window, local.replace(tzinfo=None)):
        return False
    # the queue as the kiosk publishes it (the agent may not open the catalog); no fresh
    # status file: the kiosk service, which sends documents, is not running
    status = read_kiosk_status(agent.paths) or {}
    queue = status.get("upload_queue") or {}
    return int(queue.get("wait") or 0) - int(queue.get("fail") or 0) > 0


def _busy_reason(agent: Agent) -> str | None:
    doc = document_in_progress(agent.paths)
    if doc is not None:
        return f"document {doc} is being captured or sealed"
    if export_in_progress(agent.paths):
        return "an export to a USB stick is running"
    if documents_go_first(agent):
        return "documents are waiting in the upload window"
    return None


class UpdateDuty:
    """After each heartbeat: hand the hub the outcomes it has not acknowledged yet, and take
    up the release the answer assigns (``rel``).

    An assignment is checked against TUF first (:mod:`.offer`: the offline release role must
    have signed it), on the agent's thread, so nothing untrusted is ever downloaded. The
    download, install and health gate then run on a worker thread (a 30 MB release takes
    a quarter of an hour at 256 kbit/s; heartbeats go on meanwhile) through the same
    :class:`Updater` as ``sohoa agent update``. Not taken now: while the clerk is mid-
    document or an export runs, while documents wait in the upload window, while the
    kiosk's clock is off. Never taken: a release that failed here before (``failed`` in
    the journal), or an untrusted one until the signed metadata changes.
    """

    name = "updates"

    def __init__(
        self,
        agent: Agent,
        updater: Updater | None = None,
        build: Callable[..., Updater] | None = None,
    ):
        """``build``: makes the updater from the agent's settings and this duty's reporter
        and audit (default :func:`build_updater`; the demo's runs its releases on a trial
        data directory)."""
        self.agent = agent
        self._ident: Any = None
        self.updater = updater or (build or build_updater)(
            agent.settings,
            global_args=agent.child_args,
            reporter=self._post_report,
            audit=agent.audit_log.audit,
        )
        #: What reboots the machine into a new OS (systemd on the kiosk).
        self.system = open_system(agent.settings.agent.system, agent.state_dir)
        self.worker: threading.Thread | None = None
        self.last_error: KioskError | None = None
        #: offer key -> TUF timestamp hint when it was refused (checked again on a change)
        self._untrusted: dict[tuple[str, str], int | None] = {}

    def _post_report(self, entry: dict[str, Any]) -> bool:
        if self._ident is None:
            return False
        resp = self.agent.link.client(self._ident).post(REPORT_PATH, json=entry)
        return resp.status_code in (200, 201, 204)

    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_alive()

    def after_heartbeat(self, ctx: StepContext, answer: HeartbeatAnswer) -> None:
        self._ident = ctx.ident
        if self.busy():
            return
        if self.updater.journal.load().unreported:
            self.updater.flush_reports()
        if answer.rel is not None:
            self.take(ctx, answer.rel, answer.cfg)

    def take(self, ctx: StepContext, offer: ReleaseOffer, cfg_hint: int | None) -> bool:
        """Start installing ``offer`` when it is due, allowed now and signed; whether a
        worker started. Raises :class:`KioskError` to have a refusal reported."""
        journal = self.updater.journal.load()
        if offer.version == self.updater.layout.current() or offer.version in journal.failed:
            return False
        if offer.target.endswith(OS_BUNDLE_SUFFIX):
            if not self.agent.settings.updates.os_updates:
                return False  # an x86 development box or a kiosk without an A/B root
            os_journal = self.os_updater().load()
            if offer.version in os_journal.failed or os_journal.version == offer.version:
                return False  # failed here before, or installed (running or being judged)
        key = (offer.version, offer.sha256)
        if key in self._untrusted and self._untrusted[key] == cfg_hint:
            return False
        busy = _busy_reason(self.agent)
        if busy is not None:
            log.info("release %s waits: %s", offer.version, busy)
            return False
        if not self.agent.clock_ok():
            raise KioskError(
                "clock_off",
                "This kiosk's clock is off the hub's; releases are not checked until it is right.",
                "Đồng hồ của máy lệch so với trung tâm; chưa kiểm tra bản cập nhật cho đến khi "
                "đồng hồ đúng.",
            )
        try:
            tuf = ConfigSync(self.agent).updater(ctx.ident)
            tuf.refresh()
            trusted = check_offer(tuf, offer)
        except KioskError as exc:
            if exc.code == "update_untrusted":
                self._refused_untrusted(offer, exc, cfg_hint)
            raise
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            raise KioskError(
                "update_unreachable",
                f"The signed metadata could not be refreshed ({type(exc).__name__}: {exc}); "
                "the release waits.",
                "Không cập nhật được dữ liệu ký; bản cập nhật phải chờ.",
            ) from exc
        self._post_report_quietly(
            {
                "version": offer.version,
                "outcome": "downloading",
                "previous": self.updater.layout.current(),
            }
        )
        fetch = download_from(
            self.agent,
            ctx.ident,
            trusted.url,
            trusted.expected.length,
            should_yield=lambda: documents_go_first(self.agent),
        )
        self.worker = threading.Thread(
            target=self._install, args=(trusted, fetch), name="sohoa-update", daemon=True
        )
        self.worker.start()
        return True

    def _refused_untrusted(self, offer: ReleaseOffer, exc: KioskError, hint: int | None) -> None:
        self._untrusted[(offer.version, offer.sha256)] = hint
        self.agent.audit("update.untrusted", version=offer.version, reason=exc.message_en)
        self._post_report_quietly(
            {"version": offer.version, "outcome": "refused", "reason": exc.message_en[:500]}
        )

    def _post_report_quietly(self, entry: dict[str, Any]) -> None:
        """A progress note for the hub; lost if the hub is away (the outcome is not)."""
        entry = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **entry}
        try:
            self._post_report(entry)
        except Exception as exc:
            log.info("update note not sent: %s", exc)

    def _install(self, trusted: TrustedRelease, fetch: Fetch) -> None:
        try:
            if trusted.expected.path.endswith(OS_BUNDLE_SUFFIX):
                self._install_os(trusted, fetch)
                return
            run_update(
                self.updater,
                self.agent.paths,
                trusted.version,
                fetch,
                trusted.expected,
            )
            self.last_error = None
        except KioskError as exc:
            self.last_error = exc
            self.agent.note_error(exc)
        except Exception as exc:  # the worker must never die silently
            log.exception("update of %s failed", trusted.version)
            self.last_error = KioskError("update_failed", str(exc), str(exc))
            self.agent.note_error(self.last_error)

    def os_updater(self) -> OsUpdater:
        cfg = self.agent.settings.updates
        return OsUpdater(
            Rauc(cfg.rauc_conf),
            updates_dir(self.agent.settings),
            self.updater.gate,
            reboot=self.system.reboot,
            report=self.updater.queue_report,
        )

    def _install_os(self, trusted: TrustedRelease, fetch: Fetch) -> None:
        """Download the bundle (resumable, like an application artifact), then rauc."""
        busy = _busy_reason(self.agent)
        if busy is not None:
            raise KioskError(
                "update_deferred",
                f"The OS update waits: {busy}.",
                "Cập nhật hệ điều hành phải chờ: máy đang bận.",
            )
        staging = self.updater.staging
        staging.mkdir(parents=True, exist_ok=True)
        bundle = staging / f"os-{trusted.version}{OS_BUNDLE_SUFFIX}"
        fetch(bundle)
        try:
            self.os_updater().install(trusted.version, bundle, trusted.expected)
        finally:
            bundle.unlink(missing_ok=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the worker (tests, shutdown); True when none is running afterwards."""
        if self.worker is not None:
            self.worker.join(timeout)
        return not self.busy()

    def close(self) -> None:
        """Agent shutdown: stop the service the in-process supervisor runs (systemd's runs
        on by itself). A trial under way ends without a verdict (that service stopping
        says nothing about the release) and is taken up again at the next start."""
        self.updater.gate.stopping.set()
        stop = getattr(self.updater.supervisor, "stop", None)
        if stop is not None:
            stop()


def recover_at_start(agent: Agent) -> UpdateJournal | None:
    """Run the updater's recovery once at agent start (no hub needed): an application
    update cut by a power failure ends on one release, and an OS update waiting for its
    verdict after the reboot is judged by the health gate (mark-good or back)."""
    for duty in agent.duties:
        if isinstance(duty, UpdateDuty):
            journal = duty.updater.recover()
            if agent.settings.updates.os_updates:
                duty.os_updater().after_boot()
            return journal
    return None
