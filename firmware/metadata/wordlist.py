"""A Vietnamese word list for putting back the diacritics OCR drops, and the restorer.

Tesseract often loses or swaps tone marks on photographed pages ("qua trình sap xếp",
"Tang cường", "QUYET DINH"). Vietnamese is written in syllables, and most words are two
syllables ("quá trình", "sắp xếp", "tăng cường"), so the list holds syllables and the
two-syllable sequences they form, with counts. A line is restored by choosing, for each
syllable, a spelling with the same base letters (what folding keeps) that best fits its
neighbours (a Viterbi search over the line). A spelling OCR printed is kept unless the
neighbours clearly say otherwise, so text the list does not know stays as it was read.

The list ships with the firmware as ``vi_words.tsv`` (built, never downloaded): it is
made by ``python -m firmware.metadata.wordlist build`` from the project's own texts, the
issuing-body vocabulary of :mod:`firmware.metadata.lexicon`, the document-type names and
the administrative phrases of the simulated camera's corpus (``drivers/camera/corpus.py``,
read as text, not imported). Offices can append their own lines (same format).
"""

from __future__ import annotations

import ast
import math
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from firmware.store.textfold import fold

WORDS_FILE = Path(__file__).with_name("vi_words.tsv")
_SYLLABLE = re.compile(r"^[^\W\d_]+$")
#: Cost (natural log) of changing OCR's spelling of a syllable, per mark changed.
CHANGE_COST = 2.2
#: Extra cost of changing a spelling OCR printed that is itself a Vietnamese word ("HÒA"
#: must not become the more frequent "HÓA" without its neighbours asking for it).
KNOWN_COST = 2.5
#: The headings every official document carries (Decree 30/2020, Hướng dẫn 36-HD/VPTW).
HEADINGS = (
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "ĐẢNG CỘNG SẢN VIỆT NAM",
    "Kính gửi",
    "Nơi nhận",
    "Về việc",
)
#: Weight of the unigram prior against the neighbours.
_SMOOTH = 0.5


def _syllables(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_]+", unicodedata.normalize("NFC", text))]


def count_texts(texts: Iterable[str]) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """Syllable and adjacent-pair counts (lower case, NFC) of ``texts`` (line by line)."""
    uni: Counter[str] = Counter()
    bi: Counter[tuple[str, str]] = Counter()
    for text in texts:
        for line in re.split(r"[\n.,;:()\"“”!?/]+", text):
            sy = [s.lower() for s in _syllables(line)]
            uni.update(sy)
            bi.update(zip(sy, sy[1:], strict=False))
    return uni, bi


