"""The background uploader: takes due documents from the outbox and delivers them.

One thread in the kiosk service (and ``sohoa queue send`` in the foreground). Each step:
switched off or not enrolled -> wait; outside the upload window -> wait for it; else the
oldest due document is sent (resuming where the hub stands) and marked delivered only when the hub's receipt passes
:func:`provisioning.schemas.verify_receipt` against the fleet CA for this very file,
document and device. Then local copies are purged per ``retention_days``. Every delivery
carries a freshly signed checkpoint of the audit chain's head (:mod:`firmware.store.audit_anchor`),
marked reported once the receipt verifies.

The certificate is renewed by the fleet agent (:mod:`provisioning.agent.renewal`), not
here: the worker reads the identity on disk at every step and reconnects when the agent
installed a new certificate.

Failures keep the document queued with the reason. A failure that made progress (a link
that drops every few hundred KB) is retried at once; one that did not waits an exponential
backoff with jitter (``backoff_base_s`` doubling up to ``backoff_max_s``, a random half of
it, so a hundred kiosks coming back after an outage do not hit the hub in step). Hub-wide
trouble (unreachable, 5xx, full, untrusted) pauses the whole queue; a problem with one
document (damaged local copy, bad receipt) only that document.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from firmware.errors import KioskError
from firmware.events import UplinkEvent
from firmware.store.audit_anchor import AuditAnchors
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink import window
from firmware.uplink.client import StopRequested, TusClient, UplinkError, UploadItem
from firmware.uplink.guard import HUB_REFUSED_CLASSIFIED, ClassifiedRefused, SendGuard
from firmware.uplink.identity import Identity, load_identity
from firmware.uplink.outbox import Outbox
from firmware.uplink.status import uplink_status
from provisioning.schemas import ReceiptError, verify_receipt
from sohoa_common.atomic import sha256_file

if TYPE_CHECKING:
    from firmware.config import Settings

log = logging.getLogger("sohoa.uplink")

#: Failures that say nothing about the document: the whole queue waits.
HUB_WIDE = frozenset(
    {
        "hub_unreachable",
        "hub_timeout",
        "connection_lost",
        "hub_error",
        "hub_storage_full",
        "hub_untrusted",
        "tls_refused",
        "not_authorized",
        "device_revoked",
        "certificate_expired",
        "hub_protocol",
        "hub_not_https",
    }
)
#: Longest idle sleep: the worker re-reads the outbox at least this often.
IDLE_S = 60.0


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    delay = min(cap, base * (2 ** max(0, failures - 1)))
    return delay / 2 + rng.uniform(0, delay / 2)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UplinkWorker:
    """Delivers the outbox; :meth:`step` does one unit of work, the thread loops on it."""

    def __init__(
        self,
        catalog: Catalog,
        paths: DataPaths,
        settings: Settings,
        *,
        on_change: Callable[[UplinkEvent], None] | None = None,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.catalog = catalog
        self.paths = paths
        self.settings = settings
        self.cfg = settings.uplink
        self.outbox = Outbox(catalog)
        self.guard = SendGuard(catalog)
        self.anchors = AuditAnchors(catalog, paths, settings.kiosk_id)
        self.on_change = on_change
        self.rng = rng or random.Random()
        self.transport = transport  # None: the network (tests may pass an in-process hub)
        self.state = "stopped"
        self.current: str | None = None
        self.last_success: str | None = None
        self.last_error: dict[str, Any] | None = None
        self._failures = 0  # consecutive hub-wide failures without progress
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: TusClient | None = None
        self._client_key: tuple[str, str] | None = None

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> UplinkWorker:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close_client()
        self._set_state("stopped")

    def wake(self) -> None:
        """Something changed (a document queued, ``retry``): look at the outbox now."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.step()
            except Exception:  # the uploader must never die silently
                log.exception("uplink step failed")
                wait = self.cfg.backoff_base_s
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()

    def status(self) -> dict[str, Any]:
        return uplink_status(self.catalog, self.paths, self.cfg, self)

    def _set_state(self, state: str, current: str | None = None) -> None:
        changed = (state, current) != (self.state, self.current)
        self.state, self.current = state, current
        if changed and self.on_change is not None:
            try:
                self.on_change(UplinkEvent(state=state, sending=current))
            except Exception:
                log.exception("uplink status listener failed")

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client, self._client_key = None, None

    def _should_stop(self) -> bool:
        return self._stop.is_set() or not window.is_open(self.cfg.window, dt.datetime.now())

    def _client_for(self, ident: Identity) -> TusClient:
        hub = self.cfg.hub_url or ident.hub_url
        key = (hub, str(ident.cert.serial_number))
        if self._client is None or self._client_key != key:
            self._close_client()
            self._client = TusClient(
                hub,
                ident.ssl_context(),
                chunk_size=self.cfg.chunk_kb * 1024,
                rate_bytes=self.cfg.bandwidth_kbit * 1000 / 8,
                connect_timeout=self.cfg.connect_timeout_s,
                io_timeout=self.cfg.io_timeout_s,
                should_stop=self._should_stop,
                transport=self.transport,
            )
            self._client_key = key
        return self._client

    # -- one step ---------------------------------------------------------------------
    def step(self) -> float:
        """Do the next piece of work; return how long to wait before the next step."""
        now = _now()
        if self.cfg.enabled:
            self._purge(now)
        if not self.cfg.enabled:
            self._set_state("disabled")
            return IDLE_S
        ident = load_identity(self.paths)
        if ident is None:
            self._set_state("not_enrolled")
            return IDLE_S
        if ident.expired(now):
            self._fail_hub_wide(
                UplinkError(
                    "certificate_expired",
                    "This kiosk's certificate has expired; enroll it again with a new token.",
                    "Chứng thư của máy đã hết hạn; cần đăng ký lại thiết bị bằng mã mới.",
                )
            )
            self._set_state("certificate_expired")
            return IDLE_S
        closed_for = window.seconds_until_open(self.cfg.window, dt.datetime.now())
        if closed_for > 0:
            self._set_state("waiting_window")
            return min(closed_for, IDLE_S)
        row = self.outbox.next_due(now)
        if row is None:
            self._set_state("idle")
            nxt = self.outbox.next_attempt_at()
            if nxt is None:
                return IDLE_S
            return min(IDLE_S, max(0.05, (nxt - now).total_seconds()))
        return self.deliver(row, ident)

    def _audit_anchor(self) -> tuple[dict[str, str], int | None]:
        """A freshly signed checkpoint of the audit head for this delivery's metadata.

        A failure to sign (the signing key unreadable) is logged and the document goes
        without an anchor: the delivery matters more, and the next one tries again.
        """
        try:
            return self.anchors.delivery_metadata()
        except (OSError, ValueError) as exc:
            log.error("could not sign an audit checkpoint for the hub: %s", exc)
            return {}, None

    def _fail_hub_wide(self, err: KioskError) -> None:
        self.last_error = {**err.to_dict(), "at": _now().isoformat()}

    def deliver(self, row: dict[str, Any], ident: Identity) -> float:
        """Send one document; record the outcome; return the wait before the next step."""
        doc_id = row["document_id"]
        self._set_state("sending", doc_id)
        path = Path(row["path"])
        start_offset = row["offset"] or 0
        progress = {"offset": start_offset}
        try:
            if not path.exists() or sha256_file(path) != row["sha256"]:
                raise UplinkError(
                    "local_copy_damaged",
                    "The sealed PDF on this kiosk is missing or no longer matches its "
                    "recorded SHA-256; it is not sent. Ask IT (sohoa recover).",
                    "Bản lưu của tài liệu trên máy bị mất hoặc bị hỏng nên không gửi; "
                    "hãy báo cán bộ kỹ thuật.",
                    transient=False,
                )
            level = self.guard.check(doc_id, path)  # refuses before anything is sent
            audit_meta, audit_seq = self._audit_anchor()
            item = UploadItem(
                document_id=doc_id,
                path=path,
                sha256=row["sha256"],
                size=row["size"],
                upload_url=row["upload_url"],
                filename=f"{doc_id}.pdf",
                confidentiality=level,
                guard=lambda: self.guard.check(doc_id, path),
                extra_meta=audit_meta,
            )

            def on_progress(url: str, offset: int) -> None:
                progress["offset"] = offset
                self.outbox.record_progress(doc_id, url, offset)

            receipt = self._client_for(ident).upload(item, on_progress)
            try:
                verify_receipt(receipt, ident.ca, row["sha256"], doc_id, self.settings.kiosk_id)
            except ReceiptError as exc:
                raise UplinkError(
                    exc.code,
                    f"The hub's receipt is not valid ({exc}); the document stays queued.",
                    f"Biên nhận của trung tâm không hợp lệ ({exc.message_vi}); "
                    "tài liệu vẫn chờ gửi.",
                    transient=False,
                    restart=True,  # next time ask afresh: the hub answers a stored file at once
                ) from exc
        except StopRequested:
            self._set_state("idle")
            return 0.0 if not self._stop.is_set() else IDLE_S
        except ClassifiedRefused as refusal:
            self.guard.refuse(doc_id, refusal)
            self._set_state("idle")
            return 0.0
        except UplinkError as err:
            if err.code == HUB_REFUSED_CLASSIFIED:  # the hub's own check said so
                self.guard.refuse(doc_id, ClassifiedRefused(doc_id, "hub", None, None))
                self._set_state("idle")
                return 0.0
            return self._failed(row, err, progressed=progress["offset"] > start_offset)
        self.outbox.mark_delivered(doc_id, receipt)
        if audit_seq is not None:
            self.anchors.mark_reported(audit_seq)
        self._failures = 0
        self.last_success = _now().isoformat(timespec="seconds")
        self.last_error = None
        log.info("delivered %s (%s)", doc_id, receipt.get("stored_as"))
        self._purge(_now())
        self._set_state("idle")
        return 0.0

    def _failed(self, row: dict[str, Any], err: UplinkError, *, progressed: bool) -> float:
        doc_id = row["document_id"]
        now = _now()
        hub_wide = err.code in HUB_WIDE
        if progressed:
            self._failures = 0
            delay = 0.0
        elif hub_wide:
            self._failures += 1
            # A link that dropped mid-request may have delivered bytes the hub kept (only
            # the next HEAD tells): the first drop is retried at once, repeats back off.
            first_drop = err.code == "connection_lost" and self._failures == 1
            delay = (
                0.0
                if first_drop
                else backoff_delay(
                    self._failures, self.cfg.backoff_base_s, self.cfg.backoff_max_s, self.rng
                )
            )
        else:
            delay = backoff_delay(
                row["attempts"] + 1, self.cfg.backoff_base_s, self.cfg.backoff_max_s, self.rng
            )
        self.outbox.record_failure(
            doc_id, err, now + dt.timedelta(seconds=delay), restart=err.restart
        )
        if err.code == "local_copy_damaged":
            self.catalog.audit("uplink", "integrity.error", doc_id, None, problem=err.message_en)
        self.last_error = {**err.to_dict(), "at": now.isoformat(timespec="seconds")}
        log.warning("upload of %s failed (%s): %s", doc_id, err.code, err.message_en)
        if hub_wide:
            self._close_client()
        self._set_state("backoff" if delay > 0 else "idle")
        return delay if hub_wide else 0.0

    def _purge(self, now: dt.datetime) -> None:
        try:
            purged = self.outbox.purge_due(self.paths, self.cfg.retention_days, now)
        except OSError as exc:
            log.error("purging delivered documents failed: %s", exc)
            return
        for doc_id in purged:
            log.info("purged local copies of delivered %s", doc_id)
