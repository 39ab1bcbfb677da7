"""Draw OCR results on the picture: each box outlined, its text written above it."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from rawvision.fonts import font_path


def annotate(image: Image.Image, boxes: Sequence[Sequence[tuple[float, float]]], texts: Sequence[str]) -> Image.Image:
    """A copy of ``image`` (RGB) with every box drawn in red and its text in DejaVu Sans."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    size = max(12, canvas.height // 40)
    font = ImageFont.truetype(str(font_path("DejaVuSans.ttf")), size)
    for box, text in zip(boxes, texts, strict=True):
        corners = [(float(x), float(y)) for x, y in box]
        draw.polygon(corners, outline=(220, 0, 0), width=2)
        x, y = min(p[0] for p in corners), min(p[1] for p in corners)
        anchor = (x, max(0.0, y - size - 4))
        left, top, right, bottom = draw.textbbox(anchor, text, font=font)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(255, 255, 224))
        draw.text(anchor, text, font=font, fill=(0, 0, 160))
    return canvas
