"""One writer per upload across every hub replica: a lease row per upload being written.

A PATCH (or DELETE) claims the lease before it writes and renews it as bytes are
acknowledged; a replica that died mid-request blocks the upload only until its lease ends.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa

from provisioning.hub.db import Database, now_utc, upload_writers


class UploadWriterDB:
    """Claim, renew and release the ``upload_writers`` lease (one transaction per method)."""

    def __init__(self, db: Database):
        self.db = db

    def claim_writer(self, upload_id: str, lease_s: float) -> str | None:
        """Become the one writer of ``upload_id`` for ``lease_s`` (a token to renew and
        release with), or None while another request, on any replica, holds it."""
        token = secrets.token_hex(16)
        now = now_utc()
        until = now + timedelta(seconds=lease_s)
        try:
            with self.db.tx() as conn:
                conn.execute(
                    upload_writers.insert().values(upload_id=upload_id, token=token, until=until)
                )
            return token
        except sa.exc.IntegrityError:
            pass
        with self.db.tx() as conn:  # held: take it over only if its lease ran out
            done = conn.execute(
                upload_writers.update()
                .where(upload_writers.c.upload_id == upload_id, upload_writers.c.until < now)
                .values(token=token, until=until)
            )
        return token if done.rowcount == 1 else None

    def renew_writer(self, upload_id: str, token: str, lease_s: float) -> bool:
        """Extend the lease; False when it was lost (expired and taken by another writer)."""
        with self.db.tx() as conn:
            done = conn.execute(
                upload_writers.update()
                .where(upload_writers.c.upload_id == upload_id, upload_writers.c.token == token)
                .values(until=now_utc() + timedelta(seconds=lease_s))
            )
        return done.rowcount == 1

    def release_writer(self, upload_id: str, token: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                upload_writers.delete().where(
                    upload_writers.c.upload_id == upload_id, upload_writers.c.token == token
                )
            )
