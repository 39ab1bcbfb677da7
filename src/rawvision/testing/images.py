"""Test images made in code: encoded digits, colour pictures, and broken or hostile payloads."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    """The image encoded as ``fmt`` (PNG, JPEG, ...) with Pillow's save ``options``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB picture with some noise, so resizing has real work to do."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1),
                    (x + y) * 127 / max(width + height - 2, 1)], axis=-1)
    noisy: np.ndarray = (rgb + rng.normal(0, 12, rgb.shape)).clip(0, 255).astype(np.uint8)
    return noisy


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG header that claims ``width`` × ``height`` grey pixels, with one tiny data chunk."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _chunk(b"IEND", b""))


def jpeg_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A small real JPEG whose frame header (SOF0) is patched to claim ``width`` × ``height``."""
    data = bytearray(encoded(Image.new("L", (8, 8), 128), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)
