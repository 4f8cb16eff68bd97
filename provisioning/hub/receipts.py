"""Signed receipts: the hub's word that a document's exact bytes are stored.

The kiosk deletes its copy only on a receipt that ``provisioning.schemas.verify_receipt``
accepts, so the receipt is signed with a key whose certificate the fleet CA issued and covers
every field (canonical JSON, see ``schemas.receipt_signed_bytes``).
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provisioning import schemas


class ReceiptSigner:
    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, hub_name: str):
        self.key = key
        self.cert = cert
        self.hub_name = hub_name
        self._signer_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

    def sign(
        self,
        *,
        device: str,
        document_id: str,
        sha256: str,
        size: int,
        stored_as: str,
        duplicate: bool,
    ) -> dict[str, Any]:
        receipt: dict[str, Any] = {
            "v": schemas.RECEIPT_VERSION,
            "hub": self.hub_name,
            "device": device,
            "document_id": document_id,
            "sha256": sha256,
            "size": size,
            "stored_as": stored_as,
            "received_at": schemas.utc_now_iso(),
            "duplicate": duplicate,
            "signer": self._signer_b64,
        }
        sig = self.key.sign(schemas.receipt_signed_bytes(receipt), ec.ECDSA(hashes.SHA256()))
        receipt["sig"] = base64.b64encode(sig).decode("ascii")
        return receipt
