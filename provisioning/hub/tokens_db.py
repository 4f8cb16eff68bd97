"""One-time enrollment tokens: stored by hash, usable until used or expired.

Minting (the random token and its QR) is :mod:`provisioning.hub.tokens`; consuming a token
is part of the enrollment transaction in :mod:`provisioning.hub.devices_db`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from provisioning.hub.db import Database, now_utc, record_event, tokens


class TokenInvalid(Exception):
    """Unknown, used or expired enrollment token."""


class TokenDB:
    """Reads and writes of the ``tokens`` table (one transaction per method)."""

    def __init__(self, db: Database):
        self.db = db

    def add_token(
        self, token_hash: str, group: str, expires_at: datetime, by: str | None = None
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                tokens.insert().values(
                    token_hash=token_hash, group=group, created_at=now_utc(), expires_at=expires_at
                )
            )
            record_event(
                conn,
                "token_created",
                None,
                group=group,
                expires_at=expires_at,
                by=by,
                token=token_hash[:12],
            )

    def open_tokens(self) -> list[dict[str, Any]]:
        """Tokens not used and not expired, newest first: the ones a lost QR print could
        still enroll a kiosk with, so IT can see them and withdraw one."""
        now = now_utc()
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(tokens)
                .where(tokens.c.used_at.is_(None), tokens.c.expires_at > now)
                .order_by(tokens.c.created_at.desc())
            ).all()
        return [r._asdict() for r in rows]

    def withdraw_token(self, token_hash: str, by: str) -> bool:
        """End an unused token now (it expires); whether there was one to end."""
        now = now_utc()
        with self.db.tx() as conn:
            done = conn.execute(
                tokens.update()
                .where(
                    tokens.c.token_hash == token_hash,
                    tokens.c.used_at.is_(None),
                    tokens.c.expires_at > now,
                )
                .values(expires_at=now)
            ).rowcount
            if done:
                record_event(conn, "token_withdrawn", None, token=token_hash[:12], by=by)
        return bool(done)

    def usable_token(self, token_hash: str) -> dict[str, Any] | None:
        """The token's row when it is known, unused and not expired."""
        with self.db.engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens).where(tokens.c.token_hash == token_hash)
            ).one_or_none()
        if row is None or row.used_at is not None or row.expires_at <= now_utc():
            return None
        return row._asdict()
