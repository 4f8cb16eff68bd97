"""QR cover sheets and batch separators: what the QR code says, written and read back.

A cover sheet lies on top of a paper document and tells the kiosk what the document is, so
the clerk types nothing: either a register entry (register, entry number, number and symbol,
date, type, issuing body, subject, confidentiality) or a place in a record file (mã hồ sơ +
sequence), or both. A batch separator sheet between documents of a pile closes one document
and opens the next, for continuous scanning. Neither sheet is ever archived as a page.

Why the payload is self-contained (the register entry's fields *and* its key, not a bare
id): sheets are printed at the office, maybe before the register is imported on this kiosk
or on another kiosk, and must still give the document its metadata when read.

Format, version 1 (UTF-8 text, compact so the QR stays small enough for a 1/4-scale read)::

    SOHOA1|D|rg=Sổ đến 2025|en=1234|no=64|sy=CV/TW|dt=2025-04-10|ty=CV|su=V/v ...#9f3c01aa
    SOHOA1|S|n=3#5d1e04b7

- ``SOHOA`` and the format version; a kiosk refuses versions it does not know by name,
  rather than guessing at fields whose meaning may have changed;
- the kind: ``D`` document cover sheet, ``S`` batch separator;
- ``key=value`` fields (short keys, see :data:`FIELD_KEYS`); values are NFC with whitespace
  collapsed, and ``%``, ``|``, ``#`` percent-escaped; unknown keys are ignored, so a later
  kiosk may add optional fields within version 1;
- ``#`` and the CRC-32 of every byte before it (8 hex digits): QR codes correct their own
  errors, but a payload also travels through keyboard-wedge barcode readers and copy-paste,
  and a truncated one must be refused rather than half-read.
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from firmware.errors import KioskError
from firmware.metadata.model import MetadataError, validate_metadata
from firmware.metadata.types import registry
from firmware.routing import LABELS_EN, LABELS_VI, Level
from firmware.store.textfold import fold, nfc

MAGIC = "SOHOA"
VERSION = 1
KIND_DOCUMENT = "D"
KIND_SEPARATOR = "S"
#: Payload budget in UTF-8 bytes: a version-10 QR at error correction M holds 213 bytes;
#: beyond that the modules get too small for a quarter-scale read of a 12 MP frame.
MAX_PAYLOAD_BYTES = 200
#: Characters of the subject summary carried by default (the sheet prints it in full).
SUBJECT_CHARS = 80
ELLIPSIS = "…"

#: Short payload key -> attribute of :class:`CoverSheet`.
FIELD_KEYS: dict[str, str] = {
    "rg": "register",
    "dr": "direction",
    "en": "entry",
    "rk": "key",
    "rc": "record_code",
    "sq": "sequence",
    "ty": "doc_type",
    "no": "number",
    "sy": "symbol",
    "dt": "date",
    "is": "issuer",
    "su": "subject",
    "cf": "confidentiality",
}
_KEY_OF = {attr: key for key, attr in FIELD_KEYS.items()}

#: Register direction (as :mod:`firmware.register` stores it) -> (Vietnamese, English).
DIRECTIONS = {"in": ("đến", "incoming"), "out": ("đi", "outgoing")}
_DIRECTION_WORDS = {
    "den": "in",
    "incoming": "in",
    "in": "in",
    "di": "out",
    "outgoing": "out",
    "out": "out",
}
_HEADER_RE = re.compile(r"^SOHOA(\d{1,3})\|")
_CRC_RE = re.compile(r"^[0-9a-f]{8}$")
#: Fields of the archival metadata model a cover sheet fills (confidentiality last).
_MODEL_FIELDS = (
    "record_code",
    "sequence",
    "doc_type",
    "number",
    "symbol",
    "date",
    "issuer",
    "subject",
    "confidentiality",
)
_ESCAPES = str.maketrans({"%": "%25", "|": "%7C", "#": "%23"})


class PayloadError(KioskError):
    """A QR code that is not a usable Sohoa sheet, with messages for the clerk and the log.

    ``code``: ``foreign`` (someone else's QR, e.g. a verification code printed on a
    document), ``version`` (a format this kiosk does not read), ``damaged`` (truncated,
    altered, malformed), ``kind`` (unknown sheet kind), ``fields`` (values that fail the
    metadata rules, e.g. an impossible date or a "Tuyệt mật" entry), ``empty`` (a cover
    sheet that says nothing about the document).
    """

    def __init__(self, code: str, message_en: str, message_vi: str):
        super().__init__(code, message_en, message_vi, status=422)


def _clean(value: Any) -> str:
    return " ".join(nfc(str(value)).split()) if value is not None else ""


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, marked with "…"."""
    text = _clean(text)
    if len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + ELLIPSIS


