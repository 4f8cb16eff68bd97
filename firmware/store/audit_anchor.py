"""Anchors for the audit chain: signed checkpoints of its head, kept here and at the hub.

The chain alone (:meth:`firmware.store.catalog.Catalog.verify_audit`) proves that records follow
each other, but its hash is unkeyed: whoever can write ``catalog.db`` can delete the newest
records, or rewrite one and re-hash everything after it, and the chain still verifies. A
checkpoint fixes the head at one moment: ``(kiosk, seq, head hash, time)`` signed with the
kiosk's own signing key (:mod:`firmware.archive.device_keys`, ECDSA P-256), which never leaves the
box. :func:`verify_anchored` then also demands that

- the chain reaches every checkpoint's ``seq`` (else: truncated, naming how many records
  are missing),
- the record at that ``seq`` still has the checkpointed hash (else: rewritten),
- every checkpoint's signature verifies against the kiosk's signing certificate (else: the
  checkpoint itself was edited to match a rewritten chain).

Checkpoints live in the catalog's ``audit_checkpoints`` table (migration 7, one row per
signed head). Someone
who can rewrite the catalog can also delete checkpoints; that is why the head also leaves
the box: the uplink sends the newest checkpoint with every delivery (tus metadata,
:data:`provisioning.schemas.AUDIT_METADATA`), together with the chain's current hash at the
last head it reported, and the hub keeps the last anchor per kiosk and records an event when
the head goes backwards or forks. ``sohoa audit verify --hub`` checks against that anchor too.

Checkpoints are made before each delivery (the uplink) and by ``sohoa audit checkpoint``
(e.g. from a timer on a kiosk that delivers nothing); signing one is a fraction of a
millisecond.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from firmware.archive.device_keys import CERT_NAME, keys_dir, load_or_create_signing_identity
from firmware.store.catalog import Catalog, utcnow
from firmware.store.paths import DataPaths
from provisioning.schemas import audit_checkpoint_payload


def key_fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 hex of a public key's SubjectPublicKeyInfo (names the signer)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """One signed head of the chain."""

    seq: int
    head: str
    at: str
    kiosk_id: str
    signer: str
    sig: str
    reported_at: str | None = None

    def payload(self) -> bytes:
        return audit_checkpoint_payload(self.kiosk_id, self.seq, self.head, self.at)

    def signature_ok(self, public_key: ec.EllipticCurvePublicKey) -> bool:
        try:
            public_key.verify(
                base64.b64decode(self.sig, validate=True), self.payload(), ec.ECDSA(hashes.SHA256())
            )
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class AnchoredVerdict:
    """The chain's verdict including its anchors (``problem`` says what broke, if any)."""

    ok: bool
    records: int
    head: str
    problem: str = ""
    bad_seq: int | None = None
    checkpoint: Checkpoint | None = None
    hub_anchor: dict[str, Any] | None = None


def _row(r: dict[str, Any]) -> Checkpoint:
    return Checkpoint(
        seq=int(r["seq"]),
        head=r["head"],
        at=r["at"],
        kiosk_id=r["kiosk_id"],
        signer=r["signer"],
        sig=r["sig"],
        reported_at=r["reported_at"],
    )


