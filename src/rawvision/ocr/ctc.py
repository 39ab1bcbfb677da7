"""Greedy CTC decoding: per-step class probabilities → text and a per-line confidence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

BLANK = 0


def load_characters(path: str | Path) -> list[str]:
    """The class list of a recogniser: blank, then one character per line of ``path``, then a space.

    PP-OCR's dictionary files hold the characters only; class 0 is the CTC blank and the last class is
    a space (``use_space_char``), so the list returned has two more entries than the file has lines.
    """
    lines = Path(path).read_text(encoding="utf-8").rstrip("\n").split("\n")
    return characters_from_dictionary(lines)


def characters_from_dictionary(lines: Sequence[str]) -> list[str]:
    """``["<blank>", *lines, " "]``: the class index of every entry is its position."""
    if not lines:
        raise ValueError("the character dictionary is empty")
    return ["<blank>", *lines, " "]


def ctc_decode(probs: np.ndarray, characters: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Greedy decoding of [n, T, C] probabilities: best class per step, repeats merged, blanks dropped.

    Returns the n texts and their confidences (mean probability of the kept steps; 0 for an empty text).
    """
    if probs.ndim != 3:
        raise ValueError(f"expected probabilities of shape [n, T, classes], got {probs.shape}")
    if probs.shape[2] != len(characters):
        raise ValueError(f"the model has {probs.shape[2]} classes but the dictionary {len(characters)}")
    best = probs.argmax(axis=2)
    best_prob = probs.max(axis=2)
    texts: list[str] = []
    scores = np.zeros(len(probs), dtype=np.float32)
    for row in range(len(probs)):
        keep = best[row] != BLANK
        keep[1:] &= best[row][1:] != best[row][:-1]
        texts.append("".join(characters[i] for i in best[row][keep]))
        if keep.any():
            scores[row] = float(best_prob[row][keep].mean())
    return texts, scores
