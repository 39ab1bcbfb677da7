"""Draw detections on the picture: each box outlined, its label and score above it, landmarks as dots."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from rawvision.detection.outputs import Detections
from rawvision.fonts import label_font

_PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
            (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128))


def draw(image: Image.Image, detections: Detections, labels: Sequence[str]) -> Image.Image:
    """A copy of ``image`` (RGB) with every detection drawn in its class's colour."""
    canvas = image.convert("RGB")
    pen = ImageDraw.Draw(canvas)
    size = max(12, min(canvas.size) // 40)
    font = label_font(size)
    line = max(2, min(canvas.size) // 300)
    for index in range(len(detections)):
        x1, y1, x2, y2 = (float(v) for v in detections.boxes[index])
        class_id = int(detections.class_ids[index])
        colour = _PALETTE[class_id % len(_PALETTE)]
        pen.rectangle((x1, y1, max(x1, x2), max(y1, y2)), outline=colour, width=line)
        name = labels[class_id] if 0 <= class_id < len(labels) else str(class_id)
        text = f"{name} {float(detections.scores[index]):.2f}"
        anchor = (x1, max(0.0, y1 - size - 4))
        left, top, right, bottom = pen.textbbox(anchor, text, font=font)
        pen.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=colour)
        pen.text(anchor, text, font=font, fill=(255, 255, 255))
        if detections.landmarks is not None:
            radius = max(2, line)
            for x, y in detections.landmarks[index]:
                pen.ellipse((float(x) - radius, float(y) - radius, float(x) + radius, float(y) + radius),
                            fill=(255, 255, 0), outline=(0, 0, 0))
    return canvas
