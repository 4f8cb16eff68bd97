"""The maintenance screen's data: device status, doctor checks, audit tail, storage.

The doctor's camera/pedal/LED checks open the devices themselves, which the running
service already holds (a GPIO pin cannot be claimed twice), so here those three come from
the live kiosk and only the other checks (OCR data, disk, audit chain...) are run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from firmware.doctor import CHECKS, Check
from kiosk_ui.audit_words import action_label, role_label
from kiosk_ui.context import Ui
from kiosk_ui.i18n import Translator
from kiosk_ui.views import disk_usage

DEVICE_CHECKS = {"check_camera", "check_pedal", "check_leds"}


def _dir_size(path: Path) -> int:
    total = 0
    if path.exists():
        for p in path.rglob("*"):
            try:
                if p.is_file():
                    total += p.stat().st_size
            except OSError:
                continue
    return total


def device_checks(ui: Ui, tr: Translator) -> list[Check]:
    k = ui.kiosk
    out = []
    for name, dev, label in (
        ("camera", k.camera, tr._("Camera")),
        ("pedal", k.pedal, tr._("Pedal")),
        ("leds", k.leds, tr._("Status light")),
    ):
        ok = dev is not None and bool(getattr(dev, "available", True))
        backend = getattr(getattr(k.settings, name, None), "backend", "?")
        text = f"{label}: {backend} - " + (tr._("Working") if ok else tr._("Not connected"))
        out.append(Check(name, ok, text, text))
    return out


def about(ui: Ui, status: dict[str, Any]) -> dict[str, Any]:
    """Version, queue and hub at a glance for IT on the phone with the office."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("sohoa")
    except PackageNotFoundError:
        ver = "dev"
    up = status.get("uplink") or {}
    return {
        "version": ver,
        "kiosk_id": status.get("kiosk_id"),
        "backlog": (status.get("ocr") or {}).get("backlog"),
        "waiting": up.get("waiting"),
        "delivered": up.get("delivered"),
        "hub": up.get("hub") or "—",
        "enrolled": up.get("enrolled"),
        "certificate_expires": (up.get("certificate_expires") or "—")[:10],
        "last_success": (up.get("last_success") or "—")[:16].replace("T", " "),
    }


def report(ui: Ui, tr: Translator) -> dict[str, Any]:
    checks = device_checks(ui, tr)
    for fn in CHECKS:
        if fn.__name__ in DEVICE_CHECKS:
            continue
        try:
            checks.append(fn(ui.kiosk.settings))
        except Exception as exc:  # a failing check is a result, not a crash
            checks.append(Check(fn.__name__.removeprefix("check_"), False, str(exc), str(exc)))
    vi = tr.lang == "vi"
    audit = ui.kiosk.catalog.recent_audit(30)
    data_dir = Path(ui.kiosk.settings.data_dir)
    paths = ui.kiosk.paths
    status = ui.kiosk.status()
    return {
        "checks": [
            {
                "name": c.name,
                "ok": c.ok,
                "detail": c.detail_vi if vi else c.detail_en,
                "fix": (c.fix_vi if vi else c.fix_en) if not c.ok else "",
            }
            for c in checks
        ],
        "audit": [
            {
                "seq": r["seq"],
                "ts": r["ts"],
                "actor": r["actor"],
                "action": r["action"],
                "action_label": action_label(r["action"], tr),
                "doc_id": r["doc_id"],
            }
            for r in audit
        ],
        "storage": {
            **disk_usage(data_dir),
            "data_dir": str(data_dir),
            "spool": _dir_size(paths.spool),
            "work": _dir_size(paths.work),
            "sealed": _dir_size(paths.sealed),
        },
        "status": status,
        "about": about(ui, status),
        "operators": [
            {
                **o.public(),
                "role_label": role_label(o.role, tr),
                "disabled": o.disabled,
                "locked": bool(o.locked_until and o.locked_until > time.time()),
            }
            for o in ui.operators.list()
        ],
    }
