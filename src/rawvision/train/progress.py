"""A plain text progress bar on stderr (tqdm is not among the project's dependencies)."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """``label [#####.....] done/total``, redrawn in place about twenty times per run."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.total, self.width = label, max(total, 1), width
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self._step = max(1, self.total // 20)
        self._draw()

    def advance(self, count: int = 1, note: str = "") -> None:
        """Count ``count`` more items; redraw at every twentieth of the total, at the end, or with a note."""
        before = self.done
        self.done = min(self.total, self.done + count)
        if note or self.done == self.total or self.done // self._step != before // self._step:
            self._draw(note)

    def close(self) -> None:
        """End the line."""
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, note: str = "") -> None:
        filled = self.width * self.done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {note}".rstrip())
        self.stream.flush()
