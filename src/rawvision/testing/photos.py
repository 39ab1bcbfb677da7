"""Real photos (scikit-image's) in the encodings and colour modes users send."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image

from rawvision.testing.images import encoded


@cache
def photo(name: str) -> np.ndarray:
    """A scikit-image sample photo by name (``chelsea``, ``coffee``, ``astronaut``) as RGB pixels."""
    from skimage import data

    return np.asarray(getattr(data, name)())


def jpeg(pixels: np.ndarray, quality: int = 90) -> bytes:
    """The pixels as a JPEG."""
    return encoded(Image.fromarray(pixels), "JPEG", quality=quality)


def upscaled(name: str, megapixels: float = 12.0) -> bytes:
    """The photo enlarged to about ``megapixels`` (as a phone camera takes it), as JPEG."""
    image = Image.fromarray(photo(name))
    factor = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    size = (round(image.width * factor), round(image.height * factor))
    return encoded(image.resize(size, Image.Resampling.BICUBIC), "JPEG", quality=90)


def cmyk_jpeg(pixels: np.ndarray) -> bytes:
    """The pixels as a CMYK JPEG, as print workflows save them."""
    return encoded(Image.fromarray(pixels).convert("CMYK"), "JPEG", quality=95)


def exif_rotated_jpeg(pixels: np.ndarray) -> bytes:
    """The pixels stored turned 90° clockwise with EXIF orientation 8, which a viewer turns back upright."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(pixels, k=-1)))
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90° counter-clockwise to display
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def rgba_png(pixels: np.ndarray) -> tuple[bytes, np.ndarray]:
    """An RGBA PNG with a soft alpha ramp, and the RGB a viewer shows for it (composited over white)."""
    height, width = pixels.shape[:2]
    alpha = np.broadcast_to(np.linspace(96, 255, width, dtype=np.float32), (height, width))
    rgba = np.dstack([pixels, alpha.astype(np.uint8)])
    a = rgba[..., 3:].astype(np.float32) / 255.0
    shown = (pixels.astype(np.float32) * a + 255.0 * (1.0 - a)).round().clip(0, 255).astype(np.uint8)
    return encoded(Image.fromarray(rgba, "RGBA"), "PNG"), shown


def palette_png(pixels: np.ndarray) -> tuple[bytes, np.ndarray]:
    """A 256-colour palette PNG, and the RGB pixels its palette stands for."""
    image = Image.fromarray(pixels).quantize(256)
    return encoded(image, "PNG"), np.asarray(image.convert("RGB"))


def grey_png(pixels: np.ndarray) -> tuple[bytes, np.ndarray]:
    """A one-channel PNG, and the RGB a viewer shows for it (grey in all three channels)."""
    grey = np.asarray(Image.fromarray(pixels).convert("L"))
    return encoded(Image.fromarray(grey, "L"), "PNG"), np.repeat(grey[..., None], 3, axis=2)
