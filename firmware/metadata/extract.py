"""Read a document's metadata from the OCR words of its first page.

Official documents put their metadata in fixed places (Hướng dẫn 36-HD/VPTW for the Party,
Decree 30/2020/NĐ-CP for the State), so the extractor works on *positions*, not on free
text: the national or Party heading in the top right tells the kind of document; under it,
in italics, place and date; top left the issuing body, then "Số ..." with number and symbol,
and for letters the "V/v ..." subject; otherwise the type name centred in capitals with the
subject under it. Tesseract often reads the two header columns as one text line, so lines
are first cut into segments at wide gaps and each segment is placed in a column.

OCR damage is expected and tolerated: anchors are matched on folded text (no diacritics,
lower case) with rapidfuzz, digits are repaired where only digits may stand (O -> 0, l -> 1),
missing spaces ("26tháng") do not matter to the date parser, and capitals of the issuing body
get their diacritics back from a vocabulary (:mod:`firmware.metadata.lexicon`).

Every field carries a confidence in 0..1 (OCR confidence of its words times how well the
anchors and cross-checks agreed), so the review screen can highlight what to check.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from firmware.metadata.bodies import canonical_symbol, known_codes, snap_issuer
from firmware.metadata.headers import fix_breaks, restore_line
from firmware.metadata.numbering import NumberSymbol, parse_number_symbol
from firmware.metadata.types import LETTER_CODE, DocumentType, TypeRegistry, registry
from firmware.metadata.wordlist import restorer
from firmware.store.textfold import fold, nfc

FIELD_NAMES = ("kind", "type", "number", "symbol", "date", "issuer", "subject")

PARTY_ANCHOR = "dang cong san viet nam"
STATE_ANCHORS = ("cong hoa xa hoi chu nghia viet nam", "doc lap - tu do - hanh phuc")
ANCHOR_MIN = 75.0  # rapidfuzz score (0..100) for a heading to count as found
TYPE_MIN = 80.0
HEADER_FRACTION = 0.45  # the header and the title lie in the top part of page 1
_DASHES = str.maketrans({"–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-", "_": "-"})
# Look-alikes OCR returns for Vietnamese letters: Icelandic eth for Đ, ð for đ.
_LOOKALIKES = str.maketrans({"Ð": "Đ", "ð": "đ"})
_DIGIT_FIX = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "l": "1",
        "I": "1",
        "|": "1",
        "i": "1",
        "!": "1",
        "S": "5",
        "s": "5",
        "B": "8",
        "Z": "2",
        "z": "2",
        "G": "6",
        "b": "6",
        "g": "9",
        "q": "9",
    }
)


@dataclass
class Word:
    text: str
    left: float
    top: float
    right: float
    bottom: float
    conf: float  # 0..100
    line: int

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass
class Segment:
    """Words of one text line that belong together (one column of a header line)."""

    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def folded(self) -> str:
        return fold(self.text).translate(_DASHES)

    @property
    def left(self) -> float:
        return min(w.left for w in self.words)

    @property
    def right(self) -> float:
        return max(w.right for w in self.words)

    @property
    def top(self) -> float:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w.bottom for w in self.words)

    @property
    def cx(self) -> float:
        return (self.left + self.right) / 2

    @property
    def height(self) -> float:
        return statistics.median(w.height for w in self.words)

    @property
    def conf(self) -> float:
        return statistics.fmean(w.conf for w in self.words) / 100.0


@dataclass
class Field:
    value: Any
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "confidence": round(max(0.0, min(1.0, self.confidence)), 3)}


@dataclass
class Extraction:
    """Fields read from page 1; values None when not found (confidence 0)."""

    kind: Field
    type: Field
    number: Field
    symbol: Field
    date: Field
    issuer: Field
    subject: Field
    type_code: str | None = None
    place: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The JSON of ``sohoa extract``: each key -> {"value", "confidence"}."""
        return {name: getattr(self, name).to_dict() for name in FIELD_NAMES}

    def to_metadata(self) -> dict[str, Any]:
        """Values for :class:`firmware.metadata.model.ArchivalMetadata` (found fields only)."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "doc_type": self.type_code,
            "number": self.number.value,
            "symbol": self.symbol.value,
            "date": self.date.value,
            "issuer": self.issuer.value,
            "subject": self.subject.value,
        }
        return {k: v for k, v in out.items() if v not in (None, "")}

    def low_confidence(self, threshold: float) -> list[str]:
        """Names of the fields the clerk should check (below ``threshold``)."""
        return [n for n in FIELD_NAMES if getattr(self, n).confidence < threshold]


# --- geometry ----------------------------------------------------------------------------


def _as_word(w: Any) -> Word | None:
    get = w.get if isinstance(w, dict) else lambda k, d=None: getattr(w, k, d)
    text = unicodedata.normalize("NFC", str(get("text", "") or "")).translate(_LOOKALIKES).strip()
    width, height = float(get("width", 0) or 0), float(get("height", 0) or 0)
    if not text or width <= 0 or height <= 0:
        return None
    left, top = float(get("left", 0)), float(get("top", 0))
    return Word(
        text,
        left,
        top,
        left + width,
        top + height,
        float(get("conf", 0) or 0),
        int(get("line", 0) or 0),
    )


def segments(words: Iterable[Any]) -> list[Segment]:
    """Cut each OCR line into segments at gaps wider than ~2 letter heights, top to bottom."""
    lines: dict[int, list[Word]] = {}
    for raw in words:
        w = _as_word(raw)
        if w is not None:
            lines.setdefault(w.line, []).append(w)
    out: list[Segment] = []
    for ws in lines.values():
        ws.sort(key=lambda w: w.left)
        h = statistics.median(w.height for w in ws)
        current: list[Word] = []
        cut_after = False
        for w in ws:
            if current and (cut_after or w.left - current[-1].right > 2.2 * h):
                out.append(Segment(current))
                current = []
            # A run of dots read in the gap between the columns ("64-CV/TW..........")
            # is a column break, not part of the word.
            leader = _LEADER.search(w.text)
            cut_after = leader is not None
            if leader is not None:
                w.text = w.text[: leader.start()]
                if not w.text:
                    continue
            current.append(w)
        if current:
            out.append(Segment(current))
    out = [part for seg in out for part in _split_headings(seg)]
    out.sort(key=lambda s: (s.top, s.left))
    return out


def _split_headings(seg: Segment) -> list[Segment]:
    """Cut a segment where a national/Party heading starts after other words.

    When the issuing body's name is long the gutter between the header columns is narrow
    and no gap is wide enough to split at: "UBND THÀNH PHỐ HÀ NỘI CỘNG HÒA XÃ HỘI..." is
    then one segment, and the heading's first word marks the column boundary.
    """
    folded = [fold(w.text).translate(_DASHES) for w in seg.words]
    scores: list[float] = []
    for k in range(len(seg.words)):
        tail = " ".join(folded[k:])
        caps = all(w.text.isupper() for w in seg.words[k:] if w.text.isalpha())
        # The two national headings are set in capitals; the same words in mixed case are
        # running text ("... Ngày thành lập Đảng Cộng sản Việt Nam"), not a column.
        anchors = (PARTY_ANCHOR, STATE_ANCHORS[0]) if caps else STATE_ANCHORS[1:]
        scores.append(max(fuzz.ratio(a, tail[: len(a) + 2]) for a in anchors))
    # Cut where the heading matches best, if that beats the segment as a whole (a heading
    # alone also matches, more weakly, from its second word on). Ties: the later cut,
    # "DÂN | CỘNG HÒA", not "NHÂN | DÂN CỘNG HÒA".
    best_k = max(range(1, len(scores)), key=lambda k: (scores[k], k), default=0)
    if best_k and (scores[best_k] < 85 or scores[best_k] <= scores[0]):
        best_k = 0
    if best_k:
        return [Segment(seg.words[:best_k]), Segment(seg.words[best_k:])]
    return [seg]


_LEADER = re.compile(r"[.…_·]{3,}$")

# --- field readers -----------------------------------------------------------------------


def _anchor_score(seg: Segment, anchor: str) -> float:
    text = seg.folded
    if len(text) < 6:
        return 0.0
    return float(fuzz.partial_ratio(anchor, text)) if len(text) >= len(anchor) * 0.6 else 0.0


def _find_kind(top: list[Segment]) -> tuple[str | None, float, Segment | None]:
    best: tuple[str | None, float, Segment | None] = (None, 0.0, None)
    for seg in top:
        scores = [("party", _anchor_score(seg, PARTY_ANCHOR))] + [
            ("state", _anchor_score(seg, a)) for a in STATE_ANCHORS
        ]
        for kind, score in scores:
            if score > best[1]:
                best = (kind, score, seg)
    if best[1] < ANCHOR_MIN:
        return None, 0.0, None
    return best


_NUMBER_LABEL = re.compile(r"^s\W?[o0ôóòõ6ee]\s*(?:[:;.,]\s*)?(?=\S)", re.IGNORECASE)


def _repair_number(text: str) -> str:
    """Fix OCR confusions inside the digits before the first separator ("l9O" -> "190")."""
    m = re.match(r"^([0-9OoDQlI|i!SsBZzGbgq]{1,6})(?=[-/])", text)
    if not m or not any(ch.isdigit() for ch in m.group(1)):
        return text
    return m.group(1).translate(_DIGIT_FIX) + text[m.end() :]


def _number_candidates(seg: Segment) -> list[str]:
    """Strings to try as number/symbol: the segment without its "Số" label, then repairs."""
    text = nfc(seg.text).translate(_DASHES)
    text = re.sub(r"^[^\w]+", "", text)  # quotes or a stray mark read before "Số"
    folded = fold(text)
    m = _NUMBER_LABEL.match(folded)
    rest = text[m.end() :] if m else text
    rest = re.sub(r"\s*([-/])\s*", r"\1", rest).strip(" .,;:")
    rest = rest.split()[0].strip(" .,;:…_") if rest.split() else rest
    # A dash read from a speck after the symbol ("351-CV/TW -"): a symbol never ends on a
    # separator, and with it the number line was taken for a line of the issuer (issue 16).
    rest = rest.rstrip("-/")
    tries = [rest, _repair_number(rest)]
    # "/" read as "l" or "I" between the number and an upper-case code ("12lQĐ-UBND").
    tries.append(re.sub(r"^(\d+)[lI|](?=[A-ZĐ])", r"\1/", _repair_number(rest)))
    return list(dict.fromkeys(tries))


def _find_number(
    top: list[Segment], width: float, types: TypeRegistry
) -> tuple[NumberSymbol | None, float, Segment | None]:
    best: tuple[NumberSymbol | None, float, Segment | None] = (None, 0.0, None)
    for seg in top:
        if seg.cx > 0.6 * width or not any(ch.isdigit() for ch in seg.text):
            continue
        labelled = bool(_NUMBER_LABEL.match(seg.folded))
        for i, cand in enumerate(_number_candidates(seg)):
            parsed = parse_number_symbol(cand, types)
            if parsed is None:
                continue
            score = seg.conf * (1.0 if labelled else 0.7) * (1.0 if i == 0 else 0.85)
            if types.code(parsed.type_code) is None:
                score *= 0.8
            if score > best[1]:
                best = (parsed, score, seg)
            break
    return best


_DATE_RE = re.compile(
    r"ng\w{0,2}y\s*(\d{1,2})\W*\s*th\w{0,3}ng\s*(\d{1,2})\W*\s*n\w{0,2}m\s*(\d{4})"
)


def _date_text(folded: str) -> str:
    """Repair digits inside the folded place-and-date text (O->0, l->1 next to digits)."""

    def fix(m: re.Match[str]) -> str:
        return m.group(0).translate(_DIGIT_FIX)

    return re.sub(r"(?<=\s)[0-9oOlI|]{1,4}(?=\s|$)|(?<=[a-z])[0-9oOlI|]*\d[0-9oOlI|]*", fix, folded)


def _parse_date_segment(seg: Segment) -> tuple[dt.date | None, float, str]:
    folded = _date_text(seg.folded)
    m = _DATE_RE.search(folded)
    anchored = m is not None
    if m:
        d, mo, y = (int(g) for g in m.groups())
    else:
        nums = re.findall(r"\d+", folded.split(",", 1)[-1])
        if len(nums) < 3 or len(nums[-1]) != 4:
            return None, 0.0, ""
        d, mo, y = int(nums[-3]), int(nums[-2]), int(nums[-1])
    try:
        date = dt.date(y, mo, d)
    except ValueError:
        return None, 0.0, ""
    if not 1900 <= y <= dt.date.today().year + 1:
        return None, 0.0, ""
    place = nfc(seg.text.split(",", 1)[0]).strip() if "," in seg.text else ""
    return date, seg.conf * (1.0 if anchored else 0.75), place


def _find_date(
    top: list[Segment], width: float, number_seg: Segment | None
) -> tuple[dt.date | None, float, str]:
    """The topmost header line that reads as a date. Body lines may quote other documents'
    dates, so candidates are right-column lines or lines level with the "Số" line (where
    place and date stand when the columns ran together)."""
    level = number_seg.bottom + 1.5 * number_seg.height if number_seg is not None else None
    for seg in top:
        if not re.search(r"\d", seg.text):
            continue
        beside = level is not None and seg.top < level
        if seg.left < 0.35 * width and not beside:
            continue
        date, score, place = _parse_date_segment(seg)
        if date is not None:
            return date, score, place
    return None, 0.0, ""


def _is_noise(seg: Segment) -> bool:
    alnum = [ch for ch in seg.text if ch.isalnum()]
    return len(alnum) < 2 or seg.conf < 0.45


def _find_issuer(
    top: list[Segment],
    width: float,
    number_seg: Segment | None,
    heading: Segment | None,
    place: str = "",
) -> tuple[str | None, float]:
    limit = number_seg.top if number_seg is not None else None
    if limit is None and heading is not None:
        limit = heading.bottom + 3 * heading.height
    if limit is None:
        return None, 0.0
    parts: list[Segment] = []
    for seg in top:
        # The left column's centre lies near a third of the page width; anything centred
        # past ~0.42 belongs to the right column (heading, motto, place and date).
        if seg.bottom > limit + 0.2 * seg.height or seg.cx > 0.42 * width or seg is heading:
            continue
        if _is_noise(seg) or seg.text.strip() in ("*", "-", "***"):
            continue
        if max(_anchor_score(seg, a) for a in (PARTY_ANCHOR, *STATE_ANCHORS)) >= ANCHOR_MIN:
            continue
        parts.append(seg)
    # The body's name is set in capitals: a segment mostly in lower case is debris (a
    # stamp, a crumb of the heading), not a line of the name.
    parts = [seg for seg in parts if _caps_share(seg.text) >= 0.7]
    if not parts:
        return None, 0.0
    lines, shares = [], []
    extra = (place.upper(),) if place else ()
    for seg in parts:
        text, share = restore_line(seg.text, extra)
        if any(ch.isalpha() for ch in text):  # a line of dashes or crumbs names nobody
            lines.append(text)
            shares.append(share)
    if not lines:
        return None, 0.0
    conf = statistics.fmean(s.conf for s in parts) * (0.6 + 0.4 * statistics.fmean(shares))
    return " - ".join(fix_breaks(lines)), conf


def _caps_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0


_NOT_INITIALS = {"va", "cua", "-"}


def _initials(words: list[str]) -> str:
    """ "SỞ GIÁO DỤC VÀ ĐÀO TẠO" -> "SGDĐT": first letters without marks, Đ kept."""
    return "".join(
        "Đ" if w[0] in "Đđ" else fold(w[0]).upper()
        for w in words
        if fold(w) not in _NOT_INITIALS and w[:1].isalpha()
    )


#: Letters OCR reads for a bold capital "Đ" in a symbol ("245-CV/BU" for "245-CV/ĐU").
_D_LOOKALIKES = "BPOÐD"


def _d_misread(body: str, cand: str) -> bool:
    """``body`` is ``cand`` with each "Đ" read as a look-alike letter, and nothing else."""
    return (
        len(body) == len(cand)
        and "Đ" in cand
        and all(
            b == c or (c == "Đ" and b in _D_LOOKALIKES) for b, c in zip(body, cand, strict=True)
        )
    )


def _check_body_code(parsed: NumberSymbol, issuer: str) -> tuple[NumberSymbol, bool]:
    """Cross-check the body code of the symbol with the issuer's name.

    A body code is the initials of the body's name, often followed by its superior's
    ("SỞ GIÁO DỤC VÀ ĐÀO TẠO" -> "SGDĐT", "BAN TUYÊN GIÁO" under "TỈNH ỦY" -> "BTGTU").
    When the OCR'd code is one letter away from such initials, or differs only by the
    stroke of Đ, the initials are what was printed ("STTTI" -> "STTTT", "SGDDT" -> "SGDĐT").
    Returns the (possibly corrected) number/symbol and whether the code agreed.
    """
    from rapidfuzz.distance import Levenshtein

    lines = [ln.split() for ln in issuer.split(" - ") if ln.strip()]
    cands = {_initials(ln) for ln in lines}
    # a known body code that begins a line's initials ("ĐẢNG ỦY XÃ ĐA TỐN" -> "ĐU")
    cands |= {c for ln in lines for c in known_codes() if _initials(ln).startswith(c)}
    for superior in lines[:-1]:  # own initials + a prefix of the superior's ("BTG" + "TU")
        sup = _initials(superior)
        cands |= {_initials(lines[-1]) + sup[:n] for n in range(1, len(sup) + 1)}
    cands.discard("")
    body = parsed.body
    if body in cands:
        return parsed, True
    for cand in sorted(cands):
        close = len(cand) == len(body) >= 3 and Levenshtein.distance(cand, body) <= 1
        if fold(cand) == fold(body) or close or _d_misread(body, cand):
            if parsed.symbol.endswith(body):  # "CV/TW", "QĐ-UBND": the body comes last
                symbol = parsed.symbol[: -len(body)] + cand
            else:  # State letters: "UBND-VP", the body comes first
                symbol = cand + parsed.symbol[len(body) :]
            return (
                NumberSymbol(parsed.number, symbol, parsed.kind, parsed.type_code, cand),
                True,
            )
    return parsed, False


def _all_caps(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 4 and all(ch.isupper() for ch in letters)


def _starts_letter_subject(seg: Segment) -> bool:
    return bool(re.match(r"^v\s*[/l1i|]\s*[vy]\b", seg.folded))


def _subject_run(first: Segment, pool: Sequence[Segment], width: float) -> list[Segment]:
    """``first`` and the lines that continue it: same column, close below, not body text."""
    run = [first]
    for seg in pool:
        if seg.top <= run[-1].top + 0.3 * run[-1].height:
            continue
        gap = seg.top - run[-1].bottom
        if gap > 1.1 * run[-1].height:
            break
        if abs(seg.cx - first.cx) > 0.12 * width or seg.right - seg.left > 0.82 * width:
            break
        if re.match(r"^kinh gui", seg.folded):
            break
        # Body text starts a sentence ("Căn cứ...", "Thực hiện Kế hoạch..."); the subject's
        # second line continues it in lower case ("thực hiện quy chế làm việc").
        if re.match(r"^(can cu|thuc hien)", seg.folded) and seg.text[:1].isupper():
            break
        if _all_caps(seg.text) and not _all_caps(first.text):
            break  # the deciding authority ("CHỦ TỊCH ỦY BAN NHÂN DÂN ...") under a subject
        run.append(seg)
    return run


def _type_heading(
    top: list[Segment], width: float, after: float, types: TypeRegistry
) -> tuple[DocumentType, float, Segment] | None:
    """The type whose name the best centred heading reads, its score and that heading."""
    best: tuple[DocumentType, float, Segment] | None = None
    for seg in top:
        if seg.top < after or abs(seg.cx - width / 2) > 0.15 * width:
            continue
        text = " ".join(seg.folded.replace(":", " ").split())
        for t in types.types:
            score = float(fuzz.ratio(fold(t.name), text))
            if score > (best[1] if best is not None else 0.0):
                best = (t, score, seg)
    if best is None or best[1] < TYPE_MIN:
        return None
    return best


def extract_fields(
    words: Iterable[Any],
    *,
    page_width: float | None = None,
    page_height: float | None = None,
    types: TypeRegistry | None = None,
    issuers: Sequence[str] = (),
) -> Extraction:
    """Extract kind, type, number, symbol, date, issuer and subject from page-1 OCR words.

    ``words`` are :class:`firmware.ocr.engine.Word` objects or their dicts (text, left, top, width,
    height, conf, line), in page-image pixels. Page size defaults to what the words span.
    ``issuers``: names of bodies the kiosk knows (register, Party organization list); an
    issuer read close to one of them takes its spelling.
    """
    types = types or registry()
    segs = segments(words)
    empty = Field(None, 0.0)
    if not segs:
        return Extraction(empty, empty, empty, empty, empty, empty, empty)
    right = max(s.right for s in segs)
    left = min(s.left for s in segs)
    width = page_width or right + left * 0.67  # margins: 30 mm left, 20 mm right
    height = page_height or max(width * 1.414, max(s.bottom for s in segs))
    top = [s for s in segs if s.top < HEADER_FRACTION * height]

    kind, kind_score, kind_seg = _find_kind(top)
    parsed, number_conf, number_seg = _find_number(top, width, types)
    date, date_conf, place = _find_date(top, width, number_seg)

    # Kind: the heading decides; the number's convention confirms or stands in for it.
    if kind is not None:
        kind_conf = kind_score / 100.0
        if parsed is not None:
            kind_conf *= 1.0 if parsed.kind == kind else 0.75
    elif parsed is not None:
        kind, kind_conf = parsed.kind, 0.6 * number_conf
    else:
        kind_conf = 0.0

    # Subject and type.
    # Boxes of adjacent lines overlap (descenders, accents): "below the number line" means
    # starting below its middle.
    after = number_seg.top + 0.5 * number_seg.height if number_seg is not None else 0.0
    letter_seg = next(
        (s for s in top if s.top > after and s.cx < 0.5 * width and _starts_letter_subject(s)),
        None,
    )
    subject: str | None = None
    subject_conf = 0.0
    type_code: str | None = None
    type_conf = 0.0
    code_type = types.code(parsed.type_code) if parsed is not None else None
    if letter_seg is not None:
        pool = [s for s in top if s.cx < 0.5 * width]
        run = _subject_run(letter_seg, pool, width)
        text = " ".join(s.text for s in run)
        subject = re.sub(r"^\S*?[vV]\s*[/l1iI|]\s*[vVy]\b\.?", "V/v", nfc(text), count=1)
        subject_conf = statistics.fmean(s.conf for s in run)
        type_code = LETTER_CODE
        type_conf = 0.9 * letter_seg.conf + (0.1 if code_type and code_type.code == "CV" else 0)
    else:
        found = _type_heading(top, width, after, types)
        if found is not None:
            heading, score, heading_seg = found
            type_code = heading.code
            agree = code_type is not None and code_type.code == heading.code
            type_conf = (score / 100.0) * heading_seg.conf * (1.0 if agree else 0.85)
            # below the heading's middle: the boxes of the two lines overlap when the
            # subject's capital marks reach up (bench seed 17: the subject was lost)
            below = heading_seg.top + 0.5 * heading_seg.height
            pool = [s for s in top if s.top > below and s is not heading_seg]
            first = next((s for s in pool if abs(s.cx - heading_seg.cx) < 0.12 * width), None)
            if first is not None and first.top - heading_seg.bottom < 2.0 * heading_seg.height:
                run = _subject_run(first, pool, width)
                subject = nfc(" ".join(s.text for s in run))
                subject_conf = statistics.fmean(s.conf for s in run)
        elif code_type is not None:
            type_code, type_conf = code_type.code, 0.7 * number_conf
    if subject:
        subject = restorer().restore_text(subject)
    issuer, issuer_conf = _find_issuer(top, width, number_seg, kind_seg, place)
    if issuer:
        known = snap_issuer(issuer, issuers)
        if known is not None:  # a body the register or the Party list names: its spelling
            issuer, issuer_conf = known, max(issuer_conf, 0.95)
    if parsed is not None:
        symbol = canonical_symbol(parsed.symbol)
        if symbol != parsed.symbol:
            parsed = NumberSymbol(
                parsed.number, symbol, parsed.kind, parsed.type_code, canonical_symbol(parsed.body)
            )
    if parsed is not None and issuer:
        parsed, agrees = _check_body_code(parsed, issuer)
        if agrees:
            number_conf = max(number_conf, min(1.0, number_conf + 0.05))

    type_name = types.by_code[type_code].name if type_code in types.by_code else None
    return Extraction(
        kind=Field(kind, kind_conf),
        type=Field(type_name, type_conf if type_name else 0.0),
        number=Field(parsed.number if parsed else None, number_conf),
        symbol=Field(parsed.symbol if parsed else None, number_conf),
        date=Field(date.isoformat() if date else None, date_conf),
        issuer=Field(issuer, issuer_conf),
        subject=Field(subject, subject_conf),
        type_code=type_code,
        place=place or None,
        extras={"number_symbol": parsed.text if parsed else None},
    )