def parse_direction(value: Any) -> str:
    """ "đến"/"den"/"in"/"incoming" -> "in", "đi"/"out"/"outgoing" -> "out", else ""."""
    text = fold(_clean(value)).lower()
    if not text:
        return ""
    found = _DIRECTION_WORDS.get(text) or _DIRECTION_WORDS.get(text.split()[-1])
    if found is None:
        raise PayloadError(
            "fields",
            f"register direction must be 'in' (đến) or 'out' (đi), not {value!r}",
            f"Loại sổ phải là «đến» hoặc «đi», không phải «{value}»",
        )
    return found


@dataclass(frozen=True)
class CoverSheet:
    """A document cover sheet: a register entry, a place in a record file, or both.

    Build it with :meth:`build`, which checks every value against the archival metadata
    rules (the same ones sealing applies), so a sheet that prints is a sheet that reads.
    """

    register: str = ""
    direction: str = ""  # "in" (văn bản đến) | "out" (văn bản đi) | ""
    entry: str = ""  # number of the entry in the register (số đến / số thứ tự)
    key: str = ""  # the register entry's key, for matching once the register is imported
    record_code: str = ""
    sequence: int | None = None
    doc_type: str = ""
    number: str = ""
    symbol: str = ""
    date: dt.date | None = None
    issuer: str = ""
    subject: str = ""
    confidentiality: str = Level.THUONG.value
    kind: str = field(default=KIND_DOCUMENT, init=False)

    @classmethod
    def build(cls, *, types: str = "", **values: Any) -> CoverSheet:
        """Validate and normalise: "64-CV/TW" is split into number and symbol, type names
        become codes, dates become ``date``; raises :class:`PayloadError` ("fields")."""
        unknown = set(values) - set(_KEY_OF)
        if unknown:
            raise TypeError(f"unknown cover sheet fields {sorted(unknown)}")
        text = {k: _clean(v) for k, v in values.items() if k != "sequence" and v is not None}
        model_in: dict[str, Any] = {
            k: text.get(k, "")
            for k in ("record_code", "doc_type", "number", "symbol", "issuer", "subject")
        }
        model_in["date"] = values.get("date") or ""
        model_in["sequence"] = values.get("sequence")
        model_in["confidentiality"] = values.get("confidentiality") or Level.THUONG.value
        try:
            model = validate_metadata(model_in, types=types)
        except MetadataError as exc:
            raise PayloadError(
                "fields", f"cover sheet values: {exc.message_en}", exc.message_vi
            ) from None
        entry = text.get("entry", "")
        if entry and not re.fullmatch(r"[0-9A-Za-z./-]{1,20}", entry):
            raise PayloadError(
                "fields",
                f"register entry number {entry!r} may hold only digits, letters, '.', '/', '-'",
                f"Số đăng ký «{entry}» chỉ gồm chữ số, chữ cái, dấu chấm, gạch chéo, gạch ngang",
            )
        sheet = cls(
            register=text.get("register", ""),
            direction=parse_direction(values.get("direction")),
            entry=entry,
            key=text.get("key", ""),
            record_code=model.record_code,
            sequence=model.sequence,
            doc_type=model.doc_type,
            number=model.number,
            symbol=model.symbol,
            date=model.date,
            issuer=model.issuer,
            subject=model.subject,
            confidentiality=model.confidentiality,
        )
        if not (sheet.record_code or sheet.number or sheet.entry or sheet.key):
            raise PayloadError(
                "empty",
                "a cover sheet needs a register entry (number and symbol, or entry number) "
                "or a record file code",
                "Tờ bìa phải có số và ký hiệu văn bản, số đăng ký, hoặc mã hồ sơ",
            )
        return sheet

    # -- derived ------------------------------------------------------------------------
    @property
    def number_symbol(self) -> str:
        from firmware.metadata.numbering import format_number_symbol

        if self.number and self.symbol:
            return format_number_symbol(self.number, self.symbol)
        return self.number

    @property
    def register_key(self) -> str:
        """The entry's key: the given one, else register name and entry number."""
        if self.key:
            return self.key
        if self.register and self.entry:
            return f"{self.register}:{self.entry}"
        return ""

    @property
    def subject_shortened(self) -> bool:
        return self.subject.endswith(ELLIPSIS)

    def values(self) -> dict[str, Any]:
        """Attribute -> value for every field the sheet carries (empty ones left out)."""
        out: dict[str, Any] = {}
        for attr in FIELD_KEYS.values():
            v = getattr(self, attr)
            if attr == "confidentiality" and v == Level.THUONG.value:
                continue  # the default costs no bytes
            if v not in (None, ""):
                out[attr] = v.isoformat() if isinstance(v, dt.date) else v
        return out

    def document_metadata(self) -> dict[str, Any]:
        """The document's metadata as the catalog keeps it (the model's keys, plus the
        register entry under ``register*`` keys, which sealing keeps as extras). The
        confidentiality level is not in it: it is stored once, by
        :func:`firmware.classification.set_level`.

        ``field_sources`` names each field as read from the cover sheet, so the review
        screen shows it as confirmed rather than guessed by OCR.
        """
        meta: dict[str, Any] = {}
        for attr in _MODEL_FIELDS[:-1]:
            v = getattr(self, attr)
            if v not in (None, ""):
                meta[attr] = v.isoformat() if isinstance(v, dt.date) else v
        if self.number_symbol:
            meta["number_symbol"] = self.number_symbol
        for key, attr in (
            ("register", "register"),
            ("register_direction", "direction"),
            ("register_entry", "entry"),
        ):
            if getattr(self, attr):
                meta[key] = getattr(self, attr)
        if self.register_key:
            meta["register_key"] = self.register_key
        meta["field_sources"] = {k: "coversheet" for k in meta if k in _MODEL_FIELDS}
        meta["coversheet"] = {
            "version": VERSION,
            "summary_vi": self.summary("vi"),
            "summary_en": self.summary("en"),
            "subject_shortened": self.subject_shortened,
        }
        return meta

    def summary(self, lang: str = "vi") -> str:
        """One line for the scan screen and the audit log: what the sheet says."""
        vi = lang == "vi"
        parts: list[str] = []
        if self.number_symbol:
            parts.append(("Số " if vi else "No. ") + self.number_symbol)
        if self.date:
            parts.append(("ngày " if vi else "of ") + f"{self.date:%d/%m/%Y}")
        known = registry().code(self.doc_type) if self.doc_type else None
        if known is not None:
            parts.append(known.name if vi or not known.name_en else known.name_en)
        if self.entry:
            words = DIRECTIONS.get(self.direction)
            if words:
                label = f"số {words[0]}" if vi else f"{words[1]} no."
            else:
                label = "số" if vi else "entry"
            parts.append(", ".join(p for p in (self.register, f"{label} {self.entry}") if p))
        elif self.register:
            parts.append(self.register)
        if self.record_code:
            seq = f" / {self.sequence:03d}" if self.sequence is not None else ""
            parts.append(("hồ sơ " if vi else "record file ") + self.record_code + seq)
        if self.confidentiality != Level.THUONG.value:
            level = Level(self.confidentiality)
            parts.append((LABELS_VI if vi else LABELS_EN)[level])
        return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class SeparatorSheet:
    """A batch separator: closes the document being captured and opens the next one.

    ``number`` only tells printed sheets apart for people; any separator does the same.
    """

    number: int | None = None
    kind: str = field(default=KIND_SEPARATOR, init=False)

    def values(self) -> dict[str, Any]:
        return {"n": self.number} if self.number is not None else {}

    def summary(self, lang: str = "vi") -> str:
        num = f" {self.number}" if self.number is not None else ""
        return f"Tờ tách lô{num}" if lang == "vi" else f"Batch separator{num}"


