"""CMS (RFC 5652) for secure export: EnvelopedData to the receiving office, detached
signatures of the manifest, and the receiving side's decryption.

Why ``openssl cms`` for the bulk data: the receiving office decrypts with ``openssl cms``
(or any S/MIME tool), so the kiosk writes what that tool reads; and Python's
``cryptography`` builds EnvelopedData only from bytes in memory, while a document may be
hundreds of megabytes on a box with 1-2 GB of RAM. ``openssl cms -encrypt -stream`` reads
its input in chunks and writes indefinite-length BER as it goes, so memory stays flat.
The manifest is small: it is signed in-process with ``cryptography``'s PKCS#7 builder.

Recipient certificates are checked here before any data is encrypted to them: an expired
certificate or one whose key may not encrypt (keyUsage without keyEncipherment or
keyAgreement, a CA certificate) is refused with a reason a person can act on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from firmware.errors import KioskError

CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
MIN_RSA_BITS = 2048


class CmsError(KioskError):
    """An ``openssl cms`` run or a certificate check failed."""


def openssl_bin() -> str:
    exe = shutil.which("openssl")
    if exe is None:
        raise CmsError(
            "openssl_missing",
            "The openssl command is not installed (Debian package: openssl).",
            "Chưa cài đặt openssl; hãy báo cán bộ kỹ thuật.",
            status=503,
        )
    return exe


def load_certificate(path: Path | str) -> x509.Certificate:
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CmsError(
            "recipient_unreadable",
            f"{path} is not an X.509 certificate ({exc}).",
            f"Tệp chứng thư số {Path(path).name} không đọc được.",
        ) from None


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, hex: what the audit log and manifest name."""
    return cert.fingerprint(hashes.SHA256()).hex()


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


@dataclass(frozen=True)
class Recipient:
    path: Path
    cert: x509.Certificate

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    @property
    def subject(self) -> str:
        return subject(self.cert)


def check_recipient(cert: x509.Certificate, now: dt.datetime | None = None) -> None:
    """Raise :class:`CmsError` unless ``cert`` may receive encrypted documents now."""
    now = now or dt.datetime.now(dt.UTC)
    who = subject(cert)
    if now > cert.not_valid_after_utc:
        raise CmsError(
            "recipient_expired",
            f"The recipient certificate {who} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            "ask the receiving office for its new certificate.",
            f"Chứng thư số của nơi nhận ({who}) đã hết hạn ngày "
            f"{cert.not_valid_after_utc:%d/%m/%Y}; hãy xin chứng thư số mới của nơi nhận.",
        )
    if now < cert.not_valid_before_utc:
        raise CmsError(
            "recipient_not_yet_valid",
            f"The recipient certificate {who} is valid only from "
            f"{cert.not_valid_before_utc:%Y-%m-%d}; check the kiosk's clock.",
            f"Chứng thư số của nơi nhận ({who}) chưa có hiệu lực; hãy kiểm tra đồng hồ của máy.",
        )
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        needed, bits_ok = "key_encipherment", key.key_size >= MIN_RSA_BITS
    elif isinstance(key, ec.EllipticCurvePublicKey):
        needed, bits_ok = "key_agreement", True
    else:
        needed, bits_ok = "", False
    problem = ""
    if not needed or not bits_ok:
        problem = "its key type or size cannot be used for encryption"
    with contextlib.suppress(x509.ExtensionNotFound):
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            problem = "it is a CA certificate, not an office's encryption certificate"
    with contextlib.suppress(x509.ExtensionNotFound):
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if needed and not getattr(ku, needed):
            problem = f"its key usage does not allow encryption ({needed} missing)"
    if problem:
        raise CmsError(
            "recipient_wrong_usage",
            f"The recipient certificate {who} cannot be used: {problem}.",
            f"Chứng thư số của nơi nhận ({who}) không dùng để mã hóa được; "
            "hãy xin đúng chứng thư số mã hóa của nơi nhận.",
        )


