"""Decode + resize cost on real photos: the ways to get a 224×224 crop out of a JPEG, timed and compared.

Run: ``.venv/bin/python -m rawvision.loadtest.bench_decode``. Each row is one photo (scikit-image's
chelsea, coffee and astronaut, as JPEG at their own size and enlarged to 12 MP like a phone photo); each
column one path, with its time per image and its difference from torchvision's result (Pillow full decode,
antialiased bilinear resize), in 0–255 grey levels. OpenCV is measured when ``cv2`` is importable; it is
not a dependency of the project.
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from collections.abc import Callable
from datetime import date

import numpy as np
from PIL import Image

from rawvision.presets import EFFICIENTNET_LITE
from rawvision.testing.photos import jpeg, photo, upscaled
from rawvision.transforms import PreprocessSpec, load_image, resized_size

Path_ = Callable[[bytes], np.ndarray]
DRAFTED = PreprocessSpec(**{**EFFICIENTNET_LITE.__dict__, "jpeg_draft": True})


def centre(pixels: np.ndarray, size: int = 224) -> np.ndarray:
    """The centre ``size``×``size`` crop, as the spec takes it."""
    top, left = round((pixels.shape[0] - size) / 2), round((pixels.shape[1] - size) / 2)
    return pixels[top:top + size, left:left + size]


def pillow_reducing_gap(data: bytes) -> np.ndarray:
    """Full decode, then Pillow's reduce() by an integer factor before the bilinear resize."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    size = resized_size(image.width, image.height, 256)
    return centre(np.asarray(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)))


def opencv_paths() -> dict[str, Path_]:
    """OpenCV's full decode and its DCT-reduced decode, each with an INTER_AREA resize (if cv2 exists)."""
    try:
        import cv2
    except ImportError:
        return {}

    def run(data: bytes, reduced: bool) -> np.ndarray:
        flag = cv2.IMREAD_COLOR
        if reduced:
            with Image.open(io.BytesIO(data)) as header:
                factor = min(header.size) / 512
            for k, reduced_flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                                    (2, cv2.IMREAD_REDUCED_COLOR_2)):
                if factor >= k:
                    flag = reduced_flag
                    break
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        size = resized_size(pixels.shape[1], pixels.shape[0], 256)
        return centre(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)[:, :, ::-1])

    return {"opencv": lambda d: run(d, False), "opencv reduced": lambda d: run(d, True)}


def paths() -> dict[str, Path_]:
    """Every path, the project's two first (torchvision-exact, then the served ``jpeg_draft``)."""
    return {
        "pillow (exact)": lambda d: load_image(d, EFFICIENTNET_LITE),
        "pillow draft (served)": lambda d: load_image(d, DRAFTED),
        "pillow reducing_gap=3": pillow_reducing_gap,
        **opencv_paths(),
    }


def timed(path: Path_, data: bytes, seconds: float) -> tuple[float, np.ndarray]:
    """Median milliseconds per call over about ``seconds``, and the last result."""
    result = path(data)
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        start = time.perf_counter()
        result = path(data)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)), result


def main() -> None:
    """Print one table: time per image and difference from the exact path, per photo and path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each photo and path")
    args = parser.parse_args()
    photos = {}
    for name in ("chelsea", "coffee", "astronaut"):
        photos[f"{name} {photo(name).shape[1]}x{photo(name).shape[0]}"] = jpeg(photo(name))
        photos[f"{name} 12 MP"] = upscaled(name)
    print(f"decode + resize 256 + crop 224 per image; {date.today()}, {platform.node()}, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    columns = paths()
    print(f"{'photo':22s} {'KiB':>5s}  " + "  ".join(f"{name:>24s}" for name in columns))
    for label, data in photos.items():
        reference = load_image(data, EFFICIENTNET_LITE).astype(np.float32)
        cells = []
        for path in columns.values():
            ms, result = timed(path, data, args.seconds)
            diff = np.abs(result.astype(np.float32) - reference)
            cells.append(f"{ms:7.1f} ms ({diff.mean():4.2f}/{diff.max():3.0f})")
        print(f"{label:22s} {len(data) // 1024:5d}  " + "  ".join(f"{cell:>24s}" for cell in cells))
    print("cells: median ms per image (mean/max |difference| from the exact path, 0-255 levels)")


if __name__ == "__main__":
    main()
