"""A seeded corpus of rendered text images with known lines, for OCR tests and benchmarks.

Lines of English words and digits are drawn with the DejaVu fonts (Debian ``fonts-dejavu-core``) on
varied backgrounds (flat colours, gradients, noise), at varied sizes, slightly rotated and blurred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from rawvision.fonts import font_path

FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSerif-Bold.ttf")
WORDS = ("invoice", "total", "amount", "coffee", "bread", "milk", "station", "river", "garden", "market",
         "ticket", "number", "order", "delivery", "paid", "cash", "card", "change", "thank", "you", "open",
         "daily", "street", "north", "window", "table", "orange", "yellow", "quick", "brown", "fox",
         "jumps", "over", "lazy", "dog", "Receipt", "Store", "Price", "Tax", "Date", "Hello", "World")


@dataclass(frozen=True)
class TextImage:
    """One rendered picture: its RGB pixels and the lines drawn on it, top to bottom."""

    pixels: np.ndarray
    lines: tuple[str, ...]


def _line(rng: np.random.Generator) -> str:
    words = [str(rng.choice(WORDS)) for _ in range(int(rng.integers(1, 4)))]
    if rng.random() < 0.6:
        number = f"{rng.integers(1, 999)}.{rng.integers(0, 100):02d}" if rng.random() < 0.5 else str(
            rng.integers(10, 99999))
        words.insert(int(rng.integers(0, len(words) + 1)), number)
    return " ".join(words)


def _background(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, bool]:
    """A background and whether it is dark (so the text is drawn light)."""
    kind = int(rng.integers(0, 3))
    dark = rng.random() < 0.25
    base = rng.integers(0, 70, 3) if dark else rng.integers(185, 256, 3)
    canvas: np.ndarray = np.broadcast_to(base.astype(np.float32), (height, width, 3)).copy()
    if kind == 1:
        other = rng.integers(0, 70, 3) if dark else rng.integers(185, 256, 3)
        ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
        canvas = canvas * (1 - ramp) + other.astype(np.float32) * ramp
    elif kind == 2:
        canvas += rng.normal(0, 12, canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 255).astype(np.uint8), dark


def render(seed: int, width: int = 640, height: int = 640) -> TextImage:
    """Render 2 to 4 lines of text on one picture; the same seed gives the same picture.

    Square pictures keep the detector's input small: it scales the short side up to 736 pixels.
    """
    rng = np.random.default_rng(seed)
    lines = tuple(_line(rng) for _ in range(int(rng.integers(2, 5))))
    size = int(rng.integers(20, 42))
    name = str(rng.choice(FONTS))
    left = int(rng.integers(10, 60))
    font = ImageFont.truetype(str(font_path(name)), size)
    while size > 12 and max(font.getlength(line) for line in lines) > width - left - 30:
        size -= 2  # every line must fit, or the truth would hold text that is not in the picture
        font = ImageFont.truetype(str(font_path(name)), size)
    spacing = int(size * rng.uniform(1.6, 2.2))
    needed = spacing * len(lines) + 2 * size
    if needed + 60 > height:
        raise ValueError(f"{len(lines)} lines of {size} px need a picture at least {needed + 60} px tall")
    top = int(rng.integers(30, height - needed - 30))
    background, dark = _background(rng, width, height)
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    for index, text in enumerate(lines):
        draw.text((left, top + index * spacing), text, font=font, fill=255)
    layer = layer.rotate(float(rng.uniform(-4, 4)), resample=Image.Resampling.BICUBIC, center=(width / 2, height / 2))
    ink = rng.integers(190, 256, 3) if dark else rng.integers(0, 80, 3)
    alpha: np.ndarray = np.asarray(layer, dtype=np.float32)[..., None] / 255.0
    pixels = background.astype(np.float32) * (1 - alpha) + ink.astype(np.float32) * alpha
    image = Image.fromarray(pixels.round().astype(np.uint8))
    blur = float(rng.uniform(0, 1.2))
    if blur > 0.3:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return TextImage(np.asarray(image), lines)


def corpus(count: int, seed: int = 0) -> list[TextImage]:
    """``count`` pictures, rendered from the seeds ``seed``, ``seed + 1`` and so on."""
    return [render(seed + i) for i in range(count)]
