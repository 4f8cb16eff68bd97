"""``[fleet]`` in hub.toml: heartbeat pacing, late/offline marking, telemetry retention.

Kept beside (not inside) ``config.py`` so the fleet's knobs live with the fleet code; the
hub's settings include it as ``HubSettings.fleet``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FleetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heartbeat_s: float = Field(
        60, ge=5, le=3600, description="Heartbeat interval the hub asks kiosks for, in seconds."
    )
    max_heartbeats_per_s: float = Field(
        100,
        gt=0,
        description="Load this hub process takes before it stretches the interval it answers "
        "(kiosks then come back later, spreading the load).",
    )
    max_stretch: float = Field(
        10, ge=1, le=100, description="Longest stretch of the interval, as a multiple."
    )
    late_after: float = Field(
        2.5,
        gt=1,
        description="A kiosk is late once this many of its intervals passed without a heartbeat.",
    )
    offline_after_s: float = Field(
        900, gt=0, description="A kiosk is offline after this many seconds without a heartbeat."
    )
    history_every_s: float = Field(
        3600,
        ge=0,
        description="Keep one heartbeat per kiosk in the history this often (the latest one "
        "is always kept); 0 keeps every heartbeat.",
    )
    history_days: float = Field(
        14, gt=0, le=3660, description="Days of heartbeat history kept per kiosk."
    )
