"""The hub's duties without HTTP: enroll devices, accept uploads, store, sign receipts,
expire abandoned uploads.

The routes (``est``, ``tus``) translate requests into these calls and :class:`HubError` into
JSON; everything here is synchronous and runs in the server's worker threads, so fsyncs,
hashing and database transactions never stall the event loop.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from provisioning import schemas
from provisioning.hub import pki
from provisioning.hub.config import HubSettings
from provisioning.hub.db import DeviceExists, HubDB, TokenInvalid, Upload
from provisioning.hub.errors import HubError
from provisioning.hub.expiry import ExpiredUpload, expire_idle_uploads
from provisioning.hub.receipts import ReceiptSigner
from provisioning.hub.spool import Spool
from provisioning.hub.storage import ObjectStore, StorageFull, object_key, open_store
from provisioning.hub.tokens import hash_token

log = logging.getLogger("sohoa.hub")

MAX_META_VALUE = 1024


class HubService:
    def __init__(self, settings: HubSettings, store: ObjectStore | None = None):
        self.settings = settings
        self.ca_cert = pki.load_cert(settings.ca_cert_path)
        self.ca_key = pki.load_key(settings.ca_key_path)
        self.signer = ReceiptSigner(
            pki.load_key(settings.receipt_key_path),
            pki.load_cert(settings.receipt_cert_path),
            settings.name,
        )
        self.db = HubDB(settings.database_url)
        self.db.create_schema()
        self.store = store if store is not None else open_store(settings)
        self.spool = Spool(settings.spool_dir)
        self.recover()
        self.expire_uploads()

    @property
    def expire_after(self) -> timedelta:
        """How long an unfinished upload may stay idle (``[uploads] expire_after_hours``)."""
        return self.settings.uploads.expire_after

    def close(self) -> None:
        self.db.close()

    def recover(self) -> None:
        """Reconcile partial files with open uploads after a crash or kill."""
        from sqlalchemy import select

        from provisioning.hub.db import uploads

        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(uploads.c.id, uploads.c.offset).where(uploads.c.state == "open")
            ).all()
        live = set()
        for row in rows:
            live.add(row.id)
            path = self.spool.path(row.id)
            size = path.stat().st_size if path.exists() else -1
            if size < 0:
                self.spool.create(row.id)
                size = 0
            if size < row.offset:
                log.warning(
                    "upload %s: part file shorter than its offset; resuming at %d", row.id, size
                )
                self.db.set_offset(row.id, size, touch=False)
        removed = self.spool.remove_orphans(live)
        if removed:
            log.info("removed %d orphaned partial uploads", len(removed))

    # --- enrollment --------------------------------------------------------------------------

    def enroll(self, token: str, csr: x509.CertificateSigningRequest | bytes) -> x509.Certificate:
        """Issue the first certificate of a device for a one-time token.

        ``csr`` may be the raw request body (base64 DER); it is parsed only after the token
        proved usable, so a caller without a good token never gets its DER parsed and is
        always answered ``token_invalid``. ``csr_invalid`` and ``device_exists`` therefore
        mean the caller held a usable token (the enrollment limit relies on that).
        """
        token_hash = hash_token(token)
        if self.db.usable_token(token_hash) is None:
            raise HubError(schemas.E_TOKEN_INVALID)
        if isinstance(csr, bytes):
            try:
                csr = schemas.load_csr_body(csr)
            except ValueError as exc:
                raise HubError(schemas.E_CSR_INVALID, str(exc)) from None
        try:
            issued = pki.issue_device_cert(
                self.ca_key, self.ca_cert, csr, self.settings.certs.device_days
            )
        except pki.CsrError as exc:
            raise HubError(schemas.E_CSR_INVALID, str(exc)) from None
        try:
            self.db.enroll(
                token_hash, issued.kiosk_id, issued.serial_hex, issued.cert.not_valid_after_utc
            )
        except TokenInvalid:
            raise HubError(schemas.E_TOKEN_INVALID) from None
        except DeviceExists:
            raise HubError(schemas.E_DEVICE_EXISTS, issued.kiosk_id) from None
        log.info("enrolled %s (serial %s)", issued.kiosk_id, issued.serial_hex)
        return issued.cert

    def reenroll(
        self, kiosk_id: str, old_serial: str, csr: x509.CertificateSigningRequest
    ) -> x509.Certificate:
        try:
            issued = pki.issue_device_cert(
                self.ca_key, self.ca_cert, csr, self.settings.certs.device_days
            )
        except pki.CsrError as exc:
            raise HubError(schemas.E_CSR_INVALID, str(exc)) from None
        if issued.kiosk_id != kiosk_id:
            raise HubError(schemas.E_CSR_INVALID, "CSR names another kiosk than the certificate")
        self.db.reenroll(kiosk_id, issued.serial_hex, issued.cert.not_valid_after_utc, old_serial)
        return issued.cert

    # --- uploads ------------------------------------------------------------------------------

    def check_metadata(self, meta: dict[str, str]) -> dict[str, str]:
        missing = [k for k in schemas.REQUIRED_METADATA if not meta.get(k)]
        if missing:
            raise HubError(schemas.E_BAD_REQUEST, f"Upload-Metadata lacks {', '.join(missing)}")
        if any(len(v) > MAX_META_VALUE for v in meta.values()):
            raise HubError(schemas.E_BAD_REQUEST, "Upload-Metadata value too long")
        sha = meta["sha256"].lower()
        if not schemas.is_sha256_hex(sha):
            raise HubError(schemas.E_BAD_REQUEST, "sha256 must be 64 hex digits")
        return {**meta, "sha256": sha}

    def check_room(self, length: int) -> None:
        """Refuse an upload up front when it cannot fit (quota or free disk).

        Before refusing for the quota, uploads already past their expiry are swept: the
        periodic sweep runs hourly, and a kiosk should not get 507 for room that abandoned
        uploads hold only until then.
        """
        quota = self.settings.storage.quota_bytes
        if quota is not None:
            committed = self.db.stored_bytes() + self.db.open_upload_bytes()
            if committed + length > quota and self.expire_uploads():
                committed = self.db.stored_bytes() + self.db.open_upload_bytes()
            if committed + length > quota:
                raise HubError(schemas.E_STORAGE_FULL, f"quota {quota} bytes")
        free = shutil.disk_usage(self.spool.root).free
        if length > free:
            raise HubError(schemas.E_STORAGE_FULL, "hub disk")

    def duplicate_receipt(self, kiosk_id: str, meta: dict[str, str]) -> dict[str, Any] | None:
        """A fresh receipt when this device already delivered these bytes of this document."""
        if self.db.delivered_receipt(kiosk_id, meta["document_id"], meta["sha256"]) is None:
            return None
        obj = self.db.object(meta["sha256"])
        if obj is None:
            return None
        receipt = self.signer.sign(
            device=kiosk_id,
            document_id=meta["document_id"],
            sha256=meta["sha256"],
            size=int(obj["size"]),
            stored_as=obj["stored_as"],
            duplicate=True,
        )
        self.db.record_receipt(receipt, None, int(obj["size"]), obj["stored_as"])
        return receipt

    def create_upload(
        self, kiosk_id: str, length: int, meta: dict[str, str]
    ) -> tuple[str, datetime]:
        """Start an upload: its id and when it expires if nothing arrives."""
        upload_id = pki.random_id()
        try:
            self.spool.create(upload_id)
        except StorageFull:
            raise HubError(schemas.E_STORAGE_FULL) from None
        created = self.db.create_upload(
            upload_id, kiosk_id, meta["document_id"], meta["sha256"], length, meta
        )
        self.db.event(
            "upload_created",
            kiosk_id,
            upload=upload_id,
            document_id=meta["document_id"],
            sha256=meta["sha256"],
            length=length,
        )
        return upload_id, created + self.expire_after

    def expire_uploads(self, now: datetime | None = None) -> list[ExpiredUpload]:
        """Expire unfinished uploads idle for ``[uploads] expire_after_hours`` (run at
        start-up and periodically by the app; blocking, so called from a worker thread)."""
        return expire_idle_uploads(self.db, self.spool, self.expire_after, now)

    def finalize(self, upload: Upload) -> dict[str, Any]:
        """All bytes are in and fsynced: check the hash, store once, sign and record."""
        sha = self.spool.sha256(upload.id)
        if sha != upload.sha256:
            self.spool.remove(upload.id)
            self.db.end_upload(upload.id, "discarded", reason="hash_mismatch", got=sha)
            raise HubError(schemas.E_HASH_MISMATCH, f"got {sha}")
        key = object_key(sha)
        existing = self.db.object(sha)
        if existing is None:
            try:
                self.store.put_file(key, self.spool.path(upload.id), upload.length)
            except StorageFull as exc:
                log.warning("upload %s: storage full: %s", upload.id, exc)
                raise HubError(schemas.E_STORAGE_FULL) from None
        else:
            self.spool.remove(upload.id)
        receipt = self.signer.sign(
            device=upload.kiosk_id,
            document_id=upload.document_id,
            sha256=sha,
            size=upload.length,
            stored_as=key,
            duplicate=existing is not None,
        )
        self.db.record_receipt(receipt, upload.id, upload.length, key)
        return receipt

    def terminate(self, upload: Upload) -> None:
        self.spool.remove(upload.id)
        self.db.end_upload(upload.id, "terminated")
