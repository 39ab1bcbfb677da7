"""Warm-up samples for Triton's ``model_warmup``: real encoded images for the entry steps, typed data after.

Triton cannot warm an ensemble (server issue #6326), so every step is warmed on its own before the server
reports ready: a preprocessing step decodes real JPEG/PNG files shipped in ``<model>/warmup/``; core and
postprocessing steps get random data at the batch sizes they really see. A ``TYPE_STRING`` warm-up file
holds Triton's serialized BYTES tensor: a 4-byte little-endian length, then the bytes, per element.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rawvision.transforms import PreprocessSpec

WARMUP_DIR = "warmup"
WarmupData = Literal["zero", "random"]
# A typical phone photo after the web's downscaling; big enough to exercise the JPEG draft path.
PHOTO_SIZE = (640, 480)


def serialize_bytes(elements: Iterable[bytes]) -> bytes:
    """Triton's serialized BYTES tensor: each element as a 4-byte little-endian length and its bytes."""
    return b"".join(struct.pack("<I", len(item)) + item for item in elements)


def _encoded(image: Image.Image, fmt: Literal["JPEG", "PNG"]) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {"optimize": True}))
    return buffer.getvalue()


def _photo() -> Image.Image:
    from skimage import data  # an optional dependency (export extra): only needed to regenerate samples

    pixels = np.asarray(data.chelsea())  # type: ignore[no-untyped-call]
    return Image.fromarray(pixels).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)


def _digit(size: tuple[int, int]) -> Image.Image:
    """A white ``7`` on black, drawn at ``size`` as MNIST's digits are (centred, thick strokes)."""
    image = Image.new("L", (size[1] * 4, size[0] * 4), 0)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=size[0] * 3)
    draw.text((image.width / 2, image.height / 2), "7", fill=255, font=font, anchor="mm", stroke_width=size[0] // 7)
    return image.resize((size[1], size[0]), Image.Resampling.LANCZOS)


@functools.cache
def warmup_images(spec: PreprocessSpec) -> dict[str, bytes]:
    """Real encoded sample images for a preprocessing spec, by file name (without extension).

    Small grey models (MNIST-like) get a drawn digit at their own size; photo models get a photo at a
    typical size. Both as PNG and JPEG, the two decoders they meet.
    """
    height, width = spec.image_size
    if spec.color_mode == "L" and max(height, width) <= 64:
        digit = _digit((height, width))
        return {"digit_png": _encoded(digit, "PNG"), "digit_jpeg": _encoded(digit, "JPEG")}
    photo = _photo()
    return {"photo_jpeg": _encoded(photo, "JPEG"), "photo_png": _encoded(photo.resize((320, 240)), "PNG")}


@functools.cache
def letterbox_warmup_images() -> dict[str, bytes]:
    """Photos for a letterboxing step: landscape JPEG at a phone size, portrait PNG smaller.

    Two sizes and both orientations, so the first requests find the resize and padding paths warm.
    """
    photo = _photo()
    portrait = photo.transpose(Image.Transpose.ROTATE_90).resize((240, 320))
    return {"photo_jpeg": _encoded(photo, "JPEG"), "portrait_png": _encoded(portrait, "PNG")}


def ocr_warmup_images() -> dict[str, bytes]:
    """A rendered page of text as JPEG, for the OCR entry step."""
    from rawvision.ocr.synthetic import render

    return {"text_jpeg": _encoded(Image.fromarray(render(0).pixels), "JPEG")}


def write_warmup_files(model_dir: str | Path, images: Mapping[str, bytes]) -> list[Path]:
    """Write each image as a one-element BYTES tensor to ``<model_dir>/warmup/<name>``; return the paths."""
    folder = Path(model_dir) / WARMUP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in sorted(images.items()):
        path = folder / name
        path.write_bytes(serialize_bytes([data]))
        paths.append(path)
    return paths


def typical_batch_sizes(config: Any) -> tuple[int, ...]:
    """The batch sizes a step sees: 1, its preferred sizes and its maximum (just 1 if it does not batch)."""
    if config.max_batch_size <= 0:
        return (1,)
    preferred = config.dynamic_batching.preferred_batch_size if config.HasField("dynamic_batching") else []
    return tuple(sorted({1, *preferred, config.max_batch_size}))


def _check_batch(config: Any, batch_size: int) -> None:
    limit = max(config.max_batch_size, 1)
    if not 1 <= batch_size <= limit:
        raise ValueError(f"{config.name}: warm-up batch size {batch_size} is outside 1..{limit}")


def add_file_warmup(config: Any, files: Sequence[str], batch_sizes: Sequence[int], count: int = 1) -> None:
    """Warm a one-input step (``IMAGE``) with each file of ``<model>/warmup/`` at each batch size.

    Triton repeats the file's one element ``batch_size`` times, so the step decodes a full batch.
    """
    if len(config.input) != 1:
        raise ValueError(f"{config.name}: file warm-up needs exactly one input, got {len(config.input)}")
    (tensor,) = config.input
    for batch_size in batch_sizes:
        _check_batch(config, batch_size)
    for name in files:
        for batch_size in batch_sizes:
            sample = config.model_warmup.add(name=f"{name}_batch{batch_size}", batch_size=batch_size, count=count)
            entry = sample.inputs[tensor.name]
            entry.data_type = tensor.data_type
            entry.dims.extend(tensor.dims)
            entry.input_data_file = name


def add_data_warmup(config: Any, batch_sizes: Sequence[int], data: WarmupData = "random", count: int = 1,
                    dims: Mapping[str, Sequence[int]] | None = None,
                    input_files: Mapping[str, str] | None = None) -> None:
    """Warm a step with zero or random data for every input at each batch size.

    ``dims`` gives concrete dims (without the batch dimension) for inputs with variable ones;
    ``input_files`` names a file in ``<model>/warmup/`` (one batch element, raw) for inputs that need
    real values (a detector's image sizes).
    """
    files = dict(input_files or {})
    given = dict(dims or {})
    shapes = {tensor.name: list(given.get(tensor.name, tensor.dims)) for tensor in config.input}
    for name, shape in shapes.items():
        if any(d < 0 for d in shape):
            raise ValueError(f"{config.name}: input {name} has variable dims {shape}; give concrete ones in dims")
    for batch_size in batch_sizes:
        _check_batch(config, batch_size)
    for batch_size in batch_sizes:
        sample = config.model_warmup.add(name=f"{data}_batch{batch_size}", batch_size=batch_size, count=count)
        for tensor in config.input:
            shape = shapes[tensor.name]
            entry = sample.inputs[tensor.name]
            entry.data_type = tensor.data_type
            entry.dims.extend(shape)
            if tensor.name in files:
                entry.input_data_file = files[tensor.name]
            elif data == "zero":
                entry.zero_data = True
            else:
                entry.random_data = True
