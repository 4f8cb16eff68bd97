"""XMP metadata packets for Sohoa's archival PDF/A-2b files.

The packet is built here rather than through pikepdf's ``PdfMetadata`` editor because PDF/A
needs a structure that editor cannot express: every property of a custom namespace must be
described by a ``pdfaExtension`` schema inside the same packet (ISO 19005-2, 6.6.2.3), and
the archival fields of a document are dynamic (the ``archival`` dict). lxml does the XML
escaping, so titles like ``Quyết định <số 12>`` are safe.

Our namespace, documented for the receiving archive:

``sohoa`` = ``https://sohoa.vn/ns/archive/1.0/``

=================  ========  ==========================================================
property           type      meaning
=================  ========  ==========================================================
``docId``          Text      the kiosk catalog's document id
``kioskId``        Text      the kiosk that digitized the document
``pageCount``      Integer   number of pages in the PDF
``contentSHA256``  Text      SHA-256 (hex) of the page content, see :func:`firmware.archive.seal.seal_pdf`
``<key>``          Text      one property per entry of ``DocumentInfo.archival``
=================  ========  ==========================================================

Archival metadata (Circular 02/2019/TT-BNV and Party practice), written by
:meth:`firmware.metadata.model.ArchivalMetadata.xmp_properties` when known; the list with
types and meanings is :data:`ARCHIVAL_PROPERTIES` and goes into the packet's extension
schema, so a PDF/A validator and the receiving archive read the same documentation:
identifier, archivalCode, recordCode, sequence, documentKind, documentType,
documentTypeName, number, symbol, numberSymbol, issuedDate, issuer, subject, languages,
informationSymbol, accessMode, reliability, handwriting, physicalCondition, signer,
signerTitle, confidentiality, copyType, partyOrgCode, partyMemberCode, notes.
Other ``archival`` keys are declared as Text with a generic description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from provisioning.schemas import SOHOA_XMP_NS

SOHOA_NS = SOHOA_XMP_NS  # shared with the hub, which reads the level at ingest
SOHOA_PREFIX = "sohoa"

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#",
    SOHOA_PREFIX: SOHOA_NS,
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

#: Fixed properties of our namespace: name -> (XMP value type, description).
FIXED_PROPERTIES: dict[str, tuple[str, str]] = {
    "docId": ("Text", "Document identifier in the Sohoa kiosk catalog"),
    "kioskId": ("Text", "Identifier of the kiosk that digitized the document"),
    "pageCount": ("Integer", "Number of pages of the digitized document"),
    "contentSHA256": (
        "Text",
        "Hex SHA-256 over, page by page, the embedded JPEG bytes then the UTF-8 text layer",
    ),
}

#: Documented archival properties: name -> (XMP value type, description).
ARCHIVAL_PROPERTIES: dict[str, tuple[str, str]] = {
    "identifier": ("Text", "Mã định danh tài liệu: identifier of the archival document"),
    "archivalCode": ("Text", "Mã lưu trữ: record file code and sequence, as in the file name"),
    "recordCode": ("Text", "Mã hồ sơ: code of the record file holding the document"),
    "sequence": ("Integer", "Số thứ tự văn bản trong hồ sơ: sequence in the record file"),
    "documentKind": ("Text", "party (Party document) or state (State document)"),
    "documentType": ("Text", "Tên loại văn bản, as its code: CV, NQ, QĐ, CT, KL, BC, ..."),
    "documentTypeName": ("Text", "Tên loại văn bản: document type name (Công văn, ...)"),
    "number": ("Text", "Số văn bản: document number as printed"),
    "symbol": ("Text", "Ký hiệu văn bản: symbol (CV/TW, QĐ-UBND)"),
    "numberSymbol": ("Text", "Số và ký hiệu as printed (64-CV/TW, 12/QĐ-UBND)"),
    "issuedDate": ("Date", "Ngày tháng năm văn bản: date of the document"),
    "issuer": ("Text", "Tên cơ quan, tổ chức ban hành: issuing body"),
    "subject": ("Text", "Trích yếu nội dung: subject summary"),
    "languages": ("Text", "Ngôn ngữ: ISO 639-1 codes, comma separated"),
    "informationSymbol": ("Text", "Ký hiệu thông tin: information symbol"),
    "accessMode": ("Text", "Chế độ sử dụng: cong_khai (public) or han_che (restricted)"),
    "reliability": ("Text", "Mức độ tin cậy: so_hoa (digitized), goc_dien_tu, hon_hop"),
    "handwriting": ("Text", "Bút tích: handwritten annotations on the original"),
    "physicalCondition": ("Text", "Tình trạng vật lý: physical condition of the original"),
    "signer": ("Text", "Người ký: name of the signer"),
    "signerTitle": ("Text", "Chức vụ người ký: title of the signer"),
    "confidentiality": ("Text", "Độ mật: thuong, mat or toi_mat"),
    "copyType": ("Text", "Loại bản: ban_goc, ban_chinh, ban_sao, ban_sao_y, ban_trich_sao"),
    "partyOrgCode": ("Text", "Mã tổ chức đảng: Party organization code"),
    "partyMemberCode": ("Text", "Mã đảng viên: Party member code"),
    "notes": ("Text", "Ghi chú: notes"),
}

# An archival key becomes an XML element name: a letter or underscore, then letters,
# digits, '_', '-', '.'; no colon (it would be read as a namespace prefix).
_KEY_RE = re.compile(r"^[^\W\d][\w.-]*$")


class XmpError(ValueError):
    """The metadata cannot be written as, or read back from, a valid PDF/A XMP packet."""


@dataclass
class XmpFields:
    """Everything Sohoa writes into the packet; dates must be timezone-aware."""

    title: str
    language: str
    created: datetime
    modified: datetime
    producer: str
    creator_tool: str
    document_id: str  # "uuid:..."
    instance_id: str  # "uuid:..."
    doc_id: str
    kiosk_id: str
    page_count: int
    content_sha256: str
    creator: str = "Sohoa"
    subject: str = ""
    keywords: list[str] = field(default_factory=list)
    archival: dict[str, str] = field(default_factory=dict)

    @property
    def keywords_text(self) -> str:
        """``pdf:Keywords`` and DocInfo ``/Keywords`` (one string, must be identical)."""
        return ", ".join(self.keywords)


def check_archival_keys(archival: dict[str, str]) -> None:
    """Reject keys that cannot be XML names or that would shadow our fixed properties."""
    for key, value in archival.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise XmpError(f"archival key {key!r} is not a valid XMP property name")
        if key in FIXED_PROPERTIES:
            raise XmpError(f"archival key {key!r} clashes with a built-in sohoa property")
        if not isinstance(value, str):
            raise XmpError(f"archival value for {key!r} must be a string")


def xmp_date(dt: datetime) -> str:
    """ISO 8601 with seconds and offset, as XMP and PDF/A validators expect."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise XmpError("dates in XMP must be timezone-aware")
    return dt.isoformat(timespec="seconds")


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _sub(parent: etree._Element, prefix: str, name: str, text: str | None = None):
    el = etree.SubElement(parent, _q(prefix, name))
    if text is not None:
        el.text = text
    return el


