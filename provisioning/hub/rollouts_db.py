"""The rollout tables: rollouts (release, target, waves, state), each kiosk's latest update
outcome per rollout, and the maintenance window of each group.

On the hub's engine (SQLite or PostgreSQL, SQLAlchemy Core) like :mod:`.fleet_db`. A
rollout's waves and target are small JSON documents in its row: they are read whole and
never queried by part. Outcomes are one row per (rollout, kiosk), overwritten as the kiosk
moves from ``downloading`` to ``committed`` or ``rolled_back``, so a wave's counts are one
grouped query whatever the fleet size.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from provisioning.hub.db import TZDateTime, devices
from provisioning.hub.table_setup import create_tables

metadata = sa.MetaData()

rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("release", sa.Text, nullable=False),  # JSON {version, target, sha256, length}
    sa.Column("previous", sa.Text),  # JSON of the release abort returns kiosks to
    sa.Column("target", sa.Text, nullable=False),  # JSON {groups, tags, kiosks}
    sa.Column("waves", sa.Text, nullable=False),  # JSON [{percent, soak_s, success, failure}]
    sa.Column("wave", sa.Integer, nullable=False),  # index of the current wave
    sa.Column("state", sa.String(16), nullable=False),  # active|paused|aborted|completed
    sa.Column("wave_started_at", TZDateTime, nullable=False),
    sa.Column("created_at", TZDateTime, nullable=False),
    sa.Column("created_by", sa.String(128)),
    sa.Column("reason", sa.Text),  # why it is paused / aborted
    sa.Column("resumed_at", TZDateTime),  # rollbacks before this no longer pause it
)

rollout_status = sa.Table(
    "rollout_status",
    metadata,
    sa.Column("rollout_id", sa.String(64), primary_key=True),
    sa.Column("kiosk_id", sa.String(64), primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", TZDateTime, nullable=False),
)

maintenance_windows = sa.Table(
    "maintenance_windows",
    metadata,
    sa.Column("group", sa.String(128), primary_key=True),
    sa.Column("start", sa.String(5), nullable=False),  # HH:MM local time
    sa.Column("end", sa.String(5), nullable=False),  # HH:MM; before start = over midnight
    sa.Column("tz", sa.String(64), nullable=False),
)

device_tags = sa.Table(
    "device_tags",
    metadata,
    sa.Column("kiosk_id", sa.String(64), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
)

#: Outcomes that end a kiosk's part in a rollout (a later ``downloading`` does not undo them).
FINAL = frozenset({"committed", "rolled_back", "refused"})

#: :meth:`RolloutDB.all`'s statements; asked on every heartbeat, so built once (see
#: ``fleet_db``'s statements).
_ALL = sa.select(rollouts).order_by(rollouts.c.created_at.desc())
_IN_STATES = _ALL.where(rollouts.c.state.in_(sa.bindparam("b_states", expanding=True)))


def _row(r: Any) -> dict[str, Any]:
    d = r._asdict()
    for key in ("release", "previous", "target", "waves"):
        d[key] = json.loads(d[key]) if d[key] else None
    return d


class RolloutDB:
    """Reads and writes of the rollout tables (one transaction per method)."""

    def __init__(self, engine: Engine, reads: Engine):
        self.engine = engine
        self._reads = reads  # the same engine for lone reads (HubDB.reads)

    def create_schema(self) -> None:
        create_tables(metadata, self.engine)

    def insert(self, values: dict[str, Any]) -> None:
        row = dict(values)
        for key in ("release", "previous", "target", "waves"):
            row[key] = json.dumps(row[key], ensure_ascii=False) if row.get(key) else None
        with self.engine.begin() as conn:
            conn.execute(rollouts.insert().values(**row))

    def get(self, rollout_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(rollouts).where(rollouts.c.id == rollout_id)).one_or_none()
        return _row(r) if r is not None else None

    def all(self, states: frozenset[str] | None = None) -> list[dict[str, Any]]:
        with self._reads.connect() as conn:
            if states:
                found = conn.execute(_IN_STATES, {"b_states": sorted(states)})
            else:
                found = conn.execute(_ALL)
            return [_row(r) for r in found]

    def update(self, rollout_id: str, expect_state: frozenset[str], **values: Any) -> bool:
        """Change the rollout only if it is still in one of ``expect_state`` (two admins or
        two hub replicas acting at once: one wins, the other is told)."""
        with self.engine.begin() as conn:
            res = conn.execute(
                rollouts.update()
                .where(rollouts.c.id == rollout_id, rollouts.c.state.in_(sorted(expect_state)))
                .values(**values)
            )
        return bool(res.rowcount)

    def record_outcome(
        self, rollout_id: str, kiosk_id: str, outcome: str, reason: str | None, at: datetime
    ) -> bool:
        """Keep the kiosk's latest outcome; True when it changed (a repeat is not news)."""
        with self.engine.begin() as conn:
            key = (rollout_status.c.rollout_id == rollout_id) & (
                rollout_status.c.kiosk_id == kiosk_id
            )
            old = conn.execute(sa.select(rollout_status).where(key)).one_or_none()
            if old is None:
                conn.execute(
                    rollout_status.insert().values(
                        rollout_id=rollout_id,
                        kiosk_id=kiosk_id,
                        outcome=outcome,
                        reason=reason,
                        at=at,
                    )
                )
                return True
            if old.outcome == outcome or (old.outcome in FINAL and outcome not in FINAL):
                return False
            conn.execute(
                rollout_status.update().where(key).values(outcome=outcome, reason=reason, at=at)
            )
            return True

    def outcomes(self, rollout_id: str) -> dict[str, dict[str, Any]]:
        """kiosk id -> {outcome, reason, at} for one rollout."""
        q = sa.select(rollout_status).where(rollout_status.c.rollout_id == rollout_id)
        with self.engine.connect() as conn:
            return {
                r.kiosk_id: {"outcome": r.outcome, "reason": r.reason, "at": r.at}
                for r in conn.execute(q)
            }

    def outcome_of(self, rollout_id: str, kiosk_id: str) -> str | None:
        q = sa.select(rollout_status.c.outcome).where(
            rollout_status.c.rollout_id == rollout_id, rollout_status.c.kiosk_id == kiosk_id
        )
        with self.engine.connect() as conn:
            return conn.execute(q).scalar_one_or_none()

    def active_devices(self) -> list[dict[str, Any]]:
        """Every active kiosk with its group and tags (the population a target selects)."""
        with self.engine.connect() as conn:
            tags: dict[str, set[str]] = {}
            for r in conn.execute(sa.select(device_tags)):
                tags.setdefault(r.kiosk_id, set()).add(r.tag)
            q = sa.select(devices.c.kiosk_id, devices.c.group).where(devices.c.status == "active")
            return [
                {"kiosk_id": r.kiosk_id, "group": r.group, "tags": tags.get(r.kiosk_id, set())}
                for r in conn.execute(q)
            ]

    def device(self, kiosk_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(devices.c.group).where(
                    devices.c.kiosk_id == kiosk_id, devices.c.status == "active"
                )
            ).one_or_none()
            if r is None:
                return None
            tags = set(
                conn.execute(
                    sa.select(device_tags.c.tag).where(device_tags.c.kiosk_id == kiosk_id)
                ).scalars()
            )
        return {"kiosk_id": kiosk_id, "group": r.group, "tags": tags}

    def set_tags(self, kiosk_id: str, tags: set[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(device_tags.delete().where(device_tags.c.kiosk_id == kiosk_id))
            for tag in sorted(tags):
                conn.execute(device_tags.insert().values(kiosk_id=kiosk_id, tag=tag))

    def set_window(self, group: str, start: str, end: str, tz: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(maintenance_windows.delete().where(maintenance_windows.c.group == group))
            conn.execute(
                maintenance_windows.insert().values(group=group, start=start, end=end, tz=tz)
            )

    def clear_window(self, group: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(maintenance_windows.delete().where(maintenance_windows.c.group == group))

    def windows(self) -> dict[str, dict[str, str]]:
        with self.engine.connect() as conn:
            return {
                r.group: {"start": r.start, "end": r.end, "tz": r.tz}
                for r in conn.execute(sa.select(maintenance_windows))
            }
