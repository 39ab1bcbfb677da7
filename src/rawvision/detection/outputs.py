"""Per-image detections and the padded batch tensors a detection ensemble answers with.

Every image of a batch gets ``K`` rows (the batch's largest count, at least one); rows past an image's
``COUNT`` are zeros (and ``b""`` labels), so a scene with no detections is an answer, not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rawvision.detection.letterbox import LetterboxSpec, unletterbox, unletterbox_points
from rawvision.detection.nms import Selected


@dataclass(frozen=True)
class Detections:
    """What was found in one image, best first, in original-image pixels.

    Attributes:
        boxes: ``[k, 4]`` float32 x1, y1, x2, y2.
        scores: ``[k]`` float32.
        class_ids: ``[k]`` int64.
        landmarks: ``[k, 5, 2]`` float32 (x, y), or ``None`` for heads without them.

    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    landmarks: np.ndarray | None = None

    def __post_init__(self) -> None:
        count = self.scores.shape[0]
        if (self.boxes.shape != (count, 4) or self.class_ids.shape != (count,)
                or (self.landmarks is not None and self.landmarks.shape != (count, 5, 2))):
            raise ValueError(f"detection arrays disagree: boxes {self.boxes.shape}, scores {self.scores.shape}, "
                             f"class_ids {self.class_ids.shape}, "
                             f"landmarks {None if self.landmarks is None else self.landmarks.shape}")

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def restore(selected: Sequence[Selected], original_sizes: np.ndarray, spec: LetterboxSpec) -> list[Detections]:
    """Undo the letterbox of each image's selection: boxes and landmarks in original pixels, clipped."""
    sizes = np.asarray(original_sizes).reshape(-1, 2)
    if sizes.shape[0] != len(selected):
        raise ValueError(f"{len(selected)} selections for {sizes.shape[0]} original sizes")
    restored = []
    for found, size in zip(selected, sizes, strict=True):
        marks = found.landmarks
        restored.append(Detections(
            boxes=unletterbox(found.boxes[None], size[None], spec)[0],
            scores=found.scores.astype(np.float32),
            class_ids=found.class_ids.astype(np.int64),
            landmarks=None if marks is None else unletterbox_points(marks[None], size[None], spec)[0]))
    return restored


def pad(detections: Sequence[Detections], labels: Sequence[str]) -> dict[str, np.ndarray]:
    """The batch's output tensors: ``BOXES``, ``SCORES``, ``CLASS_IDS``, ``LABELS``, ``COUNT`` (+ ``LANDMARKS``).

    ``LANDMARKS`` is there when the detections carry landmarks (all of them, or none, must).
    """
    with_marks = {found.landmarks is not None for found in detections}
    if len(with_marks) > 1:
        raise ValueError("some images have landmarks and others not; one head gives all or none")
    batch = len(detections)
    rows = max([1, *(len(found) for found in detections)])
    encoded = [label.encode("utf-8") for label in labels]
    out: dict[str, np.ndarray] = {
        "BOXES": np.zeros((batch, rows, 4), dtype=np.float32),
        "SCORES": np.zeros((batch, rows), dtype=np.float32),
        "CLASS_IDS": np.zeros((batch, rows), dtype=np.int64),
        "LABELS": np.full((batch, rows), b"", dtype=object),
        "COUNT": np.array([[len(found)] for found in detections], dtype=np.int32).reshape(batch, 1),
    }
    if with_marks == {True}:
        out["LANDMARKS"] = np.zeros((batch, rows, 5, 2), dtype=np.float32)
    for image, found in enumerate(detections):
        count = len(found)
        if count and (found.class_ids.min() < 0 or found.class_ids.max() >= len(encoded)):
            raise ValueError(f"class id {int(found.class_ids.max())} or {int(found.class_ids.min())} is outside "
                             f"the {len(encoded)} labels")
        out["BOXES"][image, :count] = found.boxes
        out["SCORES"][image, :count] = found.scores
        out["CLASS_IDS"][image, :count] = found.class_ids
        for row, class_id in enumerate(found.class_ids):
            out["LABELS"][image, row] = encoded[int(class_id)]
        if found.landmarks is not None:
            out["LANDMARKS"][image, :count] = found.landmarks
    return out
