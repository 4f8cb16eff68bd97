"""Words the screens show for states, document types and confidentiality levels.

Kept as data (English message ids marked with ``N_`` for extraction, translated when shown)
so the list of document types and the state wording are reviewed in one place. The types
are the common ones of shared/DOMAIN.md with their official abbreviations.
"""

from __future__ import annotations


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
    "exported": (N_("Exported"), "ok"),
    "purged": (N_("Delivered, local copy removed"), "off"),
    "failed": (N_("Failed"), "bad"),
    "discarded": (N_("Discarded"), "off"),
}

#: Confidential documents in ``sealed`` wait for a secure USB export, not for the uplink.
SEALED_CONFIDENTIAL = N_("Saved, waiting for export to secure USB")

#: (abbreviation, name) of common Party and State document types.
DOC_TYPES: tuple[tuple[str, str], ...] = (
    ("CV", N_("Official letter (Công văn)")),
    ("NQ", N_("Resolution (Nghị quyết)")),
    ("QĐ", N_("Decision (Quyết định)")),
    ("CT", N_("Directive (Chỉ thị)")),
    ("KL", N_("Conclusion (Kết luận)")),
    ("BC", N_("Report (Báo cáo)")),
    ("TTr", N_("Submission (Tờ trình)")),
    ("TB", N_("Notice (Thông báo)")),
    ("HD", N_("Guidance (Hướng dẫn)")),
    ("KH", N_("Plan (Kế hoạch)")),
    ("BB", N_("Minutes (Biên bản)")),
    ("QC", N_("Regulation (Quy chế)")),
    ("QĐi", N_("Rule (Quy định)")),
    ("TT", N_("Circular (Thông tri)")),
    ("CTr", N_("Programme (Chương trình)")),
    ("KHAC", N_("Other")),
)
DOC_TYPE_CODES = frozenset(code for code, _ in DOC_TYPES)

#: Confidentiality levels (độ mật): value -> label. "tuyet_mat" is shown and refused.
CONFIDENTIALITY: tuple[tuple[str, str], ...] = (
    ("thuong", N_("Ordinary")),
    ("mat", N_("Confidential (Mật)")),
    ("toi_mat", N_("Secret (Tối mật)")),
    ("tuyet_mat", N_("Top secret (Tuyệt mật)")),
)
CONFIDENTIAL_LEVELS = frozenset({"mat", "toi_mat"})
REFUSED_LEVEL = "tuyet_mat"

#: Quality issue code -> message id (the pipeline also sends its own vi/en text).
QUALITY: dict[str, str] = {
    "blurred": N_("Page is blurred: retake"),
    "glare": N_("Glare on the page"),
    "cut_off": N_("Page is cut off: reposition the document"),
    "too_dark": N_("Too dark"),
    "blank": N_("Blank page"),
    "no_page": N_("No page found"),
    "corrupt": N_("The image is damaged: retake"),
}

#: Export preflight status (or unauthorized reason) -> short heading on the Export screen;
#: the sentence under it (what to do next) comes from :data:`firmware.export.MESSAGES`.
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
    if state == "sealed" and doc.get("confidentiality") in CONFIDENTIAL_LEVELS:
        label = SEALED_CONFIDENTIAL
    text = tr._(label)
    if state == "failed" and doc.get("error_message"):
        text = f"{text}: {doc['error_message']}"
    return text, tone
