from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rawvision.errors import InputError
from rawvision.imaging import DecodeLimits, decode, encode
from rawvision.testing.images import encoded, gradient, jpeg_bomb, png_bomb

PHOTO = gradient(64, 48)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_decodes_rgb_and_grey(fmt: str) -> None:
    data = encode(PHOTO, fmt)
    rgb = np.asarray(decode(data, "RGB"))
    grey = np.asarray(decode(data, "L"))
    assert rgb.shape == (48, 64, 3) and grey.shape == (48, 64)
    tolerance = 0 if fmt == "PNG" else 12
    assert np.abs(rgb.astype(int) - PHOTO).mean() <= tolerance


def test_alpha_is_composited_over_white() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half transparent
    out = np.asarray(decode(encoded(Image.fromarray(rgba, "RGBA"), "PNG"), "RGB"))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[3, 0].tolist() == [255, 255, 255]


def test_palette_png_becomes_rgb() -> None:
    image = Image.fromarray(PHOTO).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = np.asarray(decode(encoded(image, "PNG"), "RGB"))
    assert out.shape == (48, 64, 3)
    assert np.abs(out.astype(int) - PHOTO).mean() < 25


def test_sixteen_bit_png_keeps_its_brightness() -> None:
    wide = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4096).astype(np.uint16)
    image = Image.fromarray(wide)
    assert image.mode.startswith("I;16")
    out = np.asarray(decode(encoded(image, "PNG"), "L"))
    assert out.tolist() == (wide >> 8).astype(np.uint8).tolist()


def test_exif_orientation_is_applied() -> None:
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[:10] = 255  # white band at the top of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer rotates 90° clockwise
    data = encoded(Image.fromarray(tall), "JPEG", exif=exif.tobytes(), quality=95)
    out = np.asarray(decode(data, "L"))
    assert out.shape == (20, 40)
    assert out[:, -10:].mean() > 200 and out[:, :10].mean() < 50


@pytest.mark.parametrize(("payload", "cause"), [
    (b"", "empty payload"),
    (b"\x00", "not a decodable image"),
    (b"this is not an image at all", "not a decodable image"),
    (bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "not a decodable image"),
    (png_bomb(), "50000"),
    (jpeg_bomb(), "50000"),
])
def test_bad_payloads_name_their_cause(payload: bytes, cause: str) -> None:
    with pytest.raises(InputError, match=cause):
        decode(payload, "RGB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_images_are_refused(fmt: str, fraction: float) -> None:
    data = encode(gradient(128, 96), fmt)
    with pytest.raises(InputError, match=r"truncated|not a decodable"):
        decode(data[: int(len(data) * fraction)], "RGB")


def test_limits_are_enforced() -> None:
    data = encode(PHOTO, "PNG")
    with pytest.raises(InputError, match="exceeds the limit"):
        decode(data, "RGB", DecodeLimits(max_bytes=len(data) - 1))
    with pytest.raises(InputError, match="more than the limit"):
        decode(data, "RGB", DecodeLimits(max_pixels=64 * 48 - 1))
    with pytest.raises(InputError, match="format GIF is not accepted"):
        decode(encoded(Image.fromarray(PHOTO), "GIF"), "RGB")


def test_limits_from_parameters() -> None:
    limits = DecodeLimits.from_parameters({"max_bytes": "10", "formats": "png, jpeg"})
    assert limits == DecodeLimits(max_bytes=10, formats=("PNG", "JPEG"))
