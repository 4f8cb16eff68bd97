"""The archival metadata of a digitized document, validated, with Vietnamese messages.

Fields follow the metadata of an archival document in Circular 02/2019/TT-BNV (Appendix I:
identifier, archival code, type, number, symbol, date, issuing body, subject, language, page
count, information symbol, keywords, access mode, reliability, handwriting, physical
condition, notes) plus what Party archives record (signer and title, confidentiality, copy
type, Party organization and member codes). One model serves three places that must agree:
the catalog row, the sealed PDF's XMP (:meth:`ArchivalMetadata.xmp_properties`, documented
in :mod:`firmware.archive.xmp`) and the JSON sidecar.

Validation errors carry the field, a Vietnamese sentence for the clerk and an English one for
the log (:class:`MetadataError`), because the review screen shows them next to the field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from firmware.metadata.numbering import (
    format_number_symbol,
    parse_number_symbol,
    symbol_kind,
    valid_symbol,
)
from firmware.metadata.types import LETTER_CODE, TypeRegistry, registry
from firmware.routing import Level, RoutingError, check_may_digitize
from firmware.store.textfold import fold, nfc

#: Digits of the sequence number in archival codes and file names ("H49.61.8.2019.05.003").
SEQUENCE_DIGITS = 3
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]{0,79}$")
_PARTY_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,39}$")
_EARLIEST = dt.date(1900, 1, 1)

LABELS_VI: dict[str, str] = {
    "identifier": "Mã định danh",
    "record_code": "Mã hồ sơ",
    "sequence": "Số thứ tự văn bản trong hồ sơ",
    "kind": "Khối văn bản",
    "doc_type": "Tên loại văn bản",
    "number": "Số văn bản",
    "symbol": "Ký hiệu văn bản",
    "date": "Ngày văn bản",
    "issuer": "Cơ quan ban hành",
    "subject": "Trích yếu nội dung",
    "language": "Ngôn ngữ",
    "page_count": "Số trang",
    "info_symbol": "Ký hiệu thông tin",
    "keywords": "Từ khóa",
    "access_mode": "Chế độ sử dụng",
    "reliability": "Mức độ tin cậy",
    "handwriting": "Bút tích",
    "physical_condition": "Tình trạng vật lý",
    "signer": "Người ký",
    "signer_title": "Chức vụ người ký",
    "confidentiality": "Độ mật",
    "copy_type": "Loại bản",
    "party_org_code": "Mã tổ chức đảng",
    "party_member_code": "Mã đảng viên",
    "notes": "Ghi chú",
}

ACCESS_MODES = {"cong_khai": "Công khai", "han_che": "Hạn chế sử dụng"}
RELIABILITY = {"so_hoa": "Số hóa", "goc_dien_tu": "Gốc điện tử", "hon_hop": "Hỗn hợp"}
COPY_TYPES = {
    "ban_goc": "Bản gốc",
    "ban_chinh": "Bản chính",
    "ban_sao": "Bản sao",
    "ban_sao_y": "Bản sao y",
    "ban_trich_sao": "Bản trích sao",
}


def _err(vi: str, en: str, field: str = "") -> PydanticCustomError:
    """A validation error that carries both languages (the English one is the message);
    ``field`` names the field for errors raised by the cross-field validator."""
    return PydanticCustomError("sohoa_metadata", en, {"vi": vi, "field": field})


def _types(info: ValidationInfo | None) -> TypeRegistry:
    """The configured document types, passed as validation context ``{"types": spec}``."""
    spec = (info.context or {}).get("types", "") if info is not None else ""
    return registry(spec)


def parse_date(value: Any) -> dt.date | None:
    """Accept a date, ISO "2025-04-10", "10/4/2025", "10-04-2025", "10.04.2025", or the
    printed "ngày 10 tháng 4 năm 2025" (with or without diacritics); None for empty."""
    if value is None or isinstance(value, dt.date):
        return value
    text = fold(str(value)).strip()
    if not text:
        return None
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    else:
        m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text) or re.search(
            r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})", text
        )
        if not m:
            raise _err(
                f"Ngày không đúng dạng: {value} (ví dụ 10/04/2025)",
                f"unrecognised date {value!r} (use dd/mm/yyyy or yyyy-mm-dd)",
            )
        d, mo, y = (int(g) for g in m.groups())
    try:
        return dt.date(y, mo, d)
    except ValueError:
        raise _err(f"Ngày không có thật: {value}", f"no such date: {value!r}") from None


class ArchivalMetadata(BaseModel):
    """Metadata of one archival document; every field optional until sealing needs it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    identifier: str = Field("", max_length=100, description="Mã định danh tài liệu")
    record_code: str = Field("", description="Mã hồ sơ, e.g. H49.61.8.2019.05")
    sequence: int | None = Field(None, description="Số thứ tự văn bản trong hồ sơ")
    kind: Literal["party", "state"] | None = Field(None, description="Văn bản Đảng / Nhà nước")
    doc_type: str = Field("", description="Code of the type (CV, NQ, QĐ...)")
    number: str = Field("", description="Số văn bản (digits as printed)")
    symbol: str = Field("", description="Ký hiệu văn bản: CV/TW, QĐ-UBND")
    date: dt.date | None = Field(None, description="Ngày tháng năm văn bản")
    issuer: str = Field("", max_length=500, description="Tên cơ quan, tổ chức ban hành")
    subject: str = Field("", max_length=2000, description="Trích yếu nội dung")
    language: str = Field("vi", description="ISO 639-1 codes, comma separated")
    page_count: int | None = Field(None, description="Số lượng trang")
    info_symbol: str = Field("", max_length=100, description="Ký hiệu thông tin")
    keywords: list[str] = Field(default_factory=list, description="Từ khóa")
    access_mode: Literal["cong_khai", "han_che"] | None = Field(None, description="Chế độ sử dụng")
    reliability: Literal["so_hoa", "goc_dien_tu", "hon_hop"] = Field("so_hoa")
    handwriting: str = Field("", max_length=500, description="Bút tích")
    physical_condition: str = Field("", max_length=500, description="Tình trạng vật lý")
    signer: str = Field("", max_length=200, description="Người ký")
    signer_title: str = Field("", max_length=200, description="Chức vụ người ký")
    confidentiality: Literal["thuong", "mat", "toi_mat"] = Field("thuong", description="Độ mật")
    copy_type: Literal["ban_goc", "ban_chinh", "ban_sao", "ban_sao_y", "ban_trich_sao"] = Field(
        "ban_chinh"
    )
    party_org_code: str = Field("", description="Mã tổ chức đảng")
    party_member_code: str = Field("", description="Mã đảng viên")
    notes: str = Field("", max_length=2000, description="Ghi chú")

    # -- field rules ----------------------------------------------------------------------
    @field_validator(
        "identifier",
        "issuer",
        "subject",
        "info_symbol",
        "handwriting",
        "physical_condition",
        "signer",
        "signer_title",
        "notes",
        mode="before",
    )
    @classmethod
    def _text(cls, v: Any) -> Any:
        return " ".join(nfc(str(v)).split()) if v is not None else ""

    @field_validator("record_code")
    @classmethod
    def _record_code(cls, v: str) -> str:
        if v and not _CODE_RE.match(v):
            raise _err(
                "Mã hồ sơ chỉ gồm chữ không dấu, chữ số, dấu chấm và gạch ngang "
                "(ví dụ H49.61.8.2019.05)",
                "record code may hold only ASCII letters, digits, '.', '-', '_'",
            )
        return v

    @field_validator("sequence", mode="before")
    @classmethod
    def _sequence(cls, v: Any) -> Any:
        if v in (None, ""):
            return None
        try:
            n = int(str(v).strip())
        except ValueError:
            raise _err(f"Số thứ tự phải là số: {v}", f"sequence must be a number: {v!r}") from None
        if not 1 <= n < 10**SEQUENCE_DIGITS:
            raise _err(
                f"Số thứ tự phải từ 1 đến {10**SEQUENCE_DIGITS - 1}",
                f"sequence must be 1..{10**SEQUENCE_DIGITS - 1}",
            )
        return n

    @field_validator("doc_type", mode="before")
    @classmethod
    def _doc_type(cls, v: Any, info: ValidationInfo) -> str:
        if v in (None, ""):
            return ""
        known = _types(info).lookup(str(v))
        if known is None:
            raise _err(f"Không có loại văn bản «{v}»", f"unknown document type {v!r}")
        return known.code

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, v: Any) -> str:
        return "" if v is None else nfc(str(v)).strip()

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> dt.date | None:
        d = parse_date(v)
        if d is not None and d > dt.date.today():
            raise _err(f"Ngày văn bản ở tương lai: {d:%d/%m/%Y}", f"date {d} is in the future")
        if d is not None and d < _EARLIEST:
            raise _err(f"Ngày văn bản quá sớm: {d:%d/%m/%Y}", f"date {d} is before 1900")
        return d

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> str:
        codes = [c.strip().lower() for c in str(v or "vi").replace(";", ",").split(",")]
        if not all(re.fullmatch(r"[a-z]{2,3}", c) for c in codes if c):
            raise _err(f"Mã ngôn ngữ không hợp lệ: {v} (ví dụ vi)", f"bad language code {v!r}")
        return ",".join(c for c in codes if c) or "vi"

    @field_validator("page_count", mode="before")
    @classmethod
    def _page_count(cls, v: Any) -> Any:
        if v in (None, ""):
            return None
        if int(v) < 1:
            raise _err("Số trang phải lớn hơn 0", "page count must be positive")
        return int(v)

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, v: Any) -> list[str]:
        items = v.split(",") if isinstance(v, str) else list(v or [])
        return [" ".join(nfc(str(k)).split()) for k in items if str(k).strip()]

    @field_validator("confidentiality", mode="before")
    @classmethod
    def _confidentiality(cls, v: Any) -> str:
        try:
            return check_may_digitize(str(v) if v is not None else None).value
        except RoutingError as exc:
            raise _err(exc.message_vi, str(exc)) from None

    @field_validator("access_mode", "copy_type", "reliability", mode="before")
    @classmethod
    def _choice(cls, v: Any) -> Any:
        """Accept the code or its Vietnamese label ("Bản sao", "ban sao")."""
        if v in (None, ""):
            return None
        key = fold(str(v)).strip().replace(" ", "_")
        for table in (ACCESS_MODES, COPY_TYPES, RELIABILITY):
            for code, label in table.items():
                if key in (code, fold(label).replace(" ", "_")):
                    return code
        return str(v)

    @field_validator("party_org_code", "party_member_code")
    @classmethod
    def _party_code(cls, v: str, info: ValidationInfo) -> str:
        """Form first; then, when a reference list is given as validation context
        ``{"party_codes": PartyCodes}`` (sealing), the code must be on it."""
        if v and not _PARTY_CODE_RE.match(v):
            raise _err(
                f"Mã không hợp lệ: {v} (chỉ gồm chữ không dấu, chữ số, dấu chấm, gạch ngang)",
                f"invalid code {v!r}",
            )
        codes = (info.context or {}).get("party_codes")
        if v and codes is not None:
            problem = codes.problem(info.field_name, v)
            if problem is not None:
                raise _err(*problem)
        return v

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ArchivalMetadata:
        """Cross-field rules: split a full "64-CV/TW", derive type and kind, check access."""
        if self.number and not self.number.isdigit():
            types = _types(info)
            parsed = parse_number_symbol(self.number, types)
            if parsed is None or (self.symbol and self.symbol != parsed.symbol):
                raise _err(
                    f"Số và ký hiệu không đúng dạng: {self.number} "
                    "(ví dụ 64-CV/TW hoặc 12/QĐ-UBND)",
                    f"number {self.number!r} is neither 64-CV/TW nor 12/QĐ-UBND",
                    "number",
                )
            object.__setattr__(self, "number", parsed.number)
            object.__setattr__(self, "symbol", parsed.symbol)
            if self.kind is None:
                object.__setattr__(self, "kind", parsed.kind)
            known = types.code(parsed.type_code)
            if not self.doc_type and known is not None:
                object.__setattr__(self, "doc_type", known.code)
        if self.symbol and not valid_symbol(self.symbol):
            raise _err(
                f"Ký hiệu văn bản không hợp lệ: {self.symbol}",
                f"invalid symbol {self.symbol!r}",
                "symbol",
            )
        if self.symbol and self.kind is None:
            object.__setattr__(self, "kind", symbol_kind(self.symbol))
        if self.access_mode is None:
            restricted = self.confidentiality != Level.THUONG.value
            object.__setattr__(self, "access_mode", "han_che" if restricted else "cong_khai")
        elif self.access_mode == "cong_khai" and self.confidentiality != Level.THUONG.value:
            raise _err(
                "Tài liệu mật không thể để chế độ sử dụng công khai",
                "a classified document cannot be open to the public",
                "access_mode",
            )
        return self

    # -- derived values -------------------------------------------------------------------
    @property
    def number_symbol(self) -> str:
        if not self.number:
            return ""
        if not self.symbol:
            return self.number
        return format_number_symbol(self.number, self.symbol, self.kind)

    @property
    def type_name(self) -> str:
        t = registry().code(self.doc_type) if self.doc_type else None
        return t.name if t else ""

    @property
    def archival_code(self) -> str | None:
        """Mã lưu trữ: record file code + sequence, None until both are known."""
        if not self.record_code or self.sequence is None:
            return None
        return f"{self.record_code}.{self.sequence:0{SEQUENCE_DIGITS}d}"

    @property
    def archival_name(self) -> str | None:
        """File name of the digitized copy: "<mã hồ sơ>.<số thứ tự>.pdf"."""
        code = self.archival_code
        return f"{code}.pdf" if code else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates ISO) for the catalog and the sidecar."""
        return self.model_dump(mode="json")

    def xmp_properties(self) -> dict[str, str]:
        """Non-empty fields under their ``sohoa:`` XMP names (see :mod:`firmware.archive.xmp`)."""
        values: dict[str, Any] = {
            "identifier": self.identifier,
            "archivalCode": self.archival_code,
            "recordCode": self.record_code,
            "sequence": self.sequence,
            "documentKind": self.kind,
            "documentType": self.doc_type,
            "documentTypeName": self.type_name,
            "number": self.number,
            "symbol": self.symbol,
            "numberSymbol": self.number_symbol,
            "issuedDate": self.date.isoformat() if self.date else None,
            "issuer": self.issuer,
            "subject": self.subject,
            "languages": self.language,
            "informationSymbol": self.info_symbol,
            "accessMode": self.access_mode,
            "reliability": self.reliability,
            "handwriting": self.handwriting,
            "physicalCondition": self.physical_condition,
            "signer": self.signer,
            "signerTitle": self.signer_title,
            "confidentiality": self.confidentiality,
            "copyType": self.copy_type,
            "partyOrgCode": self.party_org_code,
            "partyMemberCode": self.party_member_code,
            "notes": self.notes,
        }
        return {k: str(v) for k, v in values.items() if v not in (None, "")}

    @classmethod
    def from_xmp(cls, props: dict[str, str]) -> ArchivalMetadata:
        """Rebuild the model from ``parse_xmp(...)["archival"]`` (round trip of the above)."""
        back = {
            "identifier": "identifier",
            "recordCode": "record_code",
            "sequence": "sequence",
            "documentKind": "kind",
            "documentType": "doc_type",
            "number": "number",
            "symbol": "symbol",
            "issuedDate": "date",
            "issuer": "issuer",
            "subject": "subject",
            "languages": "language",
            "informationSymbol": "info_symbol",
            "accessMode": "access_mode",
            "reliability": "reliability",
            "handwriting": "handwriting",
            "physicalCondition": "physical_condition",
            "signer": "signer",
            "signerTitle": "signer_title",
            "confidentiality": "confidentiality",
            "copyType": "copy_type",
            "partyOrgCode": "party_org_code",
            "partyMemberCode": "party_member_code",
            "notes": "notes",
        }
        return cls.model_validate({back[k]: v for k, v in props.items() if k in back})


FIELDS = frozenset(ArchivalMetadata.model_fields)


@dataclass(frozen=True)
class FieldIssue:
    field: str
    message_vi: str
    message_en: str


class MetadataError(ValueError):
    """Metadata the clerk must correct; ``issues`` name each field with both languages."""

    def __init__(self, issues: list[FieldIssue]):
        self.issues = issues
        super().__init__("; ".join(f"{i.field}: {i.message_en}" for i in issues))

    @property
    def message_vi(self) -> str:
        return "; ".join(f"{LABELS_VI.get(i.field, i.field)}: {i.message_vi}" for i in self.issues)

    @property
    def message_en(self) -> str:
        return str(self)


def _issue(err: ErrorDetails) -> FieldIssue:
    loc = [str(x) for x in err.get("loc", ()) if not isinstance(x, int)]
    ctx = err.get("ctx") or {}
    name = ctx.get("field") or (loc[0] if loc else "metadata")
    if err.get("type") == "sohoa_metadata":
        return FieldIssue(name, ctx["vi"], err["msg"])
    if err.get("type") == "literal_error":
        return FieldIssue(name, "giá trị không nằm trong danh sách cho phép", err["msg"])
    if err.get("type") == "string_too_long":
        limit = ctx.get("max_length")
        return FieldIssue(name, f"quá dài (tối đa {limit} ký tự)", err["msg"])
    return FieldIssue(name, "giá trị không hợp lệ", err["msg"])


def validate_metadata(
    data: dict[str, Any], *, types: str = "", party_codes: Any = None, **defaults: Any
) -> ArchivalMetadata:
    """Validate a metadata dict (unknown keys ignored); raise :class:`MetadataError`.

    ``types`` is the configured document-type list (``[metadata] document_types``);
    ``party_codes`` the reference list of Party codes
    (:class:`firmware.metadata.party_codes.PartyCodes`, None = form only);
    ``defaults`` fill fields the dict leaves empty (e.g. the catalog's confidentiality).
    """
    merged = {k: v for k, v in defaults.items() if v not in (None, "")}
    merged.update({k: v for k, v in data.items() if v not in (None, "")})
    context = {"types": types, "party_codes": party_codes}
    try:
        return ArchivalMetadata.model_validate(merged, context=context)
    except ValidationError as exc:
        raise MetadataError([_issue(e) for e in exc.errors()]) from None


def extra_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Entries of a metadata dict the model does not define (kept by the sidecar as is)."""
    return {k: v for k, v in data.items() if k not in FIELDS}


__all__ = [
    "ACCESS_MODES",
    "COPY_TYPES",
    "LABELS_VI",
    "LETTER_CODE",
    "RELIABILITY",
    "ArchivalMetadata",
    "FieldIssue",
    "MetadataError",
    "extra_fields",
    "parse_date",
    "validate_metadata",
]
