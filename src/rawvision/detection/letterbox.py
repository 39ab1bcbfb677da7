"""Letterboxing as data: fit an image into the network input keeping its aspect ratio, and undo it.

The arithmetic is Ultralytics' ``LetterBox`` (centred, ``round(d/2 ± 0.1)`` pad split, OpenCV resize), so a
model exported from Ultralytics sees here the pixels it saw there. Boxes are mapped back to the original
image from its size alone, so nothing but the original ``(height, width)`` needs to travel with an image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

from rawvision.imaging import DEFAULT_LIMITS, DecodeLimits, decode_with_size
from rawvision.parameters import parse_known
from rawvision.transforms import PreprocessSpec, normalize

ChannelOrder = Literal["RGB", "BGR"]
Layout = Literal["NCHW", "NHWC"]
Interpolation = Literal["nearest", "bilinear"]

_CV2_FILTERS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}


@dataclass(frozen=True)
class LetterboxSpec:
    """How a detector's input is made: letterboxed to ``size``, then scaled and normalised.

    Attributes:
        size: ``(height, width)`` of the network input, each a multiple of ``stride``.
        pad_value: grey level (0–255) of the bars around the resized image.
        scale: factor applied to the 0–255 samples first (``1/255`` for Ultralytics models).
        mean: per-channel mean subtracted after scaling, in the network's channel order.
        std: per-channel standard deviation divided after subtracting, in the network's channel order.
        channel_order: ``RGB`` or ``BGR`` channels in the network input.
        layout: ``NCHW`` or ``NHWC`` for the batched output.
        interpolation: OpenCV resampling filter (``bilinear`` is ``INTER_LINEAR``).
        stride: the network's largest stride; ``size`` must be a multiple of it.
        scaleup: enlarge images smaller than ``size``; when false they are only padded.
        jpeg_draft: let the JPEG decoder scale down by a power of two first (DCT domain), keeping at least
            the size the image takes inside the letterbox. Boxes still come back in the picture's own pixels
            (its header size); the drafted picture differs from the full decode by its rounding, under one
            network-input pixel.

    """

    size: tuple[int, int]
    pad_value: int = 114
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    channel_order: ChannelOrder = "RGB"
    layout: Layout = "NCHW"
    interpolation: Interpolation = "bilinear"
    stride: int = 32
    scaleup: bool = True
    jpeg_draft: bool = False

    def __post_init__(self) -> None:
        if self.stride <= 0:
            raise ValueError(f"stride {self.stride} must be positive")
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"size {self.size} must be a positive (height, width)")
        if any(side % self.stride for side in self.size):
            raise ValueError(f"size {self.size} must be a multiple of the stride {self.stride} on both sides")
        if not 0 <= self.pad_value <= 255:
            raise ValueError(f"pad_value {self.pad_value} must be a grey level in 0..255")
        if not self.scale > 0:
            raise ValueError(f"scale {self.scale} must be positive")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"mean {self.mean} and std {self.std} need 3 values each")
        if min(self.std) <= 0:
            raise ValueError(f"std {self.std} must be positive")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order {self.channel_order!r} is not RGB or BGR")
        if self.layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout {self.layout!r} is not NCHW or NHWC")
        if self.interpolation not in _CV2_FILTERS:
            raise ValueError(f"interpolation {self.interpolation!r} is not one of {tuple(_CV2_FILTERS)}")

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """Shape of one preprocessed image, without the batch axis."""
        height, width = self.size
        return (3, height, width) if self.layout == "NCHW" else (height, width, 3)

    def to_parameters(self) -> dict[str, str]:
        """The spec as Triton model-config parameters (string values)."""
        def join(values: Sequence[float] | Sequence[int]) -> str:
            return ",".join(repr(v) for v in values)

        return {
            "size": join(self.size),
            "pad_value": str(self.pad_value),
            "scale": repr(self.scale),
            "mean": join(self.mean),
            "std": join(self.std),
            "channel_order": self.channel_order,
            "layout": self.layout,
            "interpolation": self.interpolation,
            "stride": str(self.stride),
            "scaleup": "true" if self.scaleup else "false",
            **({"jpeg_draft": "true"} if self.jpeg_draft else {}),
        }

    @classmethod
    def from_parameters(cls, params: Mapping[str, str], model: str = "letterbox") -> LetterboxSpec:
        """Build a spec from Triton model-config parameters (other keys of the same config are ignored)."""
        return parse_known(cls, params, model)


@dataclass(frozen=True)
class Letterbox:
    """Where one image lands in the network input: ``input = original * scale + (left, top)``."""

    scale: float
    top: int
    left: int


def _resized(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(height, width)`` of the image inside the letterbox, at least one pixel each."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def letterbox_geometry(height: int, width: int, spec: LetterboxSpec) -> Letterbox:
    """Scale and pad of an image of ``height`` x ``width`` pixels, with Ultralytics' arithmetic."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size {height}x{width} (height x width) must be positive")
    target_h, target_w = spec.size
    scale = min(target_h / height, target_w / width)
    if not spec.scaleup:
        scale = min(scale, 1.0)
    new_h, new_w = _resized(height, width, scale)
    top = round((target_h - new_h) / 2 - 0.1)
    left = round((target_w - new_w) / 2 - 0.1)
    return Letterbox(scale=scale, top=max(0, top), left=max(0, left))


