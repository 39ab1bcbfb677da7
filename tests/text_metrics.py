"""Character error rate for OCR tests: edit distance over characters, whitespace ignored."""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein


def squeeze(lines: Sequence[str]) -> str:
    """All lines joined in order with every whitespace character removed."""
    return "".join("".join(lines).split())


def character_error_rate(predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> float:
    """Total edits between each picture's predicted and true lines / total true characters.

    Lines are concatenated per picture in reading order, so a wrong order, a missed line and a line
    split in two are all counted (the first two as edits), while the detector may cut lines anywhere.
    """
    edits = sum(Levenshtein.distance(squeeze(p), squeeze(t)) for p, t in zip(predicted, truth, strict=True))
    return edits / sum(len(squeeze(t)) for t in truth)