def load_recipients(paths: Iterable[Path | str], now: dt.datetime | None = None) -> list[Recipient]:
    """Load and check every configured recipient; at least one is required."""
    out = []
    for p in paths:
        cert = load_certificate(p)
        check_recipient(cert, now)
        out.append(Recipient(Path(p), cert))
    if not out:
        raise CmsError(
            "no_recipients",
            "No recipient certificate is configured ([export] recipients).",
            "Chưa cấu hình chứng thư số của nơi nhận; hãy báo cán bộ kỹ thuật.",
            status=503,
        )
    return out


def _failed(what: str, stderr: bytes) -> CmsError:
    text = stderr.decode(errors="replace").strip().splitlines()
    detail = text[-1] if text else "no details"
    return CmsError(
        "cms_failed",
        f"openssl cms {what} failed: {detail}",
        "Mã hóa/giải mã thất bại; hãy báo cán bộ kỹ thuật.",
        status=500,
    )


def _widen_pipes(*pipes: Any) -> None:
    """Ask for 1 MiB pipe buffers (Linux): with the default 64 KiB, openssl and Python take
    turns every few kilobytes and the context switches cost more than the encryption."""
    for p in pipes:
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(p.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def _pump(
    args: list[str],
    produce: Callable[[BinaryIO], None],
    consume: Callable[[bytes], None],
    what: str,
    env: dict[str, str] | None = None,
) -> None:
    """Run ``openssl`` with ``produce`` writing its stdin (a thread) and ``consume`` taking
    its stdout in chunks: neither side ever holds more than a pipe buffer and a chunk."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin
        _widen_pipes(stdin, proc.stdout)
        feed_error: list[BaseException] = []

        def feed() -> None:
            try:
                # typeshed gives a pipe as IO[bytes]; the producers take BinaryIO (the same file)
                produce(stdin)  # type: ignore[arg-type]
            except BrokenPipeError:
                pass  # openssl stopped reading: its exit status tells why
            except BaseException as exc:
                feed_error.append(exc)
            finally:
                with contextlib.suppress(OSError):
                    stdin.close()

        t = threading.Thread(target=feed, name="cms-feed", daemon=True)
        t.start()
        try:
            while True:
                chunk = proc.stdout.read(CHUNK)
                if not chunk:
                    break
                consume(chunk)
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            rc = proc.wait()
            t.join()
        if feed_error:
            raise feed_error[0]
        if rc != 0:
            err.seek(0)
            raise _failed(what, err.read())


def _pem_files(certs: Iterable[x509.Certificate], directory: Path) -> list[str]:
    files = []
    for i, cert in enumerate(certs):
        p = directory / f"recipient-{i}.pem"
        p.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.append(str(p))
    return files


def encrypt_stream(
    produce: Callable[[BinaryIO], None],
    recipients: list[Recipient],
    consume: Callable[[bytes], None],
) -> None:
    """EnvelopedData (AES-256-CBC content, DER/BER) of what ``produce`` writes, to every
    recipient; ``consume`` receives the ciphertext in chunks as it is produced."""
    with tempfile.TemporaryDirectory(prefix="sohoa-cms-") as tmp:
        args = [openssl_bin(), "cms", "-encrypt", "-binary", "-stream", "-aes256"]
        args += ["-outform", "DER", *_pem_files((r.cert for r in recipients), Path(tmp))]
        _pump(args, produce, consume, "-encrypt")


def sign_detached(data: bytes, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bytes:
    """A detached CMS SignedData (DER) over ``data``, carrying the signer's certificate."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(cert, key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


@dataclass
class SignatureCheck:
    ok: bool  # the signature matches the content
    trusted: bool | None  # the signer chains to a trusted certificate (None: not asked)
    signer_subject: str = ""
    signer_fingerprint: str = ""
    error: str = ""


def verify_detached(
    content: Path, signature: Path, trust: list[Path] | None = None
) -> SignatureCheck:
    """Check a detached signature with ``openssl cms -verify``.

    Without ``trust`` only the signature itself is checked (the signer certificate comes
    from the signature; its fingerprint is reported so a person can compare it). With
    ``trust`` (the kiosk's certificate or the fleet CA) the signer must also chain to it.
    """
    exe = openssl_bin()
    with tempfile.TemporaryDirectory(prefix="sohoa-verify-") as tmp:
        signer_pem = Path(tmp) / "signer.pem"
        base = [exe, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature)]
        base += ["-content", str(content), "-out", os.devnull, "-signer", str(signer_pem)]
        res = subprocess.run([*base, "-noverify"], capture_output=True)
        if res.returncode != 0:
            lines = res.stderr.decode(errors="replace").strip().splitlines()
            return SignatureCheck(False, None, error=lines[-1] if lines else "invalid")
        signer = x509.load_pem_x509_certificates(signer_pem.read_bytes())[0]
        check = SignatureCheck(True, None, subject(signer), fingerprint(signer))
        if trust:
            bundle = Path(tmp) / "trust.pem"
            bundle.write_bytes(
                b"".join(
                    load_certificate(t).public_bytes(serialization.Encoding.PEM) for t in trust
                )
            )
            res = subprocess.run(
                [*base, "-CAfile", str(bundle), "-partial_chain", "-purpose", "any"],
                capture_output=True,
            )
            check.trusted = res.returncode == 0
            if not check.trusted:
                lines = res.stderr.decode(errors="replace").strip().splitlines()
                check.error = lines[-1] if lines else "signer not trusted"
        return check