Sheet = CoverSheet | SeparatorSheet


# -- encoding ---------------------------------------------------------------------------
def _escape(value: Any) -> str:
    return _clean(value).translate(_ESCAPES)


def _checksum(body: str) -> str:
    return f"{zlib.crc32(body.encode('utf-8')) & 0xFFFFFFFF:08x}"


def encode(sheet: Sheet) -> str:
    """The QR text of ``sheet`` (see the module docstring for the format)."""
    parts = [f"{MAGIC}{VERSION}", sheet.kind]
    if isinstance(sheet, CoverSheet):
        for attr, value in sheet.values().items():
            parts.append(f"{_KEY_OF[attr]}={_escape(value)}")
    else:
        parts += [f"{k}={_escape(v)}" for k, v in sheet.values().items()]
    body = "|".join(parts)
    return f"{body}#{_checksum(body)}"


def fit(sheet: Sheet, max_bytes: int = MAX_PAYLOAD_BYTES) -> Sheet:
    """``sheet`` with its subject (then issuing body) shortened until the payload fits in
    ``max_bytes``: the printed sheet keeps the full text for people; the QR carries what
    fits. Raises :class:`PayloadError` when even the short form is too long."""
    if isinstance(sheet, SeparatorSheet):
        return sheet
    current = sheet
    for attr in ("subject", "issuer"):
        while len(encode(current).encode("utf-8")) > max_bytes:
            text = getattr(current, attr)
            if len(text) <= 12:
                break
            short = shorten(text, len(text) - 8)
            if attr == "subject":
                current = replace(current, subject=short)
            else:
                current = replace(current, issuer=short)
    size = len(encode(current).encode("utf-8"))
    if size > max_bytes:
        raise PayloadError(
            "too_long",
            f"the cover sheet payload is {size} bytes even shortened (at most {max_bytes}); "
            "shorten the register name or key",
            f"Nội dung tờ bìa quá dài ({size} byte, tối đa {max_bytes}); "
            "hãy rút gọn tên sổ hoặc mã",
        )
    return current


