"""How far OCR text is from the truth, for the OCR tests."""

from __future__ import annotations


def cer(truth: str, found: str) -> float:
    """Character error rate: Levenshtein distance over the truth's length, whitespace left out."""
    truth, found = "".join(truth.split()), "".join(found.split())
    row = list(range(len(found) + 1))
    for i, t in enumerate(truth, 1):
        diagonal, row[0] = row[0], i
        for j, f in enumerate(found, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (t != f))
    return row[-1] / max(1, len(truth))