def _container(parent, prefix: str, name: str, kind: str, items: list[str], lang=False):
    outer = _sub(parent, prefix, name)
    box = _sub(outer, "rdf", kind)
    for item in items:
        li = _sub(box, "rdf", "li", item)
        if lang:
            li.set(_XML_LANG, "x-default")
    return outer


def _resource_li(parent):
    li = _sub(parent, "rdf", "li")
    li.set(_q("rdf", "parseType"), "Resource")
    return li


def _extension_schema(desc, archival_keys: list[str]) -> None:
    """The pdfaExtension description PDF/A requires for every custom property we use."""
    schemas = _sub(desc, "pdfaExtension", "schemas")
    bag = _sub(schemas, "rdf", "Bag")
    schema = _resource_li(bag)
    _sub(schema, "pdfaSchema", "schema", "Sohoa archival metadata")
    _sub(schema, "pdfaSchema", "namespaceURI", SOHOA_NS)
    _sub(schema, "pdfaSchema", "prefix", SOHOA_PREFIX)
    props = _sub(_sub(schema, "pdfaSchema", "property"), "rdf", "Seq")
    entries = list(FIXED_PROPERTIES.items()) + [
        (k, ARCHIVAL_PROPERTIES.get(k, ("Text", f"Archival metadata field '{k}'")))
        for k in archival_keys
    ]
    for name, (value_type, description) in entries:
        li = _resource_li(props)
        _sub(li, "pdfaProperty", "name", name)
        _sub(li, "pdfaProperty", "valueType", value_type)
        _sub(li, "pdfaProperty", "category", "external")
        _sub(li, "pdfaProperty", "description", description)


