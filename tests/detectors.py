"""Tiny detectors with fixed weights, exported to ONNX here, and pictures whose detections are known.

``BrightCells`` is a YOLOv8-layout detector whose answer follows the image: the letterboxed input is cut
into cells of ``stride`` pixels; a cell whose brightest red (class 0) or blue (class 1) sample is above
half scores ``2 * (max - 0.5)``, with the cell as its box. Grey padding (114) and black score nothing,
so :func:`dots_image` can place coloured dots at chosen cells and a test knows every box, score and class.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from rawvision.detection.letterbox import LetterboxSpec, letterbox_geometry
from rawvision.export.onnx_export import export_onnx

SIZE = 128
STRIDE = 32
LABELS = ("red", "blue")
COLOURS = {0: (1, 0, 0), 1: (0, 0, 1)}


def _cell_boxes(size: int, stride: int) -> torch.Tensor:
    cells = size // stride
    rows, cols = torch.meshgrid(torch.arange(cells), torch.arange(cells), indexing="ij")
    centres_x = (cols.flatten().float() + 0.5) * stride
    centres_y = (rows.flatten().float() + 0.5) * stride
    sides = torch.full_like(centres_x, float(stride))
    return torch.stack([centres_x, centres_y, sides, sides])  # [4, N]: cx, cy, w, h


class BrightCells(nn.Module):
    """``[B, 3, S, S]`` in 0..1 → ``[B, 4 + 2, (S / stride)²]`` (Ultralytics' YOLOv8 layout)."""

    def __init__(self, size: int = SIZE, stride: int = STRIDE) -> None:
        super().__init__()
        self.stride = stride
        self.register_buffer("boxes", _cell_boxes(size, stride))

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 2, N]``: per cell, red and blue brightness above half, times two."""
        peaks = F.max_pool2d(x[:, [0, 2]], self.stride)
        return (2 * (peaks - 0.5)).clamp(0, 1).flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.scores(x)
        boxes = self.boxes.unsqueeze(0).expand(x.shape[0], -1, -1)
        return torch.cat([boxes, scores], 1)


class BrightCellsV5(BrightCells):
    """The same in YOLOv5's layout ``[B, N, 5 + 2]`` with an objectness of one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.scores(x)
        boxes = self.boxes.unsqueeze(0).expand(x.shape[0], -1, -1)
        objectness = torch.ones_like(scores[:, :1])
        return torch.cat([boxes, objectness, scores], 1).transpose(1, 2)


class CenterFaceShaped(nn.Module):
    """CenterFace's four outputs at stride 4 (heatmap, scale, offset, landmarks) from a dynamic-size input."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        grey = F.avg_pool2d(x.mean(1, keepdim=True), 4)
        return (torch.sigmoid(grey), grey.repeat(1, 2, 1, 1), grey.repeat(1, 2, 1, 1) * 0, grey.repeat(1, 10, 1, 1))


class Classifier(nn.Module):
    """A classifier: ``[B, 3, S, S]`` → ``[B, 5]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3)).repeat(1, 2)[:, :5]


def yolov8_onnx(folder: Path, size: int = SIZE) -> Path:
    """``BrightCells`` as Ultralytics names it: input ``images``, output ``output0``."""
    path = folder / "bright_v8.onnx"
    path.write_bytes(export_onnx(BrightCells(size), np.zeros((1, 3, size, size), np.float32), "images", "output0"))
    return path


def yolov5_onnx(folder: Path, size: int = SIZE) -> Path:
    """``BrightCellsV5``: input ``images``, output ``output``."""
    path = folder / "bright_v5.onnx"
    path.write_bytes(export_onnx(BrightCellsV5(size), np.zeros((1, 3, size, size), np.float32), "images", "output"))
    return path


def classifier_onnx(folder: Path, size: int = SIZE) -> Path:
    """A five-class classifier: what ``add --task detect`` must refuse."""
    path = folder / "classifier.onnx"
    path.write_bytes(export_onnx(Classifier(), np.zeros((1, 3, size, size), np.float32), "input", "logits"))
    return path


def centerface_onnx(folder: Path) -> Path:
    """``CenterFaceShaped`` with CenterFace's tensor names and dynamic batch, height and width."""
    path = folder / "centerface_shaped.onnx"
    outputs = ["heatmap", "scale", "offset", "landmarks"]
    axes = {"input": {0: "batch", 2: "height", 3: "width"},
            **{name: {0: "batch", 2: "h4", 3: "w4"} for name in outputs}}
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "model.onnx"
        torch.onnx.export(CenterFaceShaped().eval(), (torch.zeros(1, 3, 64, 64),), target, input_names=["input"],
                          output_names=outputs, dynamic_axes=axes, opset_version=17, dynamo=False)
        model = onnx.load(str(target))
    # CenterFace's own names, which torch.onnx refuses to give (numbers): rename in the graph.
    renames = {"input": "input.1", **dict(zip(outputs, ["537", "538", "539", "540"], strict=True))}
    for value in [*model.graph.input, *model.graph.output]:
        value.name = renames.get(value.name, value.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image (lossless, so colours stay exact)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def dots_image(height: int, width: int, dots: list[tuple[int, int, int, int]], spec: LetterboxSpec,
               stride: int = STRIDE) -> tuple[bytes, list[tuple[float, float, float, float, int, float]]]:
    """A black picture with a dot in each given cell ``(row, col, class, level)`` of the letterboxed input.

    Returns the PNG and, per dot, the expected detection: the cell's box in original pixels (clipped),
    its class and its score ``2 * (level / 255 - 0.5)``.
    """
    geometry = letterbox_geometry(height, width, spec)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    expected = []
    radius = max(4 / geometry.scale, 2.0)
    for row, col, class_id, level in dots:
        x = ((col + 0.5) * stride - geometry.left) / geometry.scale
        y = ((row + 0.5) * stride - geometry.top) / geometry.scale
        assert 0 <= x < width and 0 <= y < height, f"cell {row},{col} is in the padding of a {height}x{width} image"
        colour = tuple(level * c for c in COLOURS[class_id])
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
        corners = np.array([col * stride, row * stride, (col + 1) * stride, (row + 1) * stride], np.float64)
        box = (corners - [geometry.left, geometry.top] * 2) / geometry.scale
        box = np.clip(box, 0, [width, height] * 2)
        expected.append((*(float(v) for v in box), class_id, 2 * (level / 255 - 0.5)))
    return png(np.asarray(image)), expected
