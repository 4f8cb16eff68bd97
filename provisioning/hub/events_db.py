"""The hub's event log as its readers and writers outside a transaction see it.

Every change that matters is one ``events`` row written in the same transaction as the
change (:func:`provisioning.hub.db.record_event`); this is the log on its own: an event
that goes with no other write (a blocked attempt, a published configuration) and the
reads of the admin page, ``sohoa hub events`` and the tests.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from provisioning.hub.db import Database, events, record_event


class EventLog:
    """Append to and read the ``events`` table."""

    def __init__(self, db: Database):
        self.db = db

    def event(self, kind: str, kiosk_id: str | None, **detail: Any) -> None:
        with self.db.tx() as conn:
            record_event(conn, kind, kiosk_id, **detail)

    def events(
        self, kind: str | None = None, *, kiosk_id: str | None = None, last: int | None = None
    ) -> list[dict[str, Any]]:
        """The event log, oldest first; ``last``: only the newest that many."""
        q = sa.select(events).order_by(events.c.id.desc() if last else events.c.id)
        if kind:
            q = q.where(events.c.kind == kind)
        if kiosk_id:
            q = q.where(events.c.kiosk_id == kiosk_id)
        if last:
            q = q.limit(last)
        with self.db.engine.connect() as conn:
            rows = [{**row._asdict(), "detail": json.loads(row.detail)} for row in conn.execute(q)]
        return rows[::-1] if last else rows
