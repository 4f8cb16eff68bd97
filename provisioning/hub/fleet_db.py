"""The fleet's tables: the latest heartbeat of each kiosk and a bounded history.

Separate from :mod:`provisioning.hub.db` (enrollment, uploads) but on the same engine, so
one SQLite file or one PostgreSQL database holds the whole hub. The latest state is one row
per kiosk (overwritten every heartbeat); the history keeps at most one heartbeat per kiosk
per ``history_every_s`` and nothing older than ``history_days``, so at 3,300 kiosks the
database stays bounded however long the hub runs (``bench/fleet.py`` measures it).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from provisioning.hub.db import TZDateTime, devices, now_utc
from provisioning.hub.table_setup import create_tables

metadata = sa.MetaData()

heartbeat_latest = sa.Table(
    "heartbeat_latest",
    metadata,
    sa.Column("kiosk_id", sa.String(64), primary_key=True),
    sa.Column("received_at", TZDateTime, nullable=False),
    sa.Column("interval_s", sa.Float, nullable=False),  # what the hub told the kiosk
    sa.Column("history_at", TZDateTime),  # when the last history row was kept
    sa.Column("body", sa.Text, nullable=False),  # compact JSON as validated
)

heartbeat_history = sa.Table(
    "heartbeat_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kiosk_id", sa.String(64), nullable=False),
    sa.Column("received_at", TZDateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("heartbeat_history_by_kiosk", "kiosk_id", "received_at"),
    sa.Index("heartbeat_history_by_time", "received_at"),
)

# The heartbeat's statements, built once: 55 heartbeats a second each building five
# statements made some twenty-five cyclic objects apiece (bind parameters and their labels),
# garbage only the collector frees, and its collections hold every request in flight.
_KIOSK: sa.BindParameter[str] = sa.bindparam("b_kiosk_id")
_LATEST_OF = sa.select(heartbeat_latest).where(heartbeat_latest.c.kiosk_id == _KIOSK)
_INSERT_LATEST = heartbeat_latest.insert()
_UPDATE_LATEST = heartbeat_latest.update().where(heartbeat_latest.c.kiosk_id == _KIOSK)
_INSERT_HISTORY = heartbeat_history.insert()
_TOUCH_DEVICE = devices.update().where(devices.c.kiosk_id == _KIOSK)


class FleetDB:
    """Reads and writes of the heartbeat tables (one transaction per method)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def create_schema(self) -> None:
        create_tables(metadata, self.engine)

    def record_heartbeat(
        self,
        kiosk_id: str,
        body: dict[str, Any],
        interval_s: float,
        history_every: timedelta,
        at: datetime | None = None,
    ) -> dict[str, Any] | None:
        """Store ``body`` as the kiosk's latest state; also in the history when the last
        history row is older than ``history_every``; and the device's ``last_seen_at``
        (which :func:`~provisioning.hub.auth.authenticate` leaves to this transaction on
        the heartbeat route): one commit per heartbeat. Returns the previous latest state
        (``received_at``, ``interval_s``, ``body``) or None, read in the same transaction on
        PostgreSQL; SQLite's driver begins the transaction at its first write, so there the
        read comes just before it, which is the same thing for one kiosk, whose heartbeats
        follow each other."""
        at = at or now_utc()
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        with self.engine.begin() as conn:
            row = conn.execute(_LATEST_OF, {"b_kiosk_id": kiosk_id}).one_or_none()
            last_kept = row.history_at if row is not None else None
            keep = last_kept is None or at - last_kept >= history_every
            values = {
                "received_at": at,
                "interval_s": interval_s,
                "body": text,
                "history_at": at if keep else last_kept,
            }
            if row is None:
                conn.execute(_INSERT_LATEST, {"kiosk_id": kiosk_id, **values})
            else:
                conn.execute(_UPDATE_LATEST, {"b_kiosk_id": kiosk_id, **values})
            if keep:
                conn.execute(
                    _INSERT_HISTORY, {"kiosk_id": kiosk_id, "received_at": at, "body": text}
                )
            conn.execute(_TOUCH_DEVICE, {"b_kiosk_id": kiosk_id, "last_seen_at": at})
        if row is None:
            return None
        return {
            "received_at": row.received_at,
            "interval_s": row.interval_s,
            "body": json.loads(row.body),
        }

    def latest(self, kiosk_id: str | None = None) -> dict[str, dict[str, Any]]:
        """kiosk id -> {received_at, interval_s, body} of its latest heartbeat."""
        t = heartbeat_latest.c
        q = sa.select(t.kiosk_id, t.received_at, t.interval_s, t.body)
        if kiosk_id is not None:
            q = q.where(heartbeat_latest.c.kiosk_id == kiosk_id)
        with self.engine.connect() as conn:
            return {
                r.kiosk_id: {
                    "received_at": r.received_at,
                    "interval_s": r.interval_s,
                    "body": json.loads(r.body),
                }
                for r in conn.execute(q)
            }

    def history(self, kiosk_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The kept heartbeats of one kiosk, newest first."""
        q = (
            sa.select(heartbeat_history)
            .where(heartbeat_history.c.kiosk_id == kiosk_id)
            .order_by(heartbeat_history.c.received_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                {"received_at": r.received_at, "body": json.loads(r.body)} for r in conn.execute(q)
            ]

    def prune_history(self, older_than: datetime) -> int:
        """Delete history rows received before ``older_than``; how many went."""
        with self.engine.begin() as conn:
            res = conn.execute(
                heartbeat_history.delete().where(heartbeat_history.c.received_at < older_than)
            )
        return int(res.rowcount or 0)

    def device_group(self, kiosk_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(devices.c.group).where(devices.c.kiosk_id == kiosk_id)
            ).scalar_one_or_none()

    def ping(self) -> None:
        """One round trip to the database (raises when it is unreachable)."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def history_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(heartbeat_history)).scalar_one()
            )
