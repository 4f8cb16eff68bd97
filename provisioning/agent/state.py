"""The agent's own state, one small JSON file in its state dir that it alone reads and
writes (0600, atomically, fsynced).

What must survive an agent restart or a power cut: the sequence of heartbeats, the last
clock offset measured against the hub, the interval the hub asked for, the version of the
signed configuration applied, why the newest one was refused. Remote commands keep their own
journal (``commands``), so this file stays small.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from firmware.fleet.link import PRIVATE_FILE_MODE
from sohoa_common.atomic import atomic_write_text

log = logging.getLogger("sohoa.agent")

STATE_NAME = "state.json"


@dataclass
class AgentState:
    seq: int = 0
    last_heartbeat_at: str | None = None
    interval_s: float | None = None  # what the hub's last answer asked for
    clock_offset_s: float | None = None  # kiosk minus hub, seconds
    config_version: int | None = None
    config_error: str | None = None
    hub_config_hint: int | None = None  # TUF timestamp version named by the hub
    config_synced_hint: int | None = None  # the hint of the last successful sync
    errors: list[dict[str, Any]] = field(default_factory=list)


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_NAME


def load_state(state_dir: Path) -> AgentState:
    """The stored state; a missing or damaged file starts afresh (it holds no secrets and
    nothing that cannot be learnt again from the hub)."""
    try:
        data = json.loads(state_path(state_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AgentState()
    except (OSError, ValueError) as exc:
        log.warning("agent state unreadable (%s); starting afresh", exc)
        return AgentState()
    known = {f.name for f in fields(AgentState)}
    return AgentState(**{k: v for k, v in data.items() if k in known})


def save_state(state_dir: Path, state: AgentState) -> None:
    atomic_write_text(
        state_path(state_dir),
        json.dumps(asdict(state), ensure_ascii=False, sort_keys=True),
        mode=PRIVATE_FILE_MODE,
    )