# -- the receiving side ----------------------------------------------------------------
@dataclass(frozen=True)
class KeyFile:
    """A recipient private key in a PEM file (optionally with its certificate)."""

    path: Path
    cert: Path | None = None

    def openssl_args(self) -> list[str]:
        args = ["-inkey", str(self.path)]
        return args + (["-recip", str(self.cert)] if self.cert else [])

    def env(self) -> dict[str, str] | None:
        return None


@dataclass(frozen=True)
class Pkcs11Key:
    """A recipient key on a PKCS#11 token, through OpenSSL's pkcs11 engine (libp11).

    ``uri`` is an RFC 7512 URI (``pkcs11:token=...;object=...``); ``module`` the PKCS#11
    library (default: p11-kit's proxy, i.e. every token the system knows); ``pin`` is
    handed to openssl through its environment (``-passin env:``), never on the command
    line where ``ps`` would show it.
    """

    uri: str
    module: str | None = None
    pin: str | None = None
    cert: Path | None = None

    PIN_VAR = "SOHOA_PKCS11_PIN_FOR_OPENSSL"

    def openssl_args(self) -> list[str]:
        args = ["-engine", "pkcs11", "-keyform", "engine", "-inkey", self.uri]
        if self.pin:  # through the environment: never visible in the process list
            args += ["-passin", f"env:{self.PIN_VAR}"]
        return args + (["-recip", str(self.cert)] if self.cert else [])

    def env(self) -> dict[str, str] | None:
        env = dict(os.environ)
        if self.module:
            env["PKCS11_MODULE_PATH"] = self.module
        if self.pin:
            env[self.PIN_VAR] = self.pin
        return env


def decrypt_parts(parts: list[Path], out: Path, key: KeyFile | Pkcs11Key) -> str:
    """Decrypt the EnvelopedData split over ``parts`` (in order) into ``out``; return the
    SHA-256 of the plaintext. ``out`` appears only when decryption succeeded."""
    digest = hashlib.sha256()
    tmp = out.with_name(f".{out.name}.partial")
    args = [openssl_bin(), "cms", "-decrypt", "-binary", "-inform", "DER", *key.openssl_args()]

    def produce(stdin: BinaryIO) -> None:
        for part in parts:
            with open(part, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    stdin.write(chunk)

    with open(tmp, "wb") as sink:

        def consume(chunk: bytes) -> None:
            digest.update(chunk)
            sink.write(chunk)

        try:
            _pump(args, produce, consume, "-decrypt", env=key.env())
        except BaseException:
            sink.close()
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, out)
    return digest.hexdigest()
