"""What each status-bar item means and what to do, for a tap on it (issue 16: a network
failure's reason was only in a hover tooltip, and a touchscreen has no hover).

Built on the server from the same ``/status`` data, in the session's language, from the
catalogs: the screen shows it as it is.
"""

from __future__ import annotations

from typing import Any

from firmware.doctor import MIN_FREE_BYTES
from kiosk_ui.i18n import Translator
from kiosk_ui.labels import N_
from sohoa_common.numbers import size

TODO = {
    "camera_ok": N_("Nothing to do."),
    "camera_bad": N_(
        "Check the camera's cable and that it is switched on; the kiosk finds it again by "
        "itself. If it stays like this, call IT support."
    ),
    "pedal_bad": N_("Check the pedal's plug. You can still capture with the Capture page button."),
    "net_ok": N_("Nothing to do: documents go to the provincial archive by themselves."),
    "net_failing": N_(
        "Nothing is lost: documents wait on this kiosk and are sent again by themselves. "
        "If this lasts more than a day, call provincial IT."
    ),
    "net_paused": N_("Documents are sent in the upload window set by provincial IT."),
    "net_off": N_("Documents are kept on this kiosk. Ask provincial IT to enroll or re-enroll it."),
    "disk_ok": N_("Enough space."),
    "disk_low": N_(
        "Little space left: export or upload the waiting documents, or call IT support."
    ),
    "usb": N_("For confidential documents, use the Export screen."),
}


def explain(st: dict[str, Any], tr: Translator) -> dict[str, dict[str, str]]:
    """item id (as in the status bar) -> {"state", "todo"} in the session's language."""
    vi = tr.lang == "vi"
    cam = bool(st["camera"]["available"])
    pedal = bool(st["pedal"]["available"])
    net = st["network"]
    free = (st.get("disk") or {}).get("free", 0) or 0
    usb = st.get("usb") or {}
    summary = net["summary_vi"] if vi else net["summary_en"]
    return {
        "st-camera": {
            "state": tr._("Working") if cam else tr._("Not connected"),
            "todo": tr._(TODO["camera_ok" if cam else "camera_bad"]),
        },
        "st-pedal": {
            "state": tr._("Working") if pedal else tr._("Not connected"),
            "todo": tr._(TODO["camera_ok"] if pedal else TODO["pedal_bad"]),
        },
        "st-net": {"state": summary, "todo": tr._(TODO[f"net_{net['state']}"])},
        "st-queue": {"state": summary, "todo": tr._(TODO[f"net_{net['state']}"])},
        "st-disk": {
            "state": size(free, "GB", "vi" if vi else "en"),
            "todo": tr._(TODO["disk_low" if free < MIN_FREE_BYTES else "disk_ok"]),
        },
        "st-usb": {"state": usb.get("label") or usb.get("state", ""), "todo": tr._(TODO["usb"])},
    }
