"""PAdES signatures on sealed PDFs, with a key file (PKCS#12) or a PKCS#11 token.

Why PAdES (``ETSI.CAdES.detached``) with pyHanko: the receiving archive validates signatures
with standard tools, and a PAdES signature added as an *incremental update* leaves every
byte of the sealed PDF/A in place, so the content hash in the XMP still verifies, the file
keeps its PDF/A-2b identification, and the signature covers the whole original file.

The signature field is invisible (a zero-size widget): PDF/A then needs no appearance
stream and no font for it. On the kiosk the key lives on a PKCS#11 token (smart card or
HSM); the PIN is read from a root-only file, never from the configuration itself. Each
signing opens and closes its own token session, so a token pulled out between two
documents is reported for that document only.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware.errors import KioskError
from sohoa_common.atomic import atomic_open

DEFAULT_FIELD = "SohoaSignature"
DEFAULT_REASON = "Số hóa tài liệu lưu trữ / Digitized archival copy"


class SigningError(KioskError):
    """Signing or validation failed; ``code`` is stable, messages in both languages."""

    def __init__(self, code: str, message_en: str, message_vi: str):
        super().__init__(code, message_en, message_vi, status=503)


@dataclass
class SignatureReport:
    """What was signed, by whom (certificate subject), and the signed file's hash."""

    path: Path
    field_name: str
    signer: str
    sha256: str
    size: int
    backend: str


@dataclass
class ValidationReport:
    """pyHanko's verdict on one embedded signature, reduced to what the archive asks."""

    field_name: str
    signer: str
    intact: bool  # the signed bytes hash to the signed digest
    valid: bool  # the signature value verifies with the certificate's key
    trusted: bool  # the certificate chains to a trust root
    coverage: str  # ENTIRE_FILE / ENTIRE_REVISION / ...
    signed_at: datetime | None
    subfilter: str

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SigningError(
            "signing_secret_unreadable",
            f"cannot read the {what} file {path}: {exc.strerror or exc}",
            "Không đọc được tệp mật khẩu của khóa ký số; hãy báo cán bộ kỹ thuật.",
        ) from exc


def pkcs12_signer(key_file: str | Path, passphrase: bytes | None = None) -> Any:
    """A pyHanko signer from a PKCS#12 (.p12/.pfx) file holding key, certificate, chain."""
    from pyhanko.sign import signers

    if not Path(key_file).is_file():
        raise SigningError(
            "signing_key_missing",
            f"signing key file {key_file} not found",
            "Không tìm thấy tệp khóa ký số; hãy báo cán bộ kỹ thuật.",
        )
    signer = signers.SimpleSigner.load_pkcs12(str(key_file), passphrase=passphrase)
    if signer is None:  # pyHanko logs the reason and returns None (bad passphrase, format)
        raise SigningError(
            "signing_key_unreadable",
            f"cannot open the PKCS#12 file {key_file} (wrong passphrase or not PKCS#12)",
            "Không mở được tệp khóa ký số (sai mật khẩu hoặc sai định dạng).",
        )
    return signer


@contextmanager
def pkcs11_signer(
    module: str,
    *,
    token_label: str,
    key_label: str,
    pin: str,
    cert_label: str | None = None,
) -> Iterator[Any]:
    """A pyHanko signer on a PKCS#11 token (session opened here, closed on exit)."""
    from pkcs11 import PKCS11Error
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign import pkcs11 as hk11

    try:
        session = hk11.open_pkcs11_session(
            module, token_criteria=TokenCriteria(label=token_label), user_pin=pin
        )
    except (PKCS11Error, OSError, RuntimeError, ValueError) as exc:
        raise SigningError(
            "token_unavailable",
            f"cannot open PKCS#11 token {token_label!r} with {module}: {type(exc).__name__} {exc}",
            "Không kết nối được thiết bị ký số (token); hãy kiểm tra token rồi thử lại.",
        ) from exc
    try:
        # Hash on the kiosk, sign the digest on the token (CKM_ECDSA / CKM_RSA_PKCS): many
        # tokens, SoftHSM2 among them, lack the combined hash-and-sign mechanisms.
        yield hk11.PKCS11Signer(
            session,
            key_label=key_label,
            cert_label=cert_label or key_label,
            use_raw_mechanism=True,
        )
    finally:
        session.close()


@contextmanager
def open_signer(cfg: Any) -> Iterator[Any | None]:
    """The signer a :class:`firmware.config.SigningConfig` describes; None when disabled."""
    if cfg.backend == "none":
        yield None
    elif cfg.backend == "pkcs12":
        secret = _read_secret(cfg.passphrase_file, "passphrase") if cfg.passphrase_file else ""
        yield pkcs12_signer(cfg.key_file, secret.encode() if secret else None)
    elif cfg.backend == "pkcs11":
        pin = _read_secret(cfg.pin_file, "PIN")
        with pkcs11_signer(
            cfg.pkcs11_module,
            token_label=cfg.token_label,
            key_label=cfg.key_label,
            pin=pin,
            cert_label=cfg.cert_label or None,
        ) as signer:
            yield signer
    else:
        raise SigningError(
            "signing_backend", f"unknown signing backend {cfg.backend!r}", "Cấu hình ký số sai."
        )


