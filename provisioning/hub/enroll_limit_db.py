"""The enrollment rate limit's entries in the hub database, shared by every hub replica.

The rules (when an address is blocked, for how long) are :mod:`provisioning.hub.enroll_limit`;
this stores their :class:`LimitEntry` per client address and runs each decision in one
transaction with the read and the write of its entry.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provisioning.hub.db import Database, enroll_limits
from provisioning.hub.enroll_limit import DROP, UPDATE, LimitEntry


class EnrollLimitDB:
    """Reads and writes of the ``enroll_limits`` table
    (for :class:`provisioning.hub.enroll_limit.DbEnrollLimiter`)."""

    def __init__(self, db: Database):
        self.db = db

    @staticmethod
    def _limit_entry(conn: Connection, address: str) -> LimitEntry | None:
        row = conn.execute(
            sa.select(enroll_limits).where(enroll_limits.c.address == address)
        ).one_or_none()
        if row is None:
            return None
        return LimitEntry(
            failures=deque(json.loads(row.failures)),
            blocked_until=row.blocked_until,
            touched=row.touched,
            failures_at_block=row.failures_at_block,
        )

    @staticmethod
    def _save_limit_entry(conn: Connection, address: str, entry: LimitEntry, new: bool) -> None:
        values = dict(
            failures=json.dumps(list(entry.failures)),
            blocked_until=entry.blocked_until,
            failures_at_block=entry.failures_at_block,
            touched=entry.touched,
        )
        if new:
            conn.execute(enroll_limits.insert().values(address=address, **values))
        else:
            conn.execute(
                enroll_limits.update().where(enroll_limits.c.address == address).values(**values)
            )

    def enroll_limit_step(
        self, address: str, step: Callable[[LimitEntry | None], tuple[Any, str]]
    ) -> Any:
        """Run the limiter's decision on ``address``'s stored entry in one transaction and
        store what it asks for (keep, drop, or update the entry it changed)."""
        with self.db.tx() as conn:
            entry = self._limit_entry(conn, address)
            verdict, action = step(entry)
            if action == DROP:
                conn.execute(enroll_limits.delete().where(enroll_limits.c.address == address))
            elif action == UPDATE and entry is not None:
                self._save_limit_entry(conn, address, entry, new=False)
        return verdict

    def enroll_limit_failure(
        self,
        address: str,
        now: float,
        update: Callable[[LimitEntry | None], LimitEntry],
        *,
        stale_before: float,
        max_tracked: int,
    ) -> int:
        """Count a failure of ``address`` (``update`` adds it to the entry); drop stale
        entries and, for a new address at ``max_tracked``, the least recently active ones.
        Returns how many were evicted for room."""
        with self.db.tx() as conn:
            conn.execute(enroll_limits.delete().where(enroll_limits.c.touched <= stale_before))
            entry = self._limit_entry(conn, address)
            evicted = 0
            if entry is None:
                count = conn.execute(
                    sa.select(sa.func.count()).select_from(enroll_limits)
                ).scalar_one()
                if count >= max_tracked:
                    oldest = (
                        sa.select(enroll_limits.c.address)
                        .order_by(enroll_limits.c.touched)
                        .limit(count - max_tracked + 1)
                        .scalar_subquery()
                    )
                    evicted = conn.execute(
                        enroll_limits.delete().where(enroll_limits.c.address.in_(oldest))
                    ).rowcount
            self._save_limit_entry(conn, address, update(entry), new=entry is None)
        return evicted
