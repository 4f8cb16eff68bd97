"""Is the sealed PDF's signature valid, and whose is it: the document screen's answer,
from pyHanko's validation of the file on disk (the same check as ``pyhanko sign validate``),
against the CA certificates of ``[signing] trust_roots``. Offline, like the kiosk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware.archive.signing import SigningError, validate_pdf
from kiosk_ui.i18n import Translator


def _roots(paths: list[str] | None) -> list[Any]:
    from cryptography import x509

    out = []
    for p in paths or []:
        try:
            out.append(x509.load_pem_x509_certificate(Path(p).read_bytes()))
        except (OSError, ValueError):
            continue  # a missing root only makes the signature "not trusted"
    return out


def signature_view(
    pdf_path: str | None, trust_roots: list[str] | None, tr: Translator
) -> dict[str, str] | None:
    """{"state": valid | untrusted | invalid | unsigned, "text"} or None without a PDF."""
    if not pdf_path or not Path(pdf_path).is_file():
        return None
    try:
        reports = validate_pdf(pdf_path, _roots(trust_roots))
    except SigningError as exc:
        if exc.code == "not_signed":
            return {"state": "unsigned", "text": tr._("Not digitally signed")}
        return {"state": "invalid", "text": tr._("The digital signature cannot be read")}
    r = reports[0]
    when = r.signed_at.astimezone().strftime("%d/%m/%Y %H:%M") if r.signed_at else ""
    if r.ok:
        return {
            "state": "valid",
            "text": f"{tr._('Digital signature valid')}: {r.signer}"
            + (f" · {when}" if when else ""),
        }
    if r.intact and r.valid:
        return {
            "state": "untrusted",
            "text": f"{tr._('Signature intact, signer not trusted')}: {r.signer}",
        }
    return {
        "state": "invalid",
        "text": tr._("Digital signature NOT valid: the file was changed after signing"),
    }
