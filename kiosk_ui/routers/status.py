"""The status bar (devices, queues, disk, network) and the digitization progress."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from firmware.fleet.link import agent_state_dir, read_update_state
from kiosk_ui.deps import UiDep, Viewer, run
from kiosk_ui.schemas.status import Progress, StatusBar, UpdateState
from kiosk_ui.status_words import explain as explain_status
from kiosk_ui.views import digitized_counts, disk_usage, progress_data, state_rows

router = APIRouter(prefix="/api/v1", tags=["status"])


def network_state(up: dict[str, Any]) -> dict[str, Any]:
    """The status bar's Network item from the uplink status: ok (sending or nothing
    failing), failing (retrying after an error), paused (outside the upload window) or
    off (not enrolled, switched off, certificate expired); the summary says why."""
    state = up["state"]
    if state in ("not_enrolled", "disabled", "certificate_expired", "stopped"):
        tone = "off"
    elif state == "waiting_window":
        tone = "paused"
    elif up["last_error"] is not None and up["waiting"] > 0:
        tone = "failing"
    else:
        tone = "ok"
    return {
        "state": tone,
        "uplink": state,
        "last_success": up["last_success"],
        "summary_vi": up["summary_vi"],
        "summary_en": up["summary_en"],
    }


@router.get("/update", response_model=UpdateState, response_model_exclude_unset=True)
async def update_state(ui: UiDep) -> Any:
    """Where the agent's application update stands (no sign-in: the notice covers every
    screen, the sign-in screen too); ``switching`` while the screen says so. The file is
    the agent's: only the fields this kiosk knows are read (a newer agent may write more)."""
    state = await run(read_update_state, agent_state_dir(ui.kiosk.settings))
    return UpdateState(**{k: v for k, v in state.items() if k in UpdateState.model_fields})


@router.get("/status", response_model=StatusBar)
async def status(request: Request, s: Viewer, ui: UiDep) -> Any:
    st = ui.kiosk.status()
    counts = ui.kiosk.catalog.state_counts()
    out = {
        "camera": st["camera"],
        "pedal": st["pedal"],
        "scanner": st["scanner"],
        "capture_source": st["capture_source"],
        "ocr": st["ocr"],
        "usb": await run(ui.exports.usb_state),
        "network": network_state(st["uplink"]),
        "upload_queue": st["uplink"]["waiting"],
        "disk": disk_usage(Path(ui.kiosk.settings.data_dir)),
        "time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "current_document": st["current_document"],
        "backlog": st["ocr"]["backlog"],
        "documents": counts,
        "last_error": st["last_error"],
    }
    # what a tap on each status item says (there is no hover on a touchscreen)
    out["explain"] = explain_status(out, ui.tr(request, s))
    return out


@router.get("/progress", response_model=Progress)
async def progress(request: Request, s: Viewer, ui: UiDep) -> Any:
    tr = ui.tr(request, s)
    counts = ui.kiosk.catalog.state_counts()
    done, pages = digitized_counts(ui, counts)
    return {
        "states": state_rows(counts, tr),
        "digitized_documents": done,
        "digitized_pages": pages,
        "total_documents": sum(counts.values()),
        # per register / year / type, the summary sentence, originals not returned
        "register": await run(progress_data, ui),
    }