def _writer(fh: Any) -> Any:
    """An incremental writer that leaves the document's metadata exactly as sealed.

    pyHanko normally refreshes the metadata when it writes: it re-serialises the XMP packet
    with its own producer name and sets a different producer in the Info dictionary. PDF/A
    requires the two to agree, and our XMP (with its extension schema) must stay the one
    :mod:`firmware.archive.xmp` wrote, so the refresh is switched off. The signature's own signing
    time is in the CMS signed attributes, so nothing is lost. ``tests/archive/test_signing.py``
    checks that the XMP bytes survive signing, which guards this against pyHanko changes.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    class _KeepMetadata(IncrementalPdfFileWriter):
        def _update_meta(self) -> None:
            return None

    return _KeepMetadata(fh, strict=False)


def _subject(signer: Any) -> str:
    cert = signer.signing_cert
    return cert.subject.human_friendly if cert is not None else ""


def _outside_event_loop(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` where ``asyncio.run`` works: pyHanko's synchronous API starts its own
    event loop, which fails in a thread that already runs one (a web request handler)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def sign_pdf(
    src: Path | str,
    dst: Path | str,
    signer: Any,
    *,
    field_name: str = DEFAULT_FIELD,
    reason: str = DEFAULT_REASON,
    location: str = "",
    backend: str = "",
) -> SignatureReport:
    """Add an invisible PAdES B-B signature to ``src``, written atomically to ``dst``.

    ``dst`` may equal ``src``: the signed file replaces it only once complete and durable.
    """
    from pyhanko.sign import fields, signers

    src, dst = Path(src), Path(dst)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, new_field_spec=fields.SigFieldSpec(sig_field_name=field_name)
    )
    try:
        with open(src, "rb") as fh:
            writer = _writer(fh)
            with atomic_open(dst) as out:
                _outside_event_loop(lambda: pdf_signer.sign_pdf(writer, output=out))
    except SigningError:
        raise
    except OSError:
        raise
    except Exception as exc:  # pyHanko raises many kinds (PdfError, SigningError, PKCS11Error)
        raise SigningError(
            "signing_failed",
            f"signing {src.name} failed: {type(exc).__name__}: {exc}",
            "Không ký số được tài liệu; hãy kiểm tra thiết bị ký số rồi lưu lại.",
        ) from exc
    digest, size = hashlib.sha256(), 0
    with open(dst, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return SignatureReport(dst, field_name, _subject(signer), digest.hexdigest(), size, backend)


def sign_with_config(src: Path | str, dst: Path | str, cfg: Any) -> SignatureReport | None:
    """Sign with the configured backend; None (nothing written) when signing is off."""
    with open_signer(cfg) as signer:
        if signer is None:
            return None
        return sign_pdf(
            src,
            dst,
            signer,
            field_name=cfg.field_name,
            reason=cfg.reason,
            location=cfg.location,
            backend=cfg.backend,
        )


def validate_pdf(path: Path | str, trust_roots: list[Any]) -> list[ValidationReport]:
    """Validate every signature of ``path`` against ``trust_roots`` (certificates).

    Offline: no CRL/OCSP fetching (the kiosk and the tests have no such network); the
    receiving archive runs its own full validation. Raises :class:`SigningError` when the
    file has no signature or cannot be parsed.
    """
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = []
    for cert in trust_roots:
        if hasattr(cert, "public_bytes"):  # a cryptography certificate
            from cryptography.hazmat.primitives.serialization import Encoding

            cert = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
        roots.append(cert)
    reports = []
    try:
        with open(path, "rb") as fh:
            reader = PdfFileReader(fh, strict=False)
            sigs = list(reader.embedded_signatures)
            if not sigs:
                raise SigningError(
                    "not_signed", f"{path} carries no signature", "Tệp chưa được ký số."
                )
            for sig in sigs:
                vc = ValidationContext(trust_roots=roots, allow_fetching=False)
                status = _outside_event_loop(functools.partial(validate_pdf_signature, sig, vc))
                reports.append(
                    ValidationReport(
                        field_name=sig.field_name,
                        signer=status.signing_cert.subject.human_friendly,
                        intact=bool(status.intact),
                        valid=bool(status.valid),
                        trusted=bool(status.trusted),
                        coverage=status.coverage.name if status.coverage else "",
                        signed_at=status.signer_reported_dt,
                        subfilter=str(sig.sig_object.get("/SubFilter", "")),
                    )
                )
    except SigningError:
        raise
    except Exception as exc:
        raise SigningError(
            "signature_unreadable",
            f"cannot read the signatures of {path}: {type(exc).__name__}: {exc}",
            "Không đọc được chữ ký số của tệp.",
        ) from exc
    return reports
