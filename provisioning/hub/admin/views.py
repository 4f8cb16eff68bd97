"""The admin page's templates and filters: dates in Hanoi time as dd/mm/yyyy, sizes as the
kiosk writes them, an event's details without Python's own words (``None``, ``False``,
``[{'key': ...}]``)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from provisioning.hub.admin.accounts import Session
from provisioning.hub.admin.words import COMMAND_VI, EVENT_VI, KEY_VI, STATE_VI
from sohoa_common.numbers import size

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _when(value: Any) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.astimezone(TZ).strftime("%d/%m/%Y %H:%M")


def disk_gb(n: Any) -> str:
    """Bytes as GB; "—" for a kiosk that has not reported its disk yet (enrolled, no
    heartbeat: the template's lookup is then undefined, which once made the whole fleet
    table answer 500)."""
    if isinstance(n, bool) or not isinstance(n, int | float):
        return "—"
    return size(n, "GB")


def _size(n: Any) -> str:
    """Bytes, short (a log bundle's size beside its download link); "" when unknown."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        return ""
    return size(n)


_env.filters["when"] = _when
_env.filters["gb"] = disk_gb
_env.filters["size"] = _size


def event_detail(detail: Any) -> str:
    """An event's details as a person reads them: empty values left out, yes/no for
    booleans, lists and objects as compact JSON with their diacritics."""
    if not isinstance(detail, dict):
        return "" if detail is None else str(detail)
    parts = []
    for key, val in sorted(detail.items()):
        if val is None or val == "" or val == [] or val == {}:
            continue
        if isinstance(val, bool):
            text = "có / yes" if val else "không / no"
        elif isinstance(val, dict | list):
            text = json.dumps(val, ensure_ascii=False, default=str)
        else:
            text = str(val)
        parts.append(f"{key}: {text}")
    return "; ".join(parts)


_env.filters["detail"] = event_detail
_env.globals.update(STATE_VI=STATE_VI, COMMAND_VI=COMMAND_VI, KEY_VI=KEY_VI, EVENT_VI=EVENT_VI)


def render(name: str, session: Session | None, *, status: int = 200, **ctx: Any) -> HTMLResponse:
    """The page; ``status`` is the HTTP status too (a refused action answers 403, not a
    200 page that only says so)."""
    return HTMLResponse(
        _env.get_template(name).render(session=session, status=status, **ctx), status_code=status
    )
