"""Upload expiry (tus 1.0 Expiration extension): unfinished uploads do not live forever.

A kiosk that is revoked, scrapped or re-imaged leaves its half-sent uploads behind. Each
one keeps a partial file in the spool and, worse, its whole ``Upload-Length`` counts
against ``[storage] quota_bytes`` (see :meth:`UploadDB.open_upload_bytes`), so abandoned
uploads would slowly refuse every kiosk with ``507 storage_full``. An upload that stays
``open`` without activity for ``[uploads] expire_after_hours`` is therefore marked
``expired``: its partial file is deleted, it stops counting, and ``HEAD``/``PATCH`` answer
``410 upload_expired``, on which the kiosk starts the document again from zero.

Activity is a ``PATCH`` accepted for writing and every chunk acknowledged (the column
``last_activity_at`` of ``uploads``); ``POST`` and ``PATCH`` answers carry ``Upload-Expires``.

Crash safety: the state change and its ``upload_expired`` event are one transaction, and
only then is the partial file deleted; a hub killed in between leaves an orphan part file
that the start-up recovery (:meth:`HubService.recover`) removes. The sweep and a resumed
``PATCH`` race only in the database (conditional updates), so either the upload expires
and the ``PATCH`` gets 410, or the ``PATCH`` claims it first and the sweep leaves it alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from provisioning.hub.db import now_utc
from provisioning.hub.spool import Spool
from provisioning.hub.uploads_db import UploadDB

log = logging.getLogger("sohoa.hub.expiry")

EXPIRES_HEADER = "Upload-Expires"
TUS_EXTENSION = "expiration"

SWEEP_EVERY = timedelta(hours=1)
"""How often a running hub sweeps: an upload lives at most this long past its expiry."""
MIN_SWEEP_EVERY = timedelta(seconds=1)


@dataclass(frozen=True)
class ExpiredUpload:
    """One upload the sweep expired (what ``sohoa hub gc`` prints)."""

    id: str
    kiosk_id: str
    document_id: str
    offset: int
    length: int
    idle_since: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kiosk_id": self.kiosk_id,
            "document_id": self.document_id,
            "offset": self.offset,
            "length": self.length,
            "idle_since": self.idle_since.isoformat() if self.idle_since else None,
        }


def http_date(when: datetime) -> str:
    """``when`` as an RFC 9110 HTTP-date (``Sun, 06 Nov 1994 08:49:37 GMT``).

    Seconds are truncated, so the announced time is never later than the real expiry.
    """
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def expires_header(expires_at: datetime) -> dict[str, str]:
    """The ``Upload-Expires`` header of an open upload (last activity + the window)."""
    return {EXPIRES_HEADER: http_date(expires_at)}


def sweep_interval(expire_after: timedelta) -> float:
    """Seconds between two sweeps of a running hub: hourly, or a quarter of the expiry
    window when that is shorter (so a short window is still honoured closely)."""
    return max(MIN_SWEEP_EVERY, min(SWEEP_EVERY, expire_after / 4)).total_seconds()


def expire_idle_uploads(
    db: UploadDB,
    spool: Spool,
    expire_after: timedelta,
    now: datetime | None = None,
    *,
    by: str = "hub",
) -> list[ExpiredUpload]:
    """Expire every open upload idle for ``expire_after`` at ``now``; return them.

    Idempotent: an upload expires once; running it again finds nothing more. ``by`` says in
    the event who swept (``hub`` at start-up and periodically, ``cli`` for ``hub gc``).
    """
    now = now or now_utc()
    idle_before = now - expire_after
    expired: list[ExpiredUpload] = []
    for up in db.idle_uploads(idle_before):
        if not db.expire_upload(
            up, idle_before, by=by, expire_after_hours=expire_after.total_seconds() / 3600
        ):
            continue  # a PATCH claimed it between the query and now: still alive
        spool.remove(up.id)
        expired.append(
            ExpiredUpload(up.id, up.kiosk_id, up.document_id, up.offset, up.length, up.active_at)
        )
    if expired:
        log.info(
            "expired %d unfinished uploads idle for more than %s (freed %d quota bytes)",
            len(expired),
            expire_after,
            sum(e.length for e in expired),
        )
    return expired