def build_xmp(f: XmpFields) -> bytes:
    """Serialize ``f`` as a complete, writable XMP packet (UTF-8, with padding)."""
    check_archival_keys(f.archival)
    xmpmeta = etree.Element(_q("x", "xmpmeta"), nsmap={"x": NS["x"]})
    rdf = etree.SubElement(xmpmeta, _q("rdf", "RDF"), nsmap={"rdf": NS["rdf"]})
    nsmap = {p: u for p, u in NS.items() if p not in ("x", "rdf")}
    desc = etree.SubElement(rdf, _q("rdf", "Description"), nsmap=nsmap)
    desc.set(_q("rdf", "about"), "")

    _sub(desc, "pdfaid", "part", "2")
    _sub(desc, "pdfaid", "conformance", "B")

    _sub(desc, "dc", "format", "application/pdf")
    _container(desc, "dc", "title", "Alt", [f.title], lang=True)
    _container(desc, "dc", "creator", "Seq", [f.creator])
    _container(desc, "dc", "language", "Bag", [f.language])
    if f.subject:
        _container(desc, "dc", "description", "Alt", [f.subject], lang=True)
    if f.keywords:
        _container(desc, "dc", "subject", "Bag", list(f.keywords))

    _sub(desc, "xmp", "CreatorTool", f.creator_tool)
    _sub(desc, "xmp", "CreateDate", xmp_date(f.created))
    _sub(desc, "xmp", "ModifyDate", xmp_date(f.modified))
    _sub(desc, "xmp", "MetadataDate", xmp_date(f.modified))

    _sub(desc, "pdf", "Producer", f.producer)
    if f.keywords:
        _sub(desc, "pdf", "Keywords", f.keywords_text)

    _sub(desc, "xmpMM", "DocumentID", f.document_id)
    _sub(desc, "xmpMM", "InstanceID", f.instance_id)

    _sub(desc, SOHOA_PREFIX, "docId", f.doc_id)
    _sub(desc, SOHOA_PREFIX, "kioskId", f.kiosk_id)
    _sub(desc, SOHOA_PREFIX, "pageCount", str(int(f.page_count)))
    _sub(desc, SOHOA_PREFIX, "contentSHA256", f.content_sha256)
    for key, value in f.archival.items():
        _sub(desc, SOHOA_PREFIX, key, value)

    _extension_schema(desc, list(f.archival))

    body = etree.tostring(xmpmeta, encoding="utf-8", pretty_print=True).decode("utf-8")
    # The padding lets a later tool edit the packet in place (XMP spec, part 1, 7.3.2).
    padding = ("\n" + " " * 99) * 20
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        + body
        + padding
        + '\n<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def _text(desc, prefix: str, name: str) -> str | None:
    el = desc.find(_q(prefix, name))
    return None if el is None else (el.text or "")


def _items(desc, prefix: str, name: str) -> list[str]:
    el = desc.find(_q(prefix, name))
    if el is None:
        return []
    return [li.text or "" for li in el.iter(_q("rdf", "li"))]


def parse_xmp(data: bytes) -> dict:
    """Read back the fields Sohoa writes (and the PDF/A identification) from a packet.

    Returns a flat dict: ``pdfa_part``, ``pdfa_conformance``, ``title``, ``language``,
    ``creator``, ``subject``, ``keywords`` (list), ``creator_tool``, ``producer``,
    ``created``/``modified``/``metadata_date`` (ISO strings), ``document_id``,
    ``instance_id``, ``doc_id``, ``kiosk_id``, ``page_count`` (int), ``content_sha256``,
    ``archival`` (dict) and ``extension_properties`` (names declared in the schema).
    """
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as exc:
        raise XmpError(f"XMP packet is not well-formed XML: {exc}") from exc
    descs = root.findall(f".//{_q('rdf', 'Description')}")
    if not descs:
        raise XmpError("XMP packet has no rdf:Description")
    # Properties may be spread over several rdf:Description elements; merge them.
    merged = etree.Element("merged")
    for d in descs:
        for child in list(d):
            merged.append(child)

    declared = [el.text or "" for el in merged.iter(_q("pdfaProperty", "name"))]
    fixed = set(FIXED_PROPERTIES)
    archival = {
        etree.QName(el).localname: el.text or ""
        for el in merged
        if etree.QName(el).namespace == SOHOA_NS and etree.QName(el).localname not in fixed
    }
    page_count_text = _text(merged, SOHOA_PREFIX, "pageCount")
    try:
        page_count = int(page_count_text) if page_count_text is not None else None
    except ValueError as exc:
        raise XmpError(f"sohoa:pageCount is not an integer: {page_count_text!r}") from exc
    titles = _items(merged, "dc", "title")
    subjects = _items(merged, "dc", "description")
    return {
        "pdfa_part": _text(merged, "pdfaid", "part"),
        "pdfa_conformance": _text(merged, "pdfaid", "conformance"),
        "title": titles[0] if titles else None,
        "language": next(iter(_items(merged, "dc", "language")), None),
        "creator": next(iter(_items(merged, "dc", "creator")), None),
        "subject": subjects[0] if subjects else "",
        "keywords": _items(merged, "dc", "subject"),
        "pdf_keywords": _text(merged, "pdf", "Keywords") or "",
        "creator_tool": _text(merged, "xmp", "CreatorTool"),
        "producer": _text(merged, "pdf", "Producer"),
        "created": _text(merged, "xmp", "CreateDate"),
        "modified": _text(merged, "xmp", "ModifyDate"),
        "metadata_date": _text(merged, "xmp", "MetadataDate"),
        "document_id": _text(merged, "xmpMM", "DocumentID"),
        "instance_id": _text(merged, "xmpMM", "InstanceID"),
        "doc_id": _text(merged, SOHOA_PREFIX, "docId"),
        "kiosk_id": _text(merged, SOHOA_PREFIX, "kioskId"),
        "page_count": page_count,
        "content_sha256": _text(merged, SOHOA_PREFIX, "contentSHA256"),
        "archival": archival,
        "extension_properties": declared,
    }
