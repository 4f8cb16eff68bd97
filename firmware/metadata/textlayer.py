"""Put the marks back on headings in capitals in the OCR result of every page.

Tesseract drops most tone marks on bold capitals ("QUYET DINH", "UY BAN KIEM TRA"), and
the OCR words become the PDF's invisible text layer and the search index: a heading must
read "QUYẾT ĐỊNH" there too. Only lines wholly in capitals are touched (running text in
mixed case is left as read: the page is the evidence, and the index folds marks anyway);
each word keeps its box, only its text changes.
"""

from __future__ import annotations

from typing import Any

from firmware.metadata.lexicon import restore_caps
from firmware.metadata.wordlist import restorer


def _is_caps_line(tokens: list[str]) -> bool:
    alpha = [t for t in tokens if any(c.isalpha() for c in t)]
    return len(alpha) >= 2 and all(t.isupper() for t in alpha)


def restore_caps_line(text: str) -> str:
    """A capitals line with its marks restored; the same words, spaces and punctuation."""
    tokens = text.split(" ")
    if not _is_caps_line([t for t in tokens if t]):
        return text
    phrased, _share = restore_caps(text)
    if len(phrased.split(" ")) != len(tokens):  # restore_caps collapsed spaces: keep words
        phrased = text
    return restorer().restore_text(phrased)


def restore_words(words: list[Any]) -> None:
    """Restore the text of the words (objects with ``text`` and ``line``) in place."""
    lines: dict[int, list[Any]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    for ws in lines.values():
        if any(" " in w.text or not w.text for w in ws):
            continue
        fixed = restore_caps_line(" ".join(w.text for w in ws)).split(" ")
        if len(fixed) == len(ws):
            for w, t in zip(ws, fixed, strict=True):
                w.text = t


def restore_text(text: str) -> str:
    """The page text with each capitals line restored."""
    return "\n".join(restore_caps_line(line) for line in text.split("\n"))
