"""The document and page state machines: the one module that owns the transitions.

Every state change in the catalog goes through :func:`check_document` /
:func:`check_page`; an illegal move raises :class:`IllegalTransition` before anything is
written, so a bug can never leave a document in a state it could not have reached.
Failures are states too: a document that failed to process is ``failed`` with a reason,
never silently stuck.
"""

from __future__ import annotations

from enum import StrEnum


class DocState(StrEnum):
    OPEN = "open"  # created, no page yet
    CAPTURING = "capturing"  # pages being captured
    PROCESSING = "processing"  # clerk finished; pages still in OCR
    REVIEW = "review"  # all pages processed; clerk confirms metadata
    SEALING = "sealing"  # PDF/A being written (a crash here is redone at start-up)
    SEALED = "sealed"  # archival PDF on disk, hash recorded
    QUEUED = "queued"  # in the uplink outbox (ordinary documents only)
    DELIVERED = "delivered"  # hub receipt received
    EXPORTED = "exported"  # written to a secure USB stick and verified
    PURGED = "purged"  # local copies removed after verified delivery/export
    FAILED = "failed"  # processing or sealing failed; reason recorded
    DISCARDED = "discarded"  # clerk abandoned the document before sealing


class PageState(StrEnum):
    CAPTURED = "captured"  # frame durably in spool/
    PREVIEWED = "previewed"  # preview + quality gates done
    REJECTED = "rejected"  # a quality gate failed; waits for retake or acceptance
    QUEUED = "queued"  # waiting for a worker
    PROCESSING = "processing"  # flatten + OCR running in a worker
    DONE = "done"  # page image and OCR words stored
    FAILED = "failed"  # processing failed; reason recorded
    DELETED = "deleted"  # retaken or deleted by the clerk (frame kept until purge)


D = DocState
P = PageState

DOC_TRANSITIONS: dict[DocState, frozenset[DocState]] = {
    D.OPEN: frozenset({D.CAPTURING, D.DISCARDED}),
    D.CAPTURING: frozenset({D.PROCESSING, D.DISCARDED, D.FAILED}),
    D.PROCESSING: frozenset({D.REVIEW, D.CAPTURING, D.FAILED, D.DISCARDED}),
    D.REVIEW: frozenset({D.SEALING, D.CAPTURING, D.DISCARDED}),
    D.SEALING: frozenset({D.SEALED, D.FAILED, D.REVIEW}),
    # sealed -> sealing: sealed again after an archivist changed the level (the XMP says it)
    D.SEALED: frozenset({D.QUEUED, D.EXPORTED, D.SEALING}),
    # queued -> sealed: taken out of the outbox (reclassified confidential, or refused by
    # the uplink's last check): it waits for the secure USB export
    D.QUEUED: frozenset({D.DELIVERED, D.SEALED}),
    D.DELIVERED: frozenset({D.PURGED}),
    D.EXPORTED: frozenset({D.PURGED}),
    D.PURGED: frozenset(),
    D.FAILED: frozenset({D.PROCESSING, D.REVIEW, D.CAPTURING, D.DISCARDED}),
    D.DISCARDED: frozenset(),
}

PAGE_TRANSITIONS: dict[PageState, frozenset[PageState]] = {
    P.CAPTURED: frozenset({P.PREVIEWED, P.REJECTED, P.FAILED, P.DELETED, P.QUEUED}),
    P.PREVIEWED: frozenset({P.QUEUED, P.DELETED}),
    P.REJECTED: frozenset({P.QUEUED, P.DELETED}),
    P.QUEUED: frozenset({P.PROCESSING, P.DONE, P.FAILED, P.DELETED}),
    P.PROCESSING: frozenset({P.DONE, P.FAILED, P.QUEUED, P.DELETED}),
    P.DONE: frozenset({P.DELETED, P.QUEUED}),
    P.FAILED: frozenset({P.QUEUED, P.DELETED}),
    P.DELETED: frozenset(),
}

# Documents in these states may still gain or lose pages (and be discarded): unfinished
# work, listed under "Việc đang dở". Any other state means the document is closed.
DOC_EDITABLE = frozenset({D.OPEN, D.CAPTURING, D.PROCESSING, D.REVIEW, D.FAILED})
# Still taking pages from the camera or scanner.
DOC_CAPTURING = frozenset({D.OPEN, D.CAPTURING})
# Digitized: an archival PDF was sealed (whatever happened to it since). Progress counts these.
DOC_DIGITIZED = frozenset({D.SEALED, D.QUEUED, D.DELIVERED, D.EXPORTED, D.PURGED})
# The document's copy is at the hub or on a stick (or gone): what it says can no longer change.
DOC_LEFT_THE_KIOSK = frozenset({D.DELIVERED, D.EXPORTED, D.PURGED})
# Not sealed yet: the operator who captured the document still sees it (visibility rule).
DOC_BEFORE_SEAL = DOC_EDITABLE | {D.SEALING}
# Moments, not places a document stays: the progress views do not list them.
DOC_MOMENTS = frozenset({D.OPEN, D.SEALING})
# Counted as work on the progress screen's total (everything but abandoned documents).
DOC_COUNTED = frozenset(set(DocState) - {D.DISCARDED})


class IllegalTransition(Exception):
    """A state change the machine does not allow (a programming or concurrency error)."""

    def __init__(self, kind: str, ident: str, current: str, target: str):
        super().__init__(f"{kind} {ident}: illegal transition {current} -> {target}")
        self.kind, self.ident, self.current, self.target = kind, ident, current, target


def is_editable(state: str) -> bool:
    """The one "is this document still open?" check."""
    return DocState(state) in DOC_EDITABLE


def check_document(doc_id: str, current: str, target: str) -> DocState:
    cur, tgt = DocState(current), DocState(target)
    if tgt not in DOC_TRANSITIONS[cur]:
        raise IllegalTransition("document", doc_id, cur, tgt)
    return tgt


def check_page(page_id: str, current: str, target: str) -> PageState:
    cur, tgt = PageState(current), PageState(target)
    if tgt not in PAGE_TRANSITIONS[cur]:
        raise IllegalTransition("page", page_id, cur, tgt)
    return tgt
