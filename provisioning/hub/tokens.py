"""One-time enrollment tokens: 32 random bytes, url-safe base64, stored only as SHA-256.

A leaked database therefore enrolls nothing; the plain token exists only in the QR handed to
the person setting up the kiosk.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from provisioning import schemas
from provisioning.hub.db import now_utc
from provisioning.hub.groups import check_group
from provisioning.hub.tokens_db import TokenDB


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: str
    group: str
    expires_at: datetime
    uri: str


def mint_token(
    db: TokenDB, group: str, days: float, hub_url: str, ca_sha256: str, by: str | None = None
) -> NewToken:
    """Create a token for ``group``, record its hash (and ``by`` whom, in the event log),
    and return it with its QR URI."""
    check_group(group)
    token = secrets.token_urlsafe(32)
    expires_at = now_utc() + timedelta(days=days)
    uri = schemas.build_enroll_uri(hub_url, token, ca_sha256)
    db.add_token(hash_token(token), group, expires_at, by=by)
    return NewToken(token=token, group=group, expires_at=expires_at, uri=uri)
