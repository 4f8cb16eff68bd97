"""Quality metrics shared by tests and benchmarks: OCR character error rate, corner error.

Kept in the firmware (not in tests/) so the benchmark and the tests measure the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein


def _norm_line(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s)).strip()


def body_cer(ocr_text: str, truth_body: str) -> float:
    """Character error rate of the body text (after Unicode NFC, whitespace collapsed).

    Each ground-truth body line is matched to the OCR line closest to it, so headers,
    seals and signatures in the OCR output neither help nor hurt; a truth line with no
    counterpart counts as entirely wrong.
    """
    truth_lines = [_norm_line(x) for x in truth_body.splitlines() if x.strip()]
    ocr_lines = [_norm_line(x) for x in ocr_text.splitlines() if x.strip()]
    total = sum(len(t) for t in truth_lines)
    if total == 0:
        return 0.0
    errors = 0
    for t in truth_lines:
        best = len(t)
        for o in ocr_lines:
            if abs(len(o) - len(t)) >= best:
                continue
            d = Levenshtein.distance(t, o, score_cutoff=best)
            best = min(best, d)
        errors += best
    return errors / total


def corner_error(
    quad: np.ndarray | Sequence[Sequence[float]], truth: Sequence[Sequence[float]]
) -> float:
    """Mean distance between found and true corners (TL,TR,BR,BL), over the page diagonal."""
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    t = np.asarray(truth, dtype=np.float64).reshape(4, 2)
    diag = (np.linalg.norm(t[2] - t[0]) + np.linalg.norm(t[3] - t[1])) / 2
    return float(np.mean(np.linalg.norm(q - t, axis=1)) / diag)
