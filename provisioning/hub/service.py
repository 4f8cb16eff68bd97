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
from provisioning.hub.auth import Device
from provisioning.hub.certificates_db import RenewalLimited
from provisioning.hub.config import HubSettings
from provisioning.hub.devices_db import DeviceExists, DeviceRevoked
from provisioning.hub.errors import E_DEVICE_REVOKED_ENROLL, E_TOO_MANY_RENEWALS, HubError
from provisioning.hub.expiry import ExpiredUpload, expire_idle_uploads
from provisioning.hub.hub_db import HubDB
from provisioning.hub.receipts import ReceiptSigner
from provisioning.hub.spool import Spool
from provisioning.hub.storage import ObjectStore, StorageFull, object_key, open_store
from provisioning.hub.tokens import hash_token
from provisioning.hub.tokens_db import TokenInvalid
from provisioning.hub.uploads_db import Upload

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
        live = set()
        for upload_id, offset in self.db.uploads.open_offsets().items():
            live.add(upload_id)
            path = self.spool.path(upload_id)
            size = path.stat().st_size if path.exists() else -1
            if size < 0:
                self.spool.create(upload_id)
                size = 0
            if size < offset:
                log.warning(
                    "upload %s: part file shorter than its offset; resuming at %d", upload_id, size
                )
                self.db.uploads.set_offset(upload_id, size, touch=False)
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
        if self.db.tokens.usable_token(token_hash) is None:
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
            self.db.devices.enroll(
                token_hash, issued.kiosk_id, issued.serial_hex, issued.cert.not_valid_after_utc
            )
        except TokenInvalid:
            raise HubError(schemas.E_TOKEN_INVALID) from None
        except DeviceExists:
            raise HubError(schemas.E_DEVICE_EXISTS, issued.kiosk_id) from None
        except DeviceRevoked:
            raise HubError(
                E_DEVICE_REVOKED_ENROLL,
                f"{issued.kiosk_id}; IT must run: sohoa hub device reinstate {issued.kiosk_id}",
            ) from None
        log.info("enrolled %s (serial %s)", issued.kiosk_id, issued.serial_hex)
        return issued.cert

    def reenroll(self, device: Device, csr: x509.CertificateSigningRequest) -> x509.Certificate:
        """A renewed certificate for ``device``'s key in ``csr``; pending until first used,
        limited to ``[certs] max_certs_per_window`` per ``renew_window_hours``."""
        kiosk_id = device.kiosk_id
        try:
            issued = pki.issue_device_cert(
                self.ca_key, self.ca_cert, csr, self.settings.certs.device_days
            )
        except pki.CsrError as exc:
            raise HubError(schemas.E_CSR_INVALID, str(exc)) from None
        if issued.kiosk_id != kiosk_id:
            raise HubError(schemas.E_CSR_INVALID, "CSR names another kiosk than the certificate")
        certs = self.settings.certs
        try:
            self.db.certificates.reenroll(
                kiosk_id,
                issued.serial_hex,
                issued.cert.not_valid_after_utc,
                device.serial,
                max_issued=certs.max_certs_per_window,
                window=certs.renew_window,
            )
        except RenewalLimited as exc:
            raise HubError(
                E_TOO_MANY_RENEWALS,
                f"retry after {exc.retry_after} s",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        log.info("renewed %s (serial %s, from %s)", kiosk_id, issued.serial_hex, device.serial)
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

    def refuse_classified(self, kiosk_id: str, meta: dict[str, str]) -> None:
        """The hub's own check of the confidentiality rule at upload creation: metadata
        naming a level other than ordinary is refused and recorded as an event."""
        level = meta.get("confidentiality")
        if level is not None and not schemas.may_cross_wan(level):
            self.db.events.event(
                "upload_refused_classified",
                kiosk_id,
                document_id=meta.get("document_id"),
                sha256=meta.get("sha256"),
                level=level,
                found_in="metadata",
            )
            log.error("refused classified upload of %s from %s", meta.get("document_id"), kiosk_id)
            raise HubError(schemas.E_CLASSIFIED, f"Upload-Metadata says {level}")

    def check_room(self, length: int) -> None:
        """Refuse an upload up front when it cannot fit (quota or free disk).

        Before refusing for the quota, uploads already past their expiry are swept: the
        periodic sweep runs hourly, and a kiosk should not get 507 for room that abandoned
        uploads hold only until then.
        """
        quota = self.settings.storage.quota_bytes
        if quota is not None:
            committed = self.db.receipts.stored_bytes() + self.db.uploads.open_upload_bytes()
            if committed + length > quota and self.expire_uploads():
                committed = self.db.receipts.stored_bytes() + self.db.uploads.open_upload_bytes()
            if committed + length > quota:
                raise HubError(schemas.E_STORAGE_FULL, f"quota {quota} bytes")
        room = self.disk_room()
        if length > room and self.expire_uploads():
            room = self.disk_room()
        if length > room:
            raise HubError(schemas.E_STORAGE_FULL, f"hub disk: room for {max(0, room)} bytes")

    def disk_room(self) -> int:
        """Bytes a new upload may still claim on the spool disk: free space, minus the
        reserve (``[storage] reserve_bytes``), minus what open uploads may still bring.

        Without the last term every upload was checked alone against the free space, and
        open uploads declaring 80 GiB were accepted on a disk with 72 GB free; they would
        have failed near their end, after hours on a slow link, instead of at the POST.
        """
        free = shutil.disk_usage(self.spool.root).free
        return free - self.settings.storage.reserve_bytes - self.db.uploads.open_upload_remaining()

    def duplicate_receipt(self, device: Device, meta: dict[str, str]) -> dict[str, Any] | None:
        """A fresh receipt when this device (this enrollment of it) already delivered these
        bytes of this document."""
        kiosk_id = device.kiosk_id
        delivered = self.db.receipts.delivered_receipt(
            kiosk_id, meta["document_id"], meta["sha256"], enrollment_id=device.enrollment_id
        )
        if delivered is None:
            return None
        obj = self.db.receipts.object(meta["sha256"])
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
        self.db.receipts.record_receipt(
            receipt,
            None,
            int(obj["size"]),
            obj["stored_as"],
            enrollment_id=device.enrollment_id,
        )
        return receipt

    def create_upload(
        self, device: Device, length: int, meta: dict[str, str]
    ) -> tuple[str, datetime]:
        """Start an upload: its id and when it expires if nothing arrives."""
        upload_id = pki.random_id()
        try:
            self.spool.create(upload_id)
        except StorageFull:
            raise HubError(schemas.E_STORAGE_FULL) from None
        created = self.db.uploads.create_upload(
            upload_id,
            device.kiosk_id,
            meta["document_id"],
            meta["sha256"],
            length,
            meta,
            enrollment_id=device.enrollment_id,
        )
        self.db.events.event(
            "upload_created",
            device.kiosk_id,
            upload=upload_id,
            document_id=meta["document_id"],
            sha256=meta["sha256"],
            length=length,
        )
        return upload_id, created + self.expire_after

    def expire_uploads(self, now: datetime | None = None) -> list[ExpiredUpload]:
        """Expire unfinished uploads idle for ``[uploads] expire_after_hours`` (run at
        start-up and periodically by the app; blocking, so called from a worker thread)."""
        return expire_idle_uploads(self.db.uploads, self.spool, self.expire_after, now)

    def finalize(self, upload: Upload) -> dict[str, Any]:
        """All bytes are in and fsynced: check the hash, store once, sign and record."""
        sha = self.spool.sha256(upload.id)
        if sha != upload.sha256:
            self.spool.remove(upload.id)
            self.db.uploads.end_upload(upload.id, "discarded", reason="hash_mismatch", got=sha)
            raise HubError(schemas.E_HASH_MISMATCH, f"got {sha}")
        level = schemas.xmp_confidentiality(self.spool.path(upload.id))
        if level is not None and not schemas.may_cross_wan(level):
            # The file itself says it is classified: never stored, never receipted.
            self.spool.remove(upload.id)
            self.db.uploads.end_upload(upload.id, "discarded", reason="classified", level=level)
            self.db.events.event(
                "upload_refused_classified",
                upload.kiosk_id,
                upload=upload.id,
                document_id=upload.document_id,
                sha256=sha,
                level=level,
                found_in="xmp",
            )
            log.error("refused classified file %s from %s", upload.document_id, upload.kiosk_id)
            raise HubError(schemas.E_CLASSIFIED, f"the file's XMP says {level}")
        key = object_key(sha)
        existing = self.db.receipts.object(sha)
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
        self.db.receipts.record_receipt(
            receipt, upload.id, upload.length, key, enrollment_id=upload.enrollment_id
        )
        return receipt

    def terminate(self, upload: Upload) -> None:
        self.spool.remove(upload.id)
        self.db.uploads.end_upload(upload.id, "terminated")
