"""Words the screens show for states and confidentiality levels.

Kept as data (English message ids marked with ``N_`` for extraction, translated when shown)
so the state wording is reviewed in one place. Document types are configuration, read from
the one registry (:mod:`firmware.metadata.types`).
"""

from __future__ import annotations

from firmware.routing import Level, is_confidential


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    return msgid


#: Document state -> (label, tone) where tone is one of ok / work / wait / bad / off.
DOC_STATES: dict[str, tuple[str, str]] = {
    "open": (N_("Capturing (paused)"), "wait"),
    "capturing": (N_("Capturing (paused)"), "wait"),
    "processing": (N_("Processing..."), "work"),
    "review": (N_("Waiting for confirmation"), "wait"),
    "sealing": (N_("Saving..."), "work"),
    "sealed": (N_("Saved, waiting to upload"), "ok"),
    "queued": (N_("Waiting to upload"), "ok"),
    "delivered": (N_("Uploaded"), "ok"),
    "exported": (N_("Exported to USB"), "ok"),
    "purged": (N_("Delivered, local copy removed"), "off"),
    "failed": (N_("Failed"), "bad"),
    "discarded": (N_("Discarded"), "off"),
}

#: Confidential documents in ``sealed`` wait for a secure USB export, not for the uplink.
SEALED_CONFIDENTIAL = N_("Saved, waiting for export to secure USB")
#: A confidential document is never delivered over the network: purged, it was exported
#: (issue 16: it read "delivered").
PURGED_CONFIDENTIAL = N_("Exported to USB, local copy removed")

#: Confidentiality levels (độ mật, codes of firmware.routing.Level) -> label; "tuyet_mat"
#: is shown and refused. Which levels are confidential is firmware.routing's rule.
CONFIDENTIALITY: tuple[tuple[str, str], ...] = (
    (Level.THUONG.value, N_("Ordinary")),
    (Level.MAT.value, N_("Confidential (Mật)")),
    (Level.TOI_MAT.value, N_("Secret (Tối mật)")),
    (Level.TUYET_MAT.value, N_("Top secret (Tuyệt mật)")),
)


def doc_type_choices(types_spec: str, lang: str) -> list[tuple[str, str]]:
    """(code, name) of the configured document types (firmware.metadata.types, the one
    registry), named in the screen's language."""
    from firmware.metadata.types import registry

    out = []
    for t in registry(types_spec).types:
        name = t.name if lang == "vi" or not t.name_en else f"{t.name_en} ({t.name})"
        out.append((t.code, name))
    return out


#: Quality issue code -> message id (the pipeline also sends its own vi/en text).
QUALITY: dict[str, str] = {
    "blurred": N_("Page is blurred: hold the page still, then retake"),
    "glare": N_("Glare on the page: tilt the lamp or the page, then retake"),
    "cut_off": N_("Page is cut off: put the whole page inside the frame, then retake"),
    "too_dark": N_("Too dark: turn on more light, then retake"),
    "blank": N_("Blank page"),
    "no_page": N_("No page found: place the document under the camera, then retake"),
    "corrupt": N_("The image is damaged: retake"),
    "no_text": N_("No text found on this page: it is kept without a text layer"),
}

#: Live-view reason -> message id: the quality codes, and the camera being gone.
LIVE_REASONS: dict[str, str] = {
    **QUALITY,
    "camera": N_("Camera not connected: check its cable, then wait a moment"),
}

#: Export preflight status (or unauthorized reason) -> short heading on the Export screen;
#: the sentence under it (what to do next) comes from :data:`firmware.export.preflight.MESSAGES`.
PREFLIGHT: dict[str, str] = {
    "no_device": N_("No USB stick"),
    "several_devices": N_("Several USB sticks"),
    "unauthorized": N_("USB stick not registered"),
    "foreign_interface": N_("Not a plain USB stick: refused"),
    "read_only": N_("USB stick is write-protected"),
    "not_enough_space": N_("Not enough space on the USB stick"),
    "unsupported_filesystem": N_("USB stick format not supported"),
    "mount_error": N_("USB stick cannot be opened"),
    "ready": N_("Ready to export"),
}


def doc_state_label(doc: dict, tr) -> tuple[str, str]:  # noqa: ANN001 - Translator
    """(label, tone) of a document for lists; failures carry their reason."""
    state = doc.get("state", "")
    label, tone = DOC_STATES.get(state, (state, "off"))
    if state == "sealed" and is_confidential(doc.get("confidentiality")):
        label = SEALED_CONFIDENTIAL
    if state == "purged" and is_confidential(doc.get("confidentiality")):
        label = PURGED_CONFIDENTIAL
    text = tr._(label)
    if state == "failed" and doc.get("error_message"):
        text = f"{text}: {doc['error_message']}"
    return text, tone
