"""Creating the hub's tables when several hub processes start at once.

``MetaData.create_all`` checks which tables exist, then creates the others: two replicas
starting together on one fresh PostgreSQL database both see a table missing and the second
``CREATE TABLE`` fails (``pg_type_typname_nsp_index``), so that replica dies at start
(``bench/fleet.py`` starting its two hubs hit it). On PostgreSQL the check-and-create runs
under a transaction-scoped advisory lock, one process after the other; SQLite serializes
writers itself and a SQLite hub is one process.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: Advisory lock key of the hub's schema creation (any constant the hub uses for nothing else).
SCHEMA_LOCK_KEY = 0x736F686F61  # "sohoa"


def create_tables(metadata: sa.MetaData, engine: Engine) -> None:
    """``metadata.create_all`` made safe for replicas starting together."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        metadata.create_all(conn)
