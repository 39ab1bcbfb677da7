"""Decode untrusted image bytes into pixel arrays, with limits, EXIF orientation and colour modes."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from rawvision.errors import InputError
from rawvision.parameters import parse_known

# Pillow's own bomb guard (a process-wide number, ~179 MP, checked when a file is opened) is replaced by
# the per-model DecodeLimits.max_pixels that open_image checks on the header before decoding, so every
# oversized image gets the same message naming its claimed size and the configured limit.
Image.MAX_IMAGE_PIXELS = None

ColorMode = Literal["L", "RGB"]
COLOR_MODES: tuple[ColorMode, ...] = ("L", "RGB")


@dataclass(frozen=True)
class DecodeLimits:
    """What the decoder accepts; each bound is checked before any pixel is decoded.

    Attributes:
        max_bytes: largest encoded payload.
        max_pixels: largest width × height the header may claim (decompression-bomb guard).
        max_aspect_ratio: largest long side / short side; a 1×100000 strip would otherwise become a
            gigantic array when its short side is resized up.
        formats: Pillow format names that are accepted.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_aspect_ratio: float = 30.0
    formats: tuple[str, ...] = field(default=("JPEG", "PNG"))

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0 or self.max_aspect_ratio < 1:
            raise ValueError(f"limits must be positive (aspect ratio ≥ 1), got max_bytes={self.max_bytes}, "
                             f"max_pixels={self.max_pixels}, max_aspect_ratio={self.max_aspect_ratio}")
        if not self.formats:
            raise ValueError("at least one image format must be accepted")

    @classmethod
    def from_parameters(cls, params: Mapping[str, str], model: str = "decoding") -> DecodeLimits:
        """Read ``max_bytes``, ``max_pixels``, ``max_aspect_ratio`` and ``formats`` (comma separated)."""
        limits = parse_known(cls, params, model)
        return replace(limits, formats=tuple(f.upper() for f in limits.formats))


DEFAULT_LIMITS = DecodeLimits()
ORIENTATION_TAG = 0x0112


DraftSize = Callable[[int, int], tuple[int, int]]
"""Given a JPEG's header size (width, height), the smallest (width, height) its decoder may scale down to."""


def open_image(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS, draft: DraftSize | None = None) -> Image.Image:
    """Open, check and fully decode ``data``; raise :class:`InputError` naming the cause.

    ``draft`` lets a JPEG decoder scale down by 1/2, 1/4 or 1/8 in the DCT domain (Pillow's ``draft``),
    keeping both sides at least the size it returns; other formats ignore it. It runs after the limits
    are checked on the header, so it never lets a bigger image through.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"expected encoded image bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise InputError("empty payload: expected the bytes of an encoded image")
    if len(data) > limits.max_bytes:
        raise InputError(f"payload of {len(data)} bytes exceeds the limit of {limits.max_bytes} bytes")
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        head = bytes(data[:8])
        raise InputError(f"not a decodable image ({len(data)} bytes starting {head!r}); "
                         f"expected one of {', '.join(limits.formats)}") from None
    if image.format not in limits.formats:
        raise InputError(f"image format {image.format} is not accepted; expected one of "
                         f"{', '.join(limits.formats)}")
    width, height = image.size
    if width * height > limits.max_pixels:
        raise InputError(f"image claims {width}x{height} = {width * height} pixels, more than the limit "
                         f"of {limits.max_pixels}")
    if width == 0 or height == 0:
        raise InputError(f"image has no pixels ({width}x{height})")
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise InputError(f"image of {width}x{height} has an aspect ratio beyond the limit of "
                         f"{limits.max_aspect_ratio:g}:1")
    if draft is not None and image.format == "JPEG":
        image.draft(None, draft(width, height))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"corrupt or truncated {image.format} image: {exc}") from None
    return image


def to_mode(image: Image.Image, mode: ColorMode) -> Image.Image:
    """Convert to ``L`` or ``RGB`` as a photo viewer shows it: EXIF-rotated, alpha over white.

    ``image`` itself is turned upright in place, which saves a full copy of every photo.
    """
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # Pillow clips 16-bit samples to 255 on convert("L"); keep the top 8 bits instead.
        wide = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray((wide >> 8).clip(0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" or image.mode.endswith("A") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert(mode) if image.mode != mode else image


def decode(data: bytes, mode: ColorMode, limits: DecodeLimits = DEFAULT_LIMITS,
           draft: DraftSize | None = None) -> Image.Image:
    """Decode ``data`` into a Pillow image in ``mode``; raise :class:`InputError` if it is unusable."""
    return to_mode(open_image(data, limits, draft), mode)


_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
"""EXIF orientations that turn the picture a quarter (its width and height swap when shown upright)."""


def decode_with_size(data: bytes, mode: ColorMode, limits: DecodeLimits = DEFAULT_LIMITS,
                     draft: DraftSize | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Like :func:`decode`, plus the full-size ``(height, width)`` as shown upright.

    A JPEG drafted by ``draft`` comes out smaller than it is; a detector maps its boxes back to the
    picture's own pixels, so it needs the size the header declared, turned as EXIF turns the picture.
    """
    header: list[tuple[int, int]] = []

    def recording(width: int, height: int) -> tuple[int, int]:
        header.append((width, height))
        return draft(width, height) if draft is not None else (width, height)

    image = open_image(data, limits, recording if draft is not None else None)
    width, height = header[0] if header else image.size
    if image.getexif().get(ORIENTATION_TAG, 1) in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    return to_mode(image, mode), (height, width)


def encode(pixels: np.ndarray, fmt: Literal["PNG", "JPEG"] = "PNG", quality: int = 95) -> bytes:
    """Encode an HxW or HxWx3 uint8 array as PNG or JPEG bytes (for samples, tests and benchmarks)."""
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt == "JPEG" else {}
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buffer, format=fmt, **options)
    return buffer.getvalue()
