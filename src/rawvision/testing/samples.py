"""Write held-out test images as PNG/JPEG files named by their class, for people and demos to try."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from rawvision.imaging import encode


def write_samples(images: np.ndarray, labels: np.ndarray, names: Sequence[str], out_dir: str | Path,
                  count: int = 10, fmt: Literal["PNG", "JPEG"] = "PNG") -> list[Path]:
    """Write the first ``count`` images as ``<index>_<label>.<ext>``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    extension = "png" if fmt == "PNG" else "jpg"
    paths = []
    for index in range(min(count, len(images))):
        label = names[int(labels[index])].replace("/", "-").replace(" ", "_")
        path = out / f"{index:04d}_{label}.{extension}"
        path.write_bytes(encode(images[index], fmt))
        paths.append(path)
    return paths
