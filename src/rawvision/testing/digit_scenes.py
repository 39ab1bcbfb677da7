"""Scenes of MNIST digits on dark canvases, with tight ink boxes: the data of the ``mnist_detect`` detector.

Pure numpy + Pillow (no torch), so the trainer, the tests and the benches draw the same scenes. A scene is a
dark canvas of 160 to 640 px a side (any aspect) holding 1 to 5 digits, each scaled to a square of 28 px up to
35 % of the canvas's short side, squares never overlapping. A digit's box is the tight box of its ink
(scaled sample ≥ :attr:`SceneSpec.ink_level`), in pixel-edge coordinates (x2 = last ink column + 1); class i
is digit i. The caller passes the digit pool, so held-out scenes are drawn from held-out digits only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class SceneSpec:
    """How scenes are drawn: canvas sides, digits per scene, digit sizes, colours, what counts as ink."""

    min_side: int = 160
    max_side: int = 640
    min_digits: int = 1
    max_digits: int = 5
    min_digit: int = 28
    max_digit_fraction: float = 0.35
    max_background: int = 40
    min_ink: int = 150
    ink_level: int = 64
    placement_tries: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.min_side <= self.max_side:
            raise ValueError(f"canvas sides {self.min_side}..{self.max_side} are not an increasing positive range")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(f"digits per scene {self.min_digits}..{self.max_digits} are not a range from ≥ 1")
        if self.min_digit > self.max_digit_fraction * self.min_side:
            raise ValueError(f"min_digit {self.min_digit} px does not fit in {self.max_digit_fraction:.0%} of "
                             f"the smallest side {self.min_side}")
        if not 0 <= self.max_background < self.min_ink <= 255:
            raise ValueError(f"background ≤ {self.max_background} must stay below ink ≥ {self.min_ink} (≤ 255)")


@dataclass(frozen=True)
class Scene:
    """One scene: RGB uint8 ``[H, W, 3]``, boxes float32 ``[k, 4]`` (x1, y1, x2, y2), digits int64 ``[k]``.

    ``sources`` are the indices of the pasted digits in the pool the scene was drawn from, ``squares`` the
    int64 ``[k, 3]`` (x, y, side) each scaled 28×28 digit image was pasted into.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    squares: np.ndarray


def _free(square: tuple[int, int, int], placed: list[tuple[int, int, int]]) -> bool:
    x, y, side = square
    return all(x + side <= px or px + pside <= x or y + side <= py or py + pside <= y for px, py, pside in placed)


def _place(height: int, width: int, count: int, rng: np.random.Generator,
           spec: SceneSpec) -> list[tuple[int, int, int]]:
    """Up to ``count`` non-overlapping squares (x, y, side) inside the canvas; the first always fits."""
    largest = int(spec.max_digit_fraction * min(height, width))
    placed: list[tuple[int, int, int]] = []
    for _ in range(count):
        for _ in range(spec.placement_tries):
            side = int(rng.integers(spec.min_digit, largest + 1))
            square = (int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1)), side)
            if _free(square, placed):
                placed.append(square)
                break
    return placed


def ink_box(alpha: np.ndarray, level: int) -> tuple[int, int, int, int] | None:
    """The tight box (x1, y1, x2, y2; edges, x2/y2 exclusive) of samples ≥ ``level`` in a uint8 image, or None."""
    rows = np.flatnonzero((alpha >= level).any(axis=1))
    cols = np.flatnonzero((alpha >= level).any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def make_scene(digits: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
               spec: SceneSpec = SceneSpec()) -> Scene:
    """One scene drawn from the pool ``digits`` (N×28×28 uint8, white ink on black) with their ``labels``."""
    height, width = (int(v) for v in rng.integers(spec.min_side, spec.max_side + 1, size=2))
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[...] = rng.integers(0, spec.max_background + 1, size=3, dtype=np.uint8)
    boxes, classes, sources, squares = [], [], [], []
    count = int(rng.integers(spec.min_digits, spec.max_digits + 1))
    for x, y, side in _place(height, width, count, rng, spec):
        index = int(rng.integers(len(digits)))
        scaled = np.asarray(Image.fromarray(digits[index]).resize((side, side), Image.Resampling.BILINEAR))
        box = ink_box(scaled, spec.ink_level)
        if box is None:
            continue
        ink = rng.integers(spec.min_ink, 256, size=3).astype(np.float32)
        alpha = (scaled.astype(np.float32) / 255.0)[..., None]
        region = canvas[y:y + side, x:x + side].astype(np.float32)
        canvas[y:y + side, x:x + side] = np.rint(region + alpha * (ink - region)).astype(np.uint8)
        boxes.append((x + box[0], y + box[1], x + box[2], y + box[3]))
        classes.append(int(labels[index]))
        sources.append(index)
        squares.append((x, y, side))
    return Scene(canvas, np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                 np.asarray(classes, dtype=np.int64), np.asarray(sources, dtype=np.int64),
                 np.asarray(squares, dtype=np.int64).reshape(-1, 3))


def make_scenes(digits: np.ndarray, labels: np.ndarray, count: int, seed: int,
                spec: SceneSpec = SceneSpec()) -> list[Scene]:
    """``count`` scenes from one seeded generator: the same seed and pool give the same scenes."""
    if len(digits) != len(labels) or len(digits) == 0:
        raise ValueError(f"a pool of {len(digits)} digits with {len(labels)} labels cannot make scenes")
    rng = np.random.default_rng(seed)
    return [make_scene(digits, labels, rng, spec) for _ in range(count)]
