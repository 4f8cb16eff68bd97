"""Audit actions and operator roles in words (the maintenance screen, issue 16: they showed
as English codes such as ``page.rotate`` and ``maintainer`` on the Vietnamese screen).

The audit log keeps its stable codes (they are hashed into the chain and read by tools);
only the screen shows them in words. State transitions are ``document.<state>`` and
``page.<state>`` and take the state's own label; other actions are listed here, and an
unknown code (a newer firmware's) is shown as "subject: code" so nothing is hidden.
"""

from __future__ import annotations

from kiosk_ui.i18n import Translator
from kiosk_ui.labels import DOC_STATES, N_

ROLES: dict[str, str] = {
    "operator": N_("Clerk"),
    "archivist": N_("Archivist"),
    "maintainer": N_("Maintainer"),
}

#: Page states -> label (document states come from labels.DOC_STATES).
PAGE_STATES: dict[str, str] = {
    "captured": N_("Page captured"),
    "previewed": N_("Page checked"),
    "rejected": N_("Page flagged by the quality check"),
    "queued": N_("Page waiting for text recognition"),
    "processing": N_("Page in text recognition"),
    "done": N_("Page processed"),
    "failed": N_("Page processing failed"),
    "deleted": N_("Page deleted"),
}

ACTIONS: dict[str, str] = {
    "document.create": N_("Document started"),
    "document.content_removed": N_("Discarded capture deleted (frames, images, text)"),
    "document.classify": N_("Confidentiality level set"),
    "document.coversheet": N_("Cover sheet read"),
    "document.export_copy": N_("Copy exported to USB"),
    "document.parked": N_("Unfinished document put aside"),
    "document.reorder": N_("Pages reordered"),
    "document.resume": N_("Document resumed"),
    "document.top_secret_refused": N_("Top secret document refused"),
    "page.accept": N_("Flagged page kept"),
    "page.blank_back_dropped": N_("Blank back page left out"),
    "page.capture": N_("Page captured"),
    "page.retake": N_("Page retaken"),
    "page.rotate": N_("Page rotated"),
    "capture.error": N_("Capture failed"),
    "capture.source": N_("Capture source changed"),
    "coversheet.invalid": N_("Unusable QR code"),
    "coversheet.read": N_("Cover sheet read"),
    "coversheet.on_retake": N_("Cover sheet shown at a retake"),
    "record.sequence": N_("Record number given"),
    "scan.error": N_("Scan failed"),
    "custody.out": N_("Original taken out"),
    "custody.return": N_("Original returned"),
    "device.unavailable": N_("Device not available"),
    "enroll.qr_ignored": N_("Enrollment QR ignored"),
    "enroll.refused": N_("Enrollment refused"),
    "export.cancel_requested": N_("Export cancelled"),
    "export.complete": N_("Export finished"),
    "export.failed": N_("Export failed"),
    "export.integrity_error": N_("Export check failed"),
    "export.refused": N_("Export refused"),
    "integrity.error": N_("Integrity error"),
    "ocr.unavailable": N_("Text recognition not available"),
    "operator.add": N_("Operator added"),
    "operator.locked": N_("Operator locked out"),
    "operator.signin": N_("Signed in"),
    "operator.signin_failed": N_("Wrong PIN"),
    "operator.signin_refused": N_("Sign-in refused"),
    "operator.signout": N_("Signed out"),
    "operator.unlock": N_("Operator unlocked"),
    "operator.disable": N_("Operator disabled"),
    "operator.enable": N_("Operator enabled again"),
    "operator.reset_pin": N_("PIN reset"),
    "recovery.done": N_("Recovery after restart"),
    "recovery.classified_pulled": N_(
        "Confidential document taken out of the upload queue at start-up"
    ),
    "recovery.orphan_frame": N_("Stray frame found at start-up"),
    "register.choose": N_("Register entry chosen"),
    "register.error": N_("Register error"),
    "register.import": N_("Register imported"),
    "register.import_failed": N_("Register import failed"),
    "register.import_refused": N_("Register import refused"),
    "register.import_undone": N_("Register import undone"),
    "register.link": N_("Linked to the register"),
    "register.match_ambiguous": N_("Several register entries match"),
    "register.match_conflict": N_("Register entry already linked"),
    "scanner.added": N_("Scanner connected"),
    "scanner.removed": N_("Scanner removed"),
    "selection.add": N_("Selection rule added"),
    "selection.outside": N_("Outside the selection"),
    "selection.remove": N_("Selection rule removed"),
    "uplink.enrolled": N_("Enrolled with the hub"),
    "uplink.refused_confidential": N_("Upload refused: the document is confidential"),
    "uplink.error": N_("Upload error"),
    "uplink.renewed": N_("Certificate renewed"),
    "uplink.retry": N_("Upload retried"),
    "usb.mount_error": N_("USB stick cannot be opened"),
    "usb.rejected": N_("USB stick refused"),
    "maintenance.checks": N_("Checks run again"),
    "incident.classified_delivered": N_(
        "Incident: a document sent over the network was classified afterwards"
    ),
}


def action_label(action: str, tr: Translator) -> str:
    """The audit action ``action`` in the screen's language."""
    if action in ACTIONS:
        return tr._(ACTIONS[action])
    subject, _, verb = action.partition(".")
    if subject == "document" and verb in DOC_STATES:
        return f"{tr._('Document')}: {tr._(DOC_STATES[verb][0])}"
    if subject == "page" and verb in PAGE_STATES:
        return tr._(PAGE_STATES[verb])
    return action


def role_label(role: str, tr: Translator) -> str:
    return tr._(ROLES[role]) if role in ROLES else role