def letterbox(rgb: np.ndarray, spec: LetterboxSpec) -> np.ndarray:
    """Resize an HxWx3 uint8 image into ``spec.size``, centred, the rest filled with ``pad_value``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got shape {rgb.shape} of {rgb.dtype}")
    height, width = rgb.shape[:2]
    box = letterbox_geometry(height, width, spec)
    new_h, new_w = _resized(height, width, box.scale)
    if (new_h, new_w) != (height, width):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=_CV2_FILTERS[spec.interpolation])
    out = np.full((*spec.size, 3), spec.pad_value, dtype=np.uint8)
    out[box.top:box.top + new_h, box.left:box.left + new_w] = rgb
    return out


def draft_bound(spec: LetterboxSpec) -> Callable[[int, int], tuple[int, int]]:
    """The smallest (width, height) a JPEG of a given header size may be drafted to for ``spec``.

    The picture may still turn a quarter (EXIF), so the bound holds for both orientations.
    """
    target_h, target_w = spec.size

    def bound(width: int, height: int) -> tuple[int, int]:
        scale = max(min(target_h / height, target_w / width), min(target_h / width, target_w / height))
        if not spec.scaleup:
            scale = min(scale, 1.0)
        return (math.ceil(width * scale), math.ceil(height * scale))

    return bound


def load_letterboxed(data: bytes, spec: LetterboxSpec,
                     limits: DecodeLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode untrusted bytes (limits, EXIF orientation, RGB) and letterbox them.

    Returns:
        The letterboxed HxWx3 uint8 pixels, and the original ``(height, width)`` after EXIF rotation
        (the header's size, also when ``spec.jpeg_draft`` decoded the JPEG smaller).

    """
    image, size = decode_with_size(data, "RGB", limits, draft_bound(spec) if spec.jpeg_draft else None)
    return letterbox(np.asarray(image, dtype=np.uint8), spec), size


@lru_cache(maxsize=64)
def _normalizing_spec(spec: LetterboxSpec) -> PreprocessSpec:
    """The classification spec whose :func:`normalize` does what ``spec`` asks after letterboxing."""
    return PreprocessSpec(resize=spec.size, mean=spec.mean, std=spec.std, scale=spec.scale,
                          color_mode="RGB", interpolation=spec.interpolation, layout=spec.layout)


def normalize_letterboxed(batch: np.ndarray, spec: LetterboxSpec) -> np.ndarray:
    """Scale, normalise and lay out a uint8 NHWC RGB batch as float32 in the spec's layout and channel order."""
    if spec.channel_order == "BGR" and batch.ndim == 4:
        batch = batch[..., ::-1]
    return normalize(batch, _normalizing_spec(spec))


def _geometry(original_sizes: np.ndarray, spec: LetterboxSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: scale ``[B]``, offset ``[B, 2]`` (left, top) and size ``[B, 2]`` (width, height)."""
    sizes = np.asarray(original_sizes).reshape(-1, 2)
    boxes = [letterbox_geometry(int(h), int(w), spec) for h, w in sizes]
    scale = np.array([box.scale for box in boxes], dtype=np.float64)
    offset = np.array([(box.left, box.top) for box in boxes], dtype=np.float64).reshape(-1, 2)
    return scale, offset, sizes[:, ::-1].astype(np.float64)


def _expand(values: np.ndarray, ndim: int) -> np.ndarray:
    """``values`` ``[B, ...]`` with axes added after the batch axis to broadcast against an ``ndim`` array."""
    return values.reshape(values.shape[0], *([1] * (ndim - values.ndim)), *values.shape[1:])


def unletterbox_points(points: np.ndarray, original_sizes: np.ndarray, spec: LetterboxSpec) -> np.ndarray:
    """Points ``[B, ..., 2]`` (x, y in input pixels) → original-image pixels, clipped to the image.

    ``original_sizes`` is ``[B, 2]`` (height, width), one row per leading index of ``points``.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.shape[-1] != 2 or points.ndim < 2:
        raise ValueError(f"expected points of shape [B, ..., 2], got {points.shape}")
    scale, offset, size = _geometry(original_sizes, spec)
    if scale.shape[0] != points.shape[0]:
        raise ValueError(f"{points.shape[0]} rows of points for {scale.shape[0]} original sizes")
    restored = (points - _expand(offset, points.ndim)) / _expand(scale[:, None], points.ndim)
    clipped: np.ndarray = np.clip(restored, 0.0, _expand(size, points.ndim)).astype(np.float32)
    return clipped


def unletterbox(boxes: np.ndarray, original_sizes: np.ndarray, spec: LetterboxSpec) -> np.ndarray:
    """Boxes ``[B, ..., 4]`` (x1, y1, x2, y2 in input pixels) → original-image pixels, clipped to the image.

    ``original_sizes`` is ``[B, 2]`` (height, width), one row per leading index of ``boxes``.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.shape[-1] != 4 or boxes.ndim < 2:
        raise ValueError(f"expected boxes of shape [B, ..., 4], got {boxes.shape}")
    flat = boxes.reshape(boxes.shape[0], int(np.prod(boxes.shape[1:-1], dtype=np.int64)) * 2, 2)
    restored = unletterbox_points(flat, original_sizes, spec)
    return restored.reshape(boxes.shape)