# -- decoding ---------------------------------------------------------------------------
def is_sohoa(text: str) -> bool:
    """True if ``text`` claims to be a Sohoa sheet (it may still be damaged)."""
    return text.lstrip().startswith(MAGIC)


def decode(text: str, *, types: str = "") -> Sheet:
    """Read a QR text back into a sheet; :class:`PayloadError` says why it cannot be used."""
    text = text.strip()
    if not is_sohoa(text):
        shown = text[:40] + ("…" if len(text) > 40 else "")
        raise PayloadError(
            "foreign",
            f"the QR code is not a Sohoa sheet ({shown!r}); the frame is kept as a page",
            "Mã QR trên trang không phải tờ bìa Sohoa; ảnh được lưu như một trang bình thường.",
        )
    m = _HEADER_RE.match(text)
    if m is None:
        raise _damaged("no format version after SOHOA")
    version = int(m.group(1))
    if version != VERSION:
        raise PayloadError(
            "version",
            f"the sheet is in format SOHOA{version}; this kiosk reads SOHOA{VERSION}. "
            "Print the sheet again on this kiosk (sohoa coversheet) or update the kiosk.",
            f"Tờ bìa theo định dạng SOHOA{version}, máy này chỉ đọc SOHOA{VERSION}. "
            "Hãy in lại tờ bìa trên máy này hoặc cập nhật phần mềm.",
        )
    body, hash_sign, crc = text.rpartition("#")
    if not hash_sign or not _CRC_RE.match(crc):
        raise _damaged("the checksum is missing (the payload was cut short)")
    if _checksum(body) != crc:
        raise _damaged("the checksum does not match (the payload was altered or cut)")
    parts = body.split("|")
    kind, fields = parts[1] if len(parts) > 1 else "", parts[2:]
    values: dict[str, str] = {}
    for item in fields:
        key, eq, raw = item.partition("=")
        if not eq:
            raise _damaged(f"field {item!r} has no '='")
        values[key] = unquote(raw)
    if kind == KIND_SEPARATOR:
        n = values.get("n", "")
        if n and not n.isdigit():
            raise _damaged(f"separator number {n!r} is not a number")
        return SeparatorSheet(int(n) if n else None)
    if kind != KIND_DOCUMENT:
        raise PayloadError(
            "kind",
            f"unknown sheet kind {kind!r} in a SOHOA{VERSION} payload",
            "Không nhận ra loại tờ bìa này; hãy in lại tờ bìa trên máy.",
        )
    known = {FIELD_KEYS[k]: v for k, v in values.items() if k in FIELD_KEYS}
    return CoverSheet.build(types=types, **known)


def _damaged(reason: str) -> PayloadError:
    return PayloadError(
        "damaged",
        f"the Sohoa QR code cannot be read: {reason}; the frame is kept as a page",
        "Mã QR của tờ bìa bị hỏng hoặc thiếu; ảnh được lưu như một trang bình thường. "
        "Hãy in lại tờ bìa.",
    )


__all__ = [
    "ELLIPSIS",
    "FIELD_KEYS",
    "MAX_PAYLOAD_BYTES",
    "SUBJECT_CHARS",
    "VERSION",
    "CoverSheet",
    "PayloadError",
    "SeparatorSheet",
    "Sheet",
    "decode",
    "encode",
    "fit",
    "is_sohoa",
    "parse_direction",
    "shorten",
]