class AuditAnchors:
    """Signs, stores and reports checkpoints of one kiosk's audit chain."""

    def __init__(self, catalog: Catalog, paths: DataPaths, kiosk_id: str):
        self.catalog = catalog
        self.paths = paths
        self.kiosk_id = kiosk_id

    def sign_head(self) -> Checkpoint | None:
        """Sign and store a checkpoint of the current head (None while the chain is empty;
        the same head signed twice keeps the first checkpoint).

        When a stored checkpoint already covers this ``seq`` with another head (the chain
        was cut back and regrown, or rewritten), the stored one stays (the evidence, which
        :func:`verify_anchored` reports) and the fresh one is returned unstored, so what is
        sent to the hub is the chain as it is now and the hub sees the fork.
        """
        seq, head = self.catalog.audit_head()
        if seq == 0:
            return None
        existing = self.at_seq(seq)
        if existing is not None and existing.head == head:
            return existing
        key, _cert = load_or_create_signing_identity(self.paths, kiosk_id=self.kiosk_id)
        at = utcnow()
        payload = audit_checkpoint_payload(self.kiosk_id, seq, head, at)
        sig = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode("ascii")
        cp = Checkpoint(seq, head, at, self.kiosk_id, key_fingerprint(key.public_key()), sig)
        if existing is None:
            with self.catalog.transaction() as db:
                db.execute(
                    "INSERT OR IGNORE INTO audit_checkpoints "
                    "(seq, head, at, kiosk_id, signer, sig) VALUES (?,?,?,?,?,?)",
                    [cp.seq, cp.head, cp.at, cp.kiosk_id, cp.signer, cp.sig],
                )
        return cp

    def at_seq(self, seq: int) -> Checkpoint | None:
        rows = list(self.catalog.db.query("SELECT * FROM audit_checkpoints WHERE seq = ?", [seq]))
        return _row(rows[0]) if rows else None

    def all(self) -> list[Checkpoint]:
        return [
            _row(r) for r in self.catalog.db.query("SELECT * FROM audit_checkpoints ORDER BY seq")
        ]

    def latest(self) -> Checkpoint | None:
        rows = list(
            self.catalog.db.query("SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
        )
        return _row(rows[0]) if rows else None

    def last_reported(self) -> Checkpoint | None:
        rows = list(
            self.catalog.db.query(
                "SELECT * FROM audit_checkpoints WHERE reported_at IS NOT NULL "
                "ORDER BY seq DESC LIMIT 1"
            )
        )
        return _row(rows[0]) if rows else None

    def mark_reported(self, seq: int) -> None:
        """The hub accepted a delivery that carried this checkpoint."""
        with self.catalog.transaction() as db:
            db.execute(
                "UPDATE audit_checkpoints SET reported_at = ? WHERE seq = ? AND reported_at IS NULL",
                [utcnow(), seq],
            )

    def delivery_metadata(self) -> tuple[dict[str, str], int | None]:
        """The anchor for the next delivery's ``Upload-Metadata`` and its ``seq`` (to mark
        reported once the receipt verifies); empty while the chain is empty."""
        cp = self.sign_head()
        if cp is None:
            return {}, None
        meta = {
            "audit_seq": str(cp.seq),
            "audit_head": cp.head,
            "audit_at": cp.at,
            "audit_sig": cp.sig,
            "audit_signer": cp.signer,
        }
        prev = self.last_reported()
        if prev is not None and prev.seq != cp.seq:
            now_at_prev = self.catalog.audit_hash_at(prev.seq)
            meta["audit_prev_seq"] = str(prev.seq)
            # The chain as it is now, not the stored checkpoint: a rewritten chain shows.
            meta["audit_prev_head"] = now_at_prev or ""
        return {k: v for k, v in meta.items() if v}, cp.seq


def signing_public_key(paths: DataPaths) -> ec.EllipticCurvePublicKey | None:
    """The key checkpoints must verify against: the kiosk's signing certificate."""
    path = keys_dir(paths) / CERT_NAME
    if not path.exists():
        return None
    key = x509.load_pem_x509_certificate(path.read_bytes()).public_key()
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _check(
    catalog: Catalog, records: int, seq: int, head: str, what: str
) -> tuple[str, int] | None:
    """Problem of the chain against one anchor ``(seq, head)``, or None."""
    if seq > records:
        return (
            f"truncated: the chain ends at record {records} but {what} covers record {seq} "
            f"({seq - records} records missing)",
            records + 1,
        )
    if catalog.audit_hash_at(seq) != head:
        return (f"record {seq} no longer matches {what}: the chain was rewritten", seq)
    return None


def verify_anchored(
    catalog: Catalog, paths: DataPaths, hub_anchor: dict[str, Any] | None = None
) -> AnchoredVerdict:
    """Walk the chain, then hold it against every local checkpoint and the hub's anchor."""
    v = catalog.verify_audit()
    if not v.ok:
        return AnchoredVerdict(False, v.records, v.head, v.problem, v.bad_seq)
    public_key = signing_public_key(paths)
    checkpoints = AuditAnchors(catalog, paths, "").all()
    for cp in checkpoints:
        what = f"the checkpoint signed {cp.at}"
        if public_key is None or not cp.signature_ok(public_key):
            return AnchoredVerdict(
                False,
                v.records,
                v.head,
                f"the checkpoint of record {cp.seq} ({cp.at}) is not signed by this kiosk's "
                "signing key: the checkpoint signature no longer matches (edited checkpoint "
                "or replaced key)",
                cp.seq,
            )
        problem = _check(catalog, v.records, cp.seq, cp.head, what)
        if problem is not None:
            return AnchoredVerdict(False, v.records, v.head, problem[0], problem[1], cp)
    latest = checkpoints[-1] if checkpoints else None
    if hub_anchor:
        what = f"the hub's anchor (received {hub_anchor.get('received_at', '?')})"
        problem = _check(catalog, v.records, int(hub_anchor["seq"]), hub_anchor["head"], what)
        if problem is not None:
            return AnchoredVerdict(
                False, v.records, v.head, problem[0], problem[1], latest, hub_anchor
            )
    return AnchoredVerdict(True, v.records, v.head, "", None, latest, hub_anchor)
