"""Document types (tên loại văn bản) and their abbreviations in numbers and symbols.

The list is configuration, not code: provinces add types (e.g. "Đề án", "ĐA") through
``[metadata] document_types`` in the kiosk configuration, pushed by the fleet. The built-in
list holds the types named by Hướng dẫn 36-HD/VPTW (Party) and Decree 30/2020/NĐ-CP (State).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from firmware.store.textfold import fold, nfc


@dataclass(frozen=True)
class DocumentType:
    """A document type: its code in the symbol ("QĐ"), its Vietnamese and English names."""

    code: str
    name: str
    name_en: str = ""

    @property
    def heading(self) -> str:
        """How the type is printed as the title of a document ("QUYẾT ĐỊNH")."""
        return self.name.upper()


DEFAULT_DOCUMENT_TYPES: tuple[DocumentType, ...] = (
    DocumentType("CV", "Công văn", "Official letter"),
    DocumentType("NQ", "Nghị quyết", "Resolution"),
    DocumentType("QĐ", "Quyết định", "Decision"),
    DocumentType("CT", "Chỉ thị", "Directive"),
    DocumentType("KL", "Kết luận", "Conclusion"),
    DocumentType("BC", "Báo cáo", "Report"),
    DocumentType("TTr", "Tờ trình", "Submission"),
    DocumentType("TB", "Thông báo", "Notice"),
    DocumentType("HD", "Hướng dẫn", "Guidance"),
    DocumentType("KH", "Kế hoạch", "Plan"),
    DocumentType("BB", "Biên bản", "Minutes"),
    DocumentType("QC", "Quy chế", "Statute"),
    DocumentType("QĐi", "Quy định", "Regulation (Party)"),
    DocumentType("TT", "Thông tri", "Circular note (Party)"),
    DocumentType("CTr", "Chương trình", "Programme"),
)

#: The type of letters: State letters carry no type code in their symbol ("45/UBND-VP").
LETTER_CODE = "CV"


class DocumentTypeError(ValueError):
    """The configured list of document types cannot be read."""


def parse_document_types(spec: str) -> tuple[DocumentType, ...]:
    """Read ``"CODE=Tên loại; CODE=Tên loại"``; an empty string means the built-in list.

    Entries extend and override the built-in list by code, so a province that only adds
    "ĐA=Đề án" keeps the standard types.
    """
    if not spec.strip():
        return DEFAULT_DOCUMENT_TYPES
    by_code = {t.code: t for t in DEFAULT_DOCUMENT_TYPES}
    for raw in spec.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        code, sep, name = entry.partition("=")
        code, name = nfc(code.strip()), nfc(name.strip())
        if not sep or not code or not name or not code.replace("-", "").isalnum():
            raise DocumentTypeError(
                f"document type entry {entry!r} must look like 'CODE=Name', e.g. 'ĐA=Đề án'"
            )
        old = by_code.get(code)
        by_code[code] = DocumentType(code, name, old.name_en if old else "")
    return tuple(by_code.values())


class TypeRegistry:
    """Look-ups over one list of types: by code (OCR-tolerant) and by name."""

    def __init__(self, types: tuple[DocumentType, ...] = DEFAULT_DOCUMENT_TYPES):
        self.types = types
        self.by_code = {t.code: t for t in types}
        # Folded codes lose "Đ": "QD" must still find "QĐ"; exact case wins first.
        self._by_folded_code: dict[str, DocumentType] = {}
        for t in types:
            self._by_folded_code.setdefault(fold(t.code), t)
        self._by_folded_name = {fold(t.name): t for t in types}

    def code(self, text: str) -> DocumentType | None:
        """The type whose code is ``text`` ("QĐ", OCR's "QD", "Qđ"...), else None."""
        text = nfc(text.strip())
        if text in self.by_code:
            return self.by_code[text]
        return self._by_folded_code.get(fold(text))

    def name(self, text: str) -> DocumentType | None:
        """The type named ``text`` with or without diacritics ("Quyết định", "QUYET DINH")."""
        return self._by_folded_name.get(" ".join(fold(text).split()))

    def lookup(self, text: str) -> DocumentType | None:
        """A code or a name."""
        return self.code(text) or self.name(text)


@lru_cache(maxsize=8)
def registry(spec: str = "") -> TypeRegistry:
    """The registry for a configuration string (cached: it is read on every validation)."""
    return TypeRegistry(parse_document_types(spec))
