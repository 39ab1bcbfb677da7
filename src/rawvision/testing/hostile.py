"""The hostile-input corpus: payloads a client might send, each with the answer it must get.

``expect`` is ``None`` where the image must be answered normally, or a regular expression that the
``INVALID_ARG`` message must match.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from rawvision.imaging import DecodeLimits, encode
from rawvision.testing.images import encoded, gradient, jpeg_bomb, png_bomb

NOT_AN_IMAGE = r"not a decodable image"
TRUNCATED = r"truncated|not a decodable image"


@dataclass(frozen=True)
class Case:
    """One payload, and ``None`` (answered normally) or the pattern its ``INVALID_ARG`` message must match."""

    name: str
    payload: bytes
    expect: str | None


def _animated(fmt: str) -> bytes:
    frames = [Image.fromarray(gradient(32, 24, seed=i)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buffer.getvalue()


def _palette_with_transparency() -> bytes:
    image = Image.fromarray(gradient(32, 32)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    return encoded(image, "PNG", transparency=0)


def _cmyk_jpeg() -> bytes:
    return encoded(Image.fromarray(gradient(40, 30)).convert("CMYK"), "JPEG")


def _sixteen_bit_png() -> bytes:
    wide = (gradient(40, 30)[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    return encoded(Image.fromarray(wide), "PNG")


def cases(limits: DecodeLimits) -> list[Case]:
    """Every case, for a model whose preprocessing has ``limits``."""
    png = encode(gradient(120, 90), "PNG")
    jpeg = encode(gradient(120, 90), "JPEG")
    rng = np.random.default_rng(7)
    corpus = [
        Case("empty", b"", r"empty payload"),
        Case("one byte", b"\x89", NOT_AN_IMAGE),
        Case("random bytes", rng.integers(0, 256, 2048, dtype=np.uint8).tobytes(), NOT_AN_IMAGE),
        Case("png header only", png[:16], TRUNCATED),
        Case("png bomb", png_bomb(), r"claims 50000x50000 = 2500000000 pixels"),
        Case("jpeg bomb", jpeg_bomb(), r"claims 50000x50000 = 2500000000 pixels"),
        Case("1x1 png", encode(np.full((1, 1), 200, np.uint8), "PNG"), None),
        Case("2x40 strip", encode(gradient(40, 2), "PNG"), None),
        Case("1x1000 strip", encode(gradient(1000, 1), "PNG"), r"aspect ratio beyond the limit"),
        Case("16-bit png", _sixteen_bit_png(), None),
        Case("palette png", encoded(Image.fromarray(gradient(32, 32)).convert("P"), "PNG"), None),
        Case("palette png with transparency", _palette_with_transparency(), None),
        Case("grey+alpha png", encoded(Image.fromarray(gradient(20, 20)).convert("LA"), "PNG"), None),
        Case("cmyk jpeg", _cmyk_jpeg(), None),
        Case("progressive jpeg", encoded(Image.fromarray(gradient(64, 48)), "JPEG", progressive=True), None),
        Case("animated gif", _animated("GIF"), r"format GIF is not accepted"),
        Case("animated webp", _animated("WEBP"), r"format WEBP is not accepted"),
        Case("tiff", encoded(Image.fromarray(gradient(20, 20)), "TIFF"), r"format TIFF is not accepted"),
        Case("bmp", encoded(Image.fromarray(gradient(20, 20)), "BMP"), r"format BMP is not accepted"),
        Case("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
             NOT_AN_IMAGE),
        Case("html", b"<!doctype html><html><body><img src=x></body></html>", NOT_AN_IMAGE),
        Case("text", b"a handwritten seven, honestly", NOT_AN_IMAGE),
        Case("over the size limit", png + b"\x00" * (limits.max_bytes - len(png) + 1), r"exceeds the limit"),
    ]
    for fmt, data in (("png", png), ("jpeg", jpeg)):
        for fraction in (0.1, 0.5, 0.95):
            corpus.append(Case(f"{fmt} truncated at {fraction:.0%}", data[: int(len(data) * fraction)], TRUNCATED))
    return corpus
