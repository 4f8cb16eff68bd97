"""Signed configuration, kiosk side: python-tuf's ngclient ``Updater`` over the agent's
mutual-TLS connection, then check and apply with :mod:`firmware.fleet.config`.

When: after a heartbeat whose answer names a TUF timestamp version this agent has not synced
yet, and at least every ``[agent] config_refresh_s`` anyway (an unchanged poll therefore costs
no TUF request, and a hub that stops updating its timestamp is still noticed: freeze).

What TUF refuses (tampered target, older metadata, stale timestamp, expired metadata, wrong
keys) leaves the applied configuration as it is and is reported in the next heartbeat; the
kiosk keeps scanning with its last good configuration. A kiosk whose clock is far from the
hub's (no RTC on the Pi) does not act on metadata expiry at all: it reports ``clock_off``
and waits for a good clock instead of refusing or accepting on a wrong date.

Trusted root: ``<agent state>/tuf/metadata/root.json`` (the agent's alone, 0700). Installed from ``[agent] tuf_root``
(the image ships it) or, at the first sync after enrollment, ``1.root.json`` fetched over the
TLS connection pinned to the fleet CA from the enrollment QR. From there on only root
versions signed by a threshold of the previous root's keys are followed.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

from firmware.errors import KioskError
from firmware.fleet.config import FleetConfigError, config_dir, prepare, write_applied
from firmware.fleet.link import PRIVATE_DIR_MODE, ensure_dir
from provisioning.fleet_schemas import (
    FLEET_TARGET,
    TUF_METADATA_PATH,
    TUF_TARGETS_PATH,
    group_target,
    kiosk_target,
)
from sohoa_common.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from firmware.uplink.identity import Identity
    from provisioning.agent.agent import Agent, StepContext
    from provisioning.fleet_schemas import HeartbeatAnswer

log = logging.getLogger("sohoa.agent.config")


class HttpxFetcher(FetcherInterface):
    """ngclient's network layer over an httpx client (mutual TLS, kept alive). Counts what
    it fetched, for the bench and the tests."""

    def __init__(self, client: httpx.Client):
        self.client = client
        self.requests = 0

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.requests += 1
        try:
            resp = self.client.get(url)
        except httpx.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{url}: {exc}") from exc
        if resp.status_code != 200:
            raise tuf_errors.DownloadHTTPError(f"{url}: HTTP {resp.status_code}", resp.status_code)
        return iter([resp.content])


def _error(code: str, en: str, vi: str) -> KioskError:
    return KioskError(code, en, vi)


class ConfigSync:
    name = "config"

    def __init__(self, agent: Agent):
        self.agent = agent
        base = agent.state_dir / "tuf"
        self.metadata_dir = base / "metadata"
        self.targets_dir = base / "targets"
        self._checked_at = 0.0
        self.last_fetcher: HttpxFetcher | None = None

    # -- when -------------------------------------------------------------------------
    def due(self, answer: HeartbeatAnswer) -> bool:
        if answer.cfg is None:  # this hub publishes no signed configuration
            return False
        if answer.cfg != self.agent.state.config_synced_hint:
            return True
        return time.monotonic() - self._checked_at >= self.agent.settings.agent.config_refresh_s

    def after_heartbeat(self, ctx: StepContext, answer: HeartbeatAnswer) -> None:
        if not self.due(answer):
            return
        if not self.agent.clock_ok():
            raise _error(
                "clock_off",
                f"This kiosk's clock is {self.agent.state.clock_offset_s:+.0f} s off the hub's; "
                "signed configuration is not checked until the clock is right.",
                "Đồng hồ của máy lệch so với trung tâm; chưa kiểm tra cấu hình mới cho đến khi "
                "đồng hồ đúng.",
            )
        self.sync(ctx.ident, answer.cfg)

    # -- how --------------------------------------------------------------------------
    def _ensure_root(self, client: httpx.Client) -> None:
        root = self.metadata_dir / "root.json"
        if root.exists():
            return
        ensure_dir(self.metadata_dir.parent, PRIVATE_DIR_MODE)
        ensure_dir(self.metadata_dir, PRIVATE_DIR_MODE)
        shipped = self.agent.settings.agent.tuf_root
        if shipped:
            data = Path(shipped).read_bytes()
        else:
            resp = client.get(TUF_METADATA_PATH + "1.root.json")
            if resp.status_code != 200:
                raise _error(
                    "config_unavailable",
                    f"The hub has no signed configuration yet (HTTP {resp.status_code}).",
                    "Trung tâm chưa có cấu hình được ký.",
                )
            data = resp.content
        json.loads(data)  # a root that is not even JSON is not installed
        atomic_write_bytes(root, data, mode=0o644)

    def updater(self, ident: Identity) -> Updater:
        client = self.agent.link.client(ident)
        self._ensure_root(client)
        ensure_dir(self.targets_dir, PRIVATE_DIR_MODE)
        self.last_fetcher = HttpxFetcher(client)
        base = str(client.base_url).rstrip("/")
        return Updater(
            str(self.metadata_dir),
            base + TUF_METADATA_PATH,
            str(self.targets_dir),
            base + TUF_TARGETS_PATH,
            fetcher=self.last_fetcher,
            bootstrap=None,
        )

    def _document(self, updater: Updater, target: str) -> dict[str, Any] | None:
        info = updater.get_targetinfo(target)
        if info is None:
            return None
        path = updater.find_cached_target(info) or updater.download_target(info)
        with open(path, "rb") as fh:
            doc = json.load(fh)
        if not isinstance(doc, dict):
            raise FleetConfigError(f"{target}: not a JSON object")
        return doc

    def sync(self, ident: Identity, hint: int | None = None) -> int | None:
        """Refresh, check and apply; the configuration version in effect afterwards."""
        agent, state = self.agent, self.agent.state
        try:
            updater = self.updater(ident)
            updater.refresh()
            kiosk_doc = self._document(updater, kiosk_target(agent.settings.kiosk_id))
            group = (kiosk_doc or {}).get("group")
            group_doc = self._document(updater, group_target(group)) if group else None
            fleet_doc = self._document(updater, FLEET_TARGET)
        except tuf_errors.ExpiredMetadataError as exc:
            raise _error(
                "config_expired",
                f"The fleet's signed metadata has expired ({exc}); configuration changes "
                "pause, scanning goes on with the configuration in effect.",
                "Dữ liệu ký của cấu hình đã hết hạn; tạm dừng thay đổi cấu hình, máy vẫn quét "
                "bình thường.",
            ) from exc
        except (tuf_errors.DownloadError, OSError) as exc:
            raise _error(
                "config_unreachable",
                f"The signed configuration could not be fetched ({exc}); trying again later.",
                "Không tải được cấu hình từ trung tâm; sẽ thử lại sau.",
            ) from exc
        except tuf_errors.RepositoryError as exc:
            agent.audit("config.untrusted", problem=f"{type(exc).__name__}: {exc}")
            raise _error(
                "config_untrusted",
                f"The signed configuration was refused ({type(exc).__name__}: {exc}); "
                "the configuration in effect is kept.",
                "Cấu hình nhận được không qua kiểm tra chữ ký nên bị từ chối; máy giữ cấu hình "
                "đang dùng.",
            ) from exc
        self._checked_at = time.monotonic()
        state.config_synced_hint = hint
        docs = [fleet_doc, group_doc, kiosk_doc]
        version = max((int(d.get("version", 0)) for d in docs if d), default=None)
        if version is None or (version == state.config_version and state.config_error is None):
            agent.save()
            return state.config_version
        if state.config_error and state.config_error.startswith(f"v{version}:"):
            agent.save()  # refused already; reported with every heartbeat
            return state.config_version
        staging = config_dir(agent.state_dir) / f"v{version}"
        try:
            overrides, _ = prepare(agent.settings, docs, staging)
        except FleetConfigError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            state.config_error = f"v{version}: {exc.reason}"
            agent.save()
            agent.audit("config.refused", version=version, reason=exc.reason)
            raise _error(
                "config_invalid",
                f"Signed configuration v{version} was refused: {exc.reason}",
                f"Cấu hình phiên bản {version} bị từ chối vì không hợp lệ: {exc.reason}",
            ) from None
        previous = state.config_version
        write_applied(agent.state_dir, version, overrides)
        state.config_version = version
        state.config_error = None
        agent.save()
        agent.audit("config.applied", version=version, previous=previous, group=group)
        self._prune(keep={f"v{version}", f"v{previous}"})
        log.info("signed configuration v%s applied", version)
        return version

    def _prune(self, keep: set[str]) -> None:
        for d in config_dir(self.agent.state_dir).glob("v*"):
            if d.is_dir() and d.name not in keep:
                shutil.rmtree(d, ignore_errors=True)
