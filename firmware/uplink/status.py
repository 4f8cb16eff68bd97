"""What the status bar and ``sohoa queue`` say about the uplink, in plain words.

Computed from the catalog and the identity on disk (so ``sohoa queue`` in another process
tells the same story as the running service), plus, when given, the live worker's state
(sending, backing off, outside the window).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firmware.store.paths import DataPaths
from firmware.uplink.identity import Identity, load_identity
from firmware.uplink.outbox import Outbox

if TYPE_CHECKING:
    from firmware.config import UplinkConfig
    from firmware.store.catalog import Catalog
    from firmware.uplink.worker import UplinkWorker

NOT_ENROLLED = {
    "code": "not_enrolled",
    "message_en": "This kiosk is not enrolled with the provincial hub yet; documents wait here.",
    "message_vi": "Máy chưa đăng ký với trung tâm tỉnh; tài liệu được giữ lại chờ gửi.",
}
DISABLED = {
    "code": "uplink_disabled",
    "message_en": "Sending to the hub is switched off in the configuration ([uplink] enabled).",
    "message_vi": "Chức năng gửi về trung tâm đang tắt trong cấu hình.",
}


def row_reason(row: dict[str, Any], blocked: dict[str, str] | None) -> dict[str, Any] | None:
    """Why a waiting document is still here: the kiosk-wide block first (not enrolled,
    switched off), else its own last failure."""
    if row.get("delivered_at"):
        return None
    if blocked is not None:
        return dict(blocked)
    err = row.get("last_error")
    if not row.get("last_error_code") or not isinstance(err, dict):
        return None
    return {
        "code": row["last_error_code"],
        "message_en": err.get("en", ""),
        "message_vi": err.get("vi", ""),
        "at": err.get("at"),
    }


def blocking_reason(cfg: UplinkConfig, ident: Identity | None) -> dict[str, str] | None:
    """Why nothing is sent at all: switched off, or no identity (``load_identity``)."""
    if not cfg.enabled:
        return DISABLED
    if ident is None:
        return NOT_ENROLLED
    return None


def uplink_status(
    catalog: Catalog,
    paths: DataPaths,
    cfg: UplinkConfig,
    worker: UplinkWorker | None = None,
) -> dict[str, Any]:
    """``Kiosk.status()["uplink"]``: counts, last success, last error, a one-line summary."""
    box = Outbox(catalog)
    counts = box.counts()
    ident = load_identity(paths)  # read once: the status bar asks every few seconds
    blocked = blocking_reason(cfg, ident)
    last_error: dict[str, Any] | None = None
    if worker is not None and worker.last_error is not None:
        last_error = dict(worker.last_error)
    else:
        failing = [r for r in box.rows(waiting=True) if r.get("last_error_code")]
        if failing:
            latest = max(failing, key=lambda r: (r["last_error"] or {}).get("at") or "")
            last_error = row_reason(latest, None)
    state = worker.state if worker is not None else ("blocked" if blocked else "stopped")
    if blocked is not None:
        state = blocked["code"]
    waiting, delivered = counts["waiting"], counts["delivered"]
    if blocked is not None:
        vi = f"{waiting} tài liệu chờ gửi. {blocked['message_vi']}"
        en = f"{waiting} document(s) waiting. {blocked['message_en']}"
    elif waiting == 0:
        vi, en = "Đã gửi hết tài liệu.", "Everything has been sent."
    elif last_error is not None:  # also while retrying: the clerk should see why
        vi = f"{waiting} tài liệu chờ gửi. Lỗi gần nhất: {last_error['message_vi']}"
        en = f"{waiting} document(s) waiting. Last error: {last_error['message_en']}"
    else:
        vi, en = f"Đang gửi: còn {waiting} tài liệu.", f"Sending: {waiting} document(s) left."
    return {
        "enabled": cfg.enabled,
        "enrolled": ident is not None,
        "hub": (cfg.hub_url or ident.hub_url) if ident else (cfg.hub_url or None),
        "certificate_expires": ident.not_after.isoformat() if ident else None,
        "state": state,
        "sending": worker.current if worker is not None else None,
        "waiting": waiting,
        "failing": counts["failing"],
        "delivered": delivered,
        "last_success": (worker.last_success if worker is not None else None)
        or box.last_delivery(),
        "last_error": last_error,
        "summary_vi": vi,
        "summary_en": en,
    }
