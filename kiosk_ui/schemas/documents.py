"""Documents and pages as the JSON API shows them: the dicts :func:`kiosk_ui.views.doc_view`
and :func:`kiosk_ui.views.page_view` build, and the answers of the document routes
(:mod:`kiosk_ui.routers.documents`, :mod:`kiosk_ui.routers.search`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kiosk_ui.schemas.base import Payload


class PageIssue(Payload):
    code: str
    severity: str | None
    message: str = Field(description="The quality problem in the session's language.")


class PageView(Payload):
    """:func:`kiosk_ui.views.page_view`."""

    id: str
    doc_id: str
    seq: int
    state: str
    rotation: int
    ok: bool | None = Field(description="Quality verdict; None before the page is checked.")
    kept: bool = Field(description="The clerk kept it despite the quality warning.")
    issues: list[PageIssue]
    has_preview: bool
    version: str = Field(description="Changes whenever the page's pictures change.")
    thumb_url: str
    preview_url: str
    error: str | None


class DocumentView(Payload):
    """:func:`kiosk_ui.views.doc_view`."""

    id: str
    state: str
    state_label: str
    tone: str
    title: str
    created_at: str | None
    updated_at: str | None
    page_count: int
    confidentiality: str = Field(description="thuong | mat | toi_mat | tuyet_mat")
    metadata: dict[str, Any] = Field(description="The archival metadata as stored.")
    has_pdf: bool
    sha256: str | None


class DocumentDetail(DocumentView):
    pages: list[PageView]
    current: bool = Field(description="The document being captured now.")


class ParkedDocument(DocumentView):
    """:func:`kiosk_ui.views.parked_documents`: unfinished work, resumable."""

    owner: str
    owner_name: str
    at_shown: str = Field(description="Last worked on, local time, dd/mm HH:MM.")
    thumb: str = Field(description="Page 1's thumbnail URL, empty without pages.")


class SearchHit(DocumentView):
    """:func:`kiosk_ui.views.search_documents`."""

    snippet: str = Field(description="Words around the first hit, in the page's spelling.")
    page: int | None = Field(description="The page of the hit; None for a title match.")


class Destination(Payload):
    """:func:`kiosk_ui.views.destination`: where a sealed document goes next."""

    route: Literal["secure_usb", "upload_queue"]
    message: str


class Sealed(Payload):
    document: DocumentView
    destination: Destination


class LevelChangeView(Payload):
    """:meth:`firmware.classification.LevelChange.to_dict`."""

    doc_id: str
    from_: str = Field(alias="from")
    to: str
    changed: bool
    pulled_from_outbox: bool
    delivered_incident: bool


class Reclassified(Payload):
    """Answer of ``POST /documents/{id}/classification``; ``destination`` and ``incident``
    are present only when they apply."""

    document: DocumentView
    change: LevelChangeView
    message: str
    destination: Destination | None = Field(
        None, description="Only for a sealed document still on the kiosk."
    )
    incident: bool | None = Field(
        None, description="Only when the hub already held a now classified document."
    )


class Removed(Payload):
    files_removed: int
    text_rows_removed: int


class Discarded(DocumentView):
    removed: Removed


class FormValue(Payload):
    """:class:`firmware.metadata.prefill.FormValue`."""

    value: str
    source: str = Field(description='"clerk" | "coversheet" | "register" | "ocr" | ""')
    confidence: float
    unsure: bool


class RegisterCandidate(Payload):
    """:meth:`firmware.register.matching.Candidate.to_dict`."""

    entry: dict[str, Any] = Field(description="The register entry as stored.")
    score: float
    exact: bool


class ReviewForm(Payload):
    """:func:`firmware.metadata.review.review_form`: the review form as it opens."""

    fields: dict[str, FormValue]
    entry: dict[str, Any] | None = Field(description="The register entry filling the form.")
    candidates: list[RegisterCandidate]
    none_chosen: bool
    read: bool = Field(description="Page 1 was read (OCR) for the form.")
