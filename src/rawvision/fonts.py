"""The DejaVu fonts (Debian ``fonts-dejavu-core``) that pictures drawn here use, in one place."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def font_path(name: str) -> Path:
    """The path of a DejaVu font; a clear error if the Debian package is missing."""
    path = FONT_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install the Debian package fonts-dejavu-core")
    return path


def label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at ``size`` pixels for labels on a picture, or Pillow's own font where DejaVu is missing."""
    try:
        return ImageFont.truetype(str(font_path("DejaVuSans.ttf")), size)
    except (FileNotFoundError, OSError):
        return ImageFont.load_default(size)