def _corpus_strings(path: Path) -> list[str]:
    """Every string literal of a Python source file (read as text, never imported)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
    return out


def build(out: Path = WORDS_FILE) -> Path:
    """Write ``vi_words.tsv`` from the project's texts (see the module docstring)."""
    from firmware.metadata.lexicon import PHRASES, WORDS
    from firmware.metadata.types import DEFAULT_DOCUMENT_TYPES

    root = Path(__file__).resolve().parents[2]
    texts = [WORDS, *PHRASES.split("|"), *(t.name for t in DEFAULT_DOCUMENT_TYPES), *HEADINGS]
    for src in (
        root / "drivers" / "camera" / "corpus.py",
        root / "drivers" / "camera" / "render_text.py",
    ):
        if src.exists():
            texts += [s for s in _corpus_strings(src) if any(not c.isascii() for c in s)]
    # the kiosk's own Vietnamese messages: everyday words of the same offices
    po = root / "kiosk_ui" / "i18n" / "vi" / "LC_MESSAGES" / "messages.po"
    if po.exists():
        texts += re.findall(r'^msgstr "(.+)"$', po.read_text(encoding="utf-8"), re.M)
    uni, bi = count_texts(texts)
    lines = [f"{w}\t{n}" for w, n in sorted(uni.items())]
    lines += [f"{a} {b}\t{n}" for (a, b), n in sorted(bi.items())]
    out.write_text(
        "# Vietnamese syllables and syllable pairs with counts; "
        "built by python -m firmware.metadata.wordlist build\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    return out


class Restorer:
    """Diacritic restoration over one word list (see the module docstring)."""

    def __init__(self, uni: Counter[str], bi: Counter[tuple[str, str]]):
        self.uni, self.bi = uni, bi
        self.total = sum(uni.values()) or 1
        self.by_fold: dict[str, list[str]] = {}
        for w in uni:
            self.by_fold.setdefault(fold(w), []).append(w)
        self.left: Counter[str] = Counter()
        for (a, _b), n in bi.items():
            self.left[a] += n

    @classmethod
    def load(cls, path: Path = WORDS_FILE) -> Restorer:
        uni: Counter[str] = Counter()
        bi: Counter[tuple[str, str]] = Counter()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if not line or line.startswith("#") or "\t" not in line:
                    continue
                key, _, n = line.rpartition("\t")
                parts = key.split(" ")
                if len(parts) == 1:
                    uni[parts[0]] += int(n)
                elif len(parts) == 2:
                    bi[(parts[0], parts[1])] += int(n)
        return cls(uni, bi)

    def known(self, word: str) -> bool:
        return word.lower() in self.uni

    def _trans(self, a: str | None, b: str) -> float:
        """log P(b | a), backed off to the unigram prior."""
        p_b = (self.uni.get(b, 0) + 0.1) / self.total
        if a is None:
            return math.log(p_b)
        return math.log((self.bi.get((a, b), 0) + _SMOOTH * p_b) / (self.left.get(a, 0) + _SMOOTH))

    def _change(self, ocr: str, cand: str) -> float:
        """Cost of reading ``cand`` where OCR printed ``ocr`` (same base letters)."""
        if ocr == cand:
            return 0.0
        extra = KNOWN_COST if ocr in self.uni else 0.0
        a, b = unicodedata.normalize("NFD", ocr), unicodedata.normalize("NFD", cand)
        marks_a = [c for c in a if unicodedata.combining(c)]
        marks_b = [c for c in b if unicodedata.combining(c)]
        diff = len(set(marks_a) ^ set(marks_b)) + (ocr.count("đ") != cand.count("đ"))
        return CHANGE_COST * max(1, diff) + extra

    def restore_tokens(self, tokens: list[str]) -> list[str]:
        """Restore a sequence of tokens (one line); non-words and unknown words are kept
        and cut the context. Capitals are kept as capitals."""
        tokens = self._misread(tokens)
        out = list(tokens)
        i = 0
        while i < len(tokens):
            if not self._candidates(tokens[i]):
                i += 1
                continue
            j = i
            while j < len(tokens) and self._candidates(tokens[j]):
                j += 1
            path = self._viterbi(tokens[i:j])
            lows = [unicodedata.normalize("NFC", t).lower() for t in tokens[i:j]]
            for n, word in enumerate(path):
                # A change needs a neighbour that forms a known pair with it: without
                # one, the prior alone would turn a real "qua" into the commoner "quá".
                prev = path[n - 1] if n > 0 else None
                nxt = path[n + 1] if n + 1 < len(path) else None
                backed = (prev is not None and self.bi.get((prev, word), 0) > 0) or (
                    nxt is not None and self.bi.get((word, nxt), 0) > 0
                )
                if word != lows[n] and not backed:
                    word = lows[n]
                out[i + n] = _same_case(tokens[i + n], word)
            i = j
        return out

    def _misread(self, tokens: list[str]) -> list[str]:
        """Replace a syllable OCR misread beyond its marks ("dif" for "dữ" in "cơ sở dif
        liệu") when exactly one known syllable, at most two letters away, forms a known
        pair with BOTH neighbours: a word that fits on neither side is never guessed."""
        from rapidfuzz.distance import Levenshtein

        out = list(tokens)
        for k in range(1, len(tokens) - 1):
            tok = tokens[k]
            if self._candidates(tok) or not tok.isalpha() or len(tok) > 5:
                continue
            prev, nxt = tokens[k - 1].lower(), tokens[k + 1].lower()
            if prev not in self.uni or nxt not in self.uni:
                continue
            fits = [
                w
                for (a, w), _n in self._pairs_from(prev)
                if self.bi.get((w, nxt), 0) > 0 and Levenshtein.distance(fold(tok), fold(w)) <= 2
            ]
            if len(set(fits)) == 1:
                out[k] = _same_case(tok, fits[0])
        return out

    def _pairs_from(self, word: str) -> list[tuple[tuple[str, str], int]]:
        if not hasattr(self, "_after"):
            after: dict[str, list[tuple[tuple[str, str], int]]] = {}
            for pair, n in self.bi.items():
                after.setdefault(pair[0], []).append((pair, n))
            self._after = after
        return self._after.get(word, [])

    def _candidates(self, token: str) -> list[str]:
        if not _SYLLABLE.match(token):
            return []
        return self.by_fold.get(fold(token), [])

    def _viterbi(self, tokens: list[str]) -> list[str]:
        lows = [unicodedata.normalize("NFC", t).lower() for t in tokens]
        cands = [
            sorted(set(self._candidates(t)) | ({low} if low in self.uni else set()))
            for t, low in zip(tokens, lows, strict=True)
        ]
        best: list[dict[str, tuple[float, str | None]]] = []
        for k, options in enumerate(cands):
            layer: dict[str, tuple[float, str | None]] = {}
            for c in options:
                emit = -self._change(lows[k], c)
                if k == 0:
                    layer[c] = (self._trans(None, c) + emit, None)
                else:
                    layer[c] = max(
                        (
                            (score + self._trans(p, c) + emit, p)
                            for p, (score, _) in best[-1].items()
                        ),
                        key=lambda x: x[0],
                    )
            best.append(layer)
        word = max(best[-1], key=lambda c: best[-1][c][0])
        path = [word]
        for k in range(len(best) - 1, 0, -1):
            word = best[k][word][1]  # type: ignore[assignment]
            path.append(word)
        return path[::-1]

    def restore_text(self, text: str) -> str:
        """Restore a line of running text, keeping spaces and punctuation as they were."""
        parts = re.split(r"([^\W\d_]+)", unicodedata.normalize("NFC", text))
        words = parts[1::2]
        fixed = self.restore_tokens(words)
        parts[1::2] = fixed
        return "".join(parts)


def _same_case(template: str, word: str) -> str:
    if template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


@lru_cache(maxsize=1)
def restorer() -> Restorer:
    """The shipped word list (loaded once per process)."""
    return Restorer.load()


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build())
    else:
        print("usage: python -m firmware.metadata.wordlist build", file=sys.stderr)
        sys.exit(2)
