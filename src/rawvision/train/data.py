"""An image folder as torchvision's ``ImageFolder`` reads it: one subfolder per class, JPEG/PNG files."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawvision.errors import InputError
from rawvision.transforms import PreprocessSpec, load_image

LOGGER = logging.getLogger(__name__)

FEW_IMAGES = 5
"""A class with fewer usable images than this gets a warning: its accuracy will mean little."""


class DataError(ValueError):
    """The image folder cannot be trained on; the message names the folder and what was expected."""


@dataclass(frozen=True)
class Sample:
    """One file of the folder and the index of its class."""

    path: Path
    label: int


@dataclass(frozen=True)
class Skipped:
    """A file that could not be used, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Folder:
    """The classes (sorted subfolder names, as ``ImageFolder`` orders them) and every candidate file."""

    root: Path
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]


def scan_folder(root: str | Path, classes: Sequence[str] | None = None) -> Folder:
    """List ``root``'s class subfolders and their files; refuse fewer than two classes or an empty one.

    ``classes``, when given (a validation folder), must be exactly the subfolders found.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; expected one subfolder per class holding JPEG/PNG files")
    found = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if classes is not None and found != tuple(classes):
        raise DataError(f"{root} has the classes {list(found)}; expected the training classes {list(classes)}")
    if len(found) < 2:
        raise DataError(f"{root} has {len(found)} class folder(s) {list(found)}; a classifier needs at least two "
                        "subfolders, one per class")
    samples: list[Sample] = []
    for label, name in enumerate(found):
        files = sorted(p for p in (root / name).rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DataError(f"class folder {root / name} is empty; put its JPEG/PNG images there or remove it")
        samples.extend(Sample(path, label) for path in files)
    return Folder(root, found, tuple(samples))


def decoded(samples: Sequence[Sample], spec: PreprocessSpec) -> Iterator[tuple[Sample, np.ndarray | Skipped]]:
    """Each sample decoded and resized as the server does (HxWxC uint8), or why it was skipped."""
    for sample in samples:
        try:
            yield sample, load_image(sample.path.read_bytes(), spec)
        except (InputError, OSError) as exc:
            LOGGER.info("skipped %s: %s", sample.path, exc)
            yield sample, Skipped(sample.path, str(exc))


def check_counts(folder: Folder, labels: np.ndarray) -> list[str]:
    """Refuse a class left without usable images; return a warning for each class with very few."""
    counts = np.bincount(labels, minlength=len(folder.classes))
    empty = [name for name, count in zip(folder.classes, counts, strict=True) if count == 0]
    if empty:
        raise DataError(f"class folder(s) {empty} in {folder.root} hold no readable JPEG/PNG image")
    return [f"class {name!r} has only {count} usable image(s) (fewer than {FEW_IMAGES}); its scores will mean little"
            for name, count in zip(folder.classes, counts, strict=True) if count < FEW_IMAGES]


def split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified split: indices of training and held-out items; each class keeps one training item."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction {fraction} must be between 0 and 1")
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = min(len(members) - 1, max(1, round(len(members) * fraction)))
        held.extend(members[:count])
        train.extend(members[count:])
    if not held:
        raise DataError("no class has two usable images, so nothing can be held out; add images or pass --val DIR")
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(held, dtype=np.int64))
