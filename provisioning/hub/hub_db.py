"""The hub's database as the service, the CLI and the admin page use it: one
:class:`~provisioning.hub.db.Database` and one store per concern on it.

Each store is a small class with its own tables' queries (``devices``, ``uploads``, ...);
this only opens the engine once and hands every store the same one, so a caller names the
concern it touches (``db.devices.revoke(...)``, ``db.events.events()``).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from provisioning.hub.audit_anchors_db import AuditAnchorDB
from provisioning.hub.certificates_db import CertificateDB
from provisioning.hub.db import Database
from provisioning.hub.devices_db import DeviceDB
from provisioning.hub.enroll_limit_db import EnrollLimitDB
from provisioning.hub.events_db import EventLog
from provisioning.hub.receipts_db import ReceiptDB
from provisioning.hub.tokens_db import TokenDB
from provisioning.hub.upload_writers_db import UploadWriterDB
from provisioning.hub.uploads_db import UploadDB


class HubDB:
    """Every store of the hub's tables on one engine (SQLite file or PostgreSQL URL)."""

    def __init__(self, url: str):
        self.database = Database(url)
        self.events = EventLog(self.database)
        self.tokens = TokenDB(self.database)
        self.devices = DeviceDB(self.database)
        self.certificates = CertificateDB(self.database, self.devices)
        self.uploads = UploadDB(self.database)
        self.writers = UploadWriterDB(self.database)
        self.receipts = ReceiptDB(self.database)
        self.audit_anchors = AuditAnchorDB(self.database)
        self.enroll_limits = EnrollLimitDB(self.database)

    @property
    def engine(self) -> Engine:
        """The shared engine (the fleet, rollout and admin-account tables use it too)."""
        return self.database.engine

    @property
    def reads(self) -> Engine:
        """The shared engine for reads of one statement (:attr:`Database.reads`)."""
        return self.database.reads

    def create_schema(self) -> None:
        self.database.create_schema()

    def close(self) -> None:
        self.database.close()
