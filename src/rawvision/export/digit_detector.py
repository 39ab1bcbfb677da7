"""The ``mnist_detect`` network: a small CenterNet-style digit detector, and its YOLOv8-layout export wrapper.

Training sees :class:`DigitDetector`'s raw maps (class heat logits, centre offsets, log sizes) on a stride-8
grid; :class:`YoloV8Layout` decodes them inside the exported graph into Ultralytics' ``[B, 4 + 10, N]``
(cx, cy, w, h in input pixels, then 10 sigmoid class scores, no objectness), so the served file reads
like any ``yolov8n.onnx``. Two digits never share a cell: their squares do not overlap and are at least
28 px × (256 / 640) ≈ 11 px a side in the input, wider than the 8 px stride.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

NUM_CLASSES = 10
STRIDE = 8
INPUT_SIZE = 256
GRID = INPUT_SIZE // STRIDE
NUM_CELLS = GRID * GRID  # N of the exported [B, 14, N]
PRIOR = 0.01  # initial class probability, so the focal loss starts calm (RetinaNet's bias prior)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DigitDetector(nn.Module):
    """Strided 3×3 conv + BN + ReLU backbone to stride 32, a two-step top-down (FPN) merge back to stride 8, a head.

    ``forward``: ``[B, 3, 256, 256]`` (RGB / 255) → ``[B, 14, 32, 32]``: 10 class logits, 2 centre-offset
    logits (sigmoid → position inside the cell), 2 log sizes (exp × stride → width, height).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(_conv(3, w // 2, 2), _conv(w // 2, w, 2), _conv(w, w))  # stride 4
        self.down8 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.down16 = nn.Sequential(_conv(2 * w, 3 * w, 2), _conv(3 * w, 3 * w))
        self.down32 = nn.Sequential(_conv(3 * w, 4 * w, 2), _conv(4 * w, 4 * w))
        self.lateral32 = nn.Conv2d(4 * w, 3 * w, 1)
        self.merge16 = _conv(3 * w, 3 * w)
        self.lateral16 = nn.Conv2d(3 * w, 2 * w, 1)
        self.merge8 = _conv(2 * w, 2 * w)
        self.head = nn.Sequential(_conv(2 * w, 2 * w), nn.Conv2d(2 * w, NUM_CLASSES + 4, 1))
        last = self.head[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.constant_(last.bias[:NUM_CLASSES], -math.log((1 - PRIOR) / PRIOR))
        nn.init.zeros_(last.bias[NUM_CLASSES:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw maps ``[B, 14, H/8, W/8]``."""
        c8 = self.down8(self.stem(x))
        c16 = self.down16(c8)
        c32 = self.down32(c16)
        up = nn.functional.interpolate
        p16 = self.merge16(c16 + up(self.lateral32(c32), scale_factor=2.0, mode="nearest"))
        p8 = self.merge8(c8 + up(self.lateral16(p16), scale_factor=2.0, mode="nearest"))
        maps: torch.Tensor = self.head(p8)
        return maps


class YoloV8Layout(nn.Module):
    """Wraps a :class:`DigitDetector`: raw maps → ``[B, 4 + 10, N]`` in Ultralytics' YOLOv8 export layout."""

    def __init__(self, detector: DigitDetector) -> None:
        super().__init__()
        self.detector = detector
        ys, xs = torch.meshgrid(torch.arange(GRID, dtype=torch.float32), torch.arange(GRID, dtype=torch.float32),
                                indexing="ij")
        self.cells: torch.Tensor
        self.register_buffer("cells", torch.stack([xs, ys]).reshape(1, 2, NUM_CELLS), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, 256, 256]`` → ``[B, 14, 1024]``: cx, cy, w, h (input pixels), 10 class scores."""
        # a constant target shape, so ONNX shape inference gives output0 the static [batch, 14, 1024]
        maps = self.detector(images).reshape(-1, NUM_CLASSES + 4, NUM_CELLS)
        centres = (self.cells + torch.sigmoid(maps[:, NUM_CLASSES:NUM_CLASSES + 2])) * STRIDE
        sizes = torch.exp(maps[:, NUM_CLASSES + 2:].clamp(max=6.0)) * STRIDE
        return torch.cat([centres, sizes, torch.sigmoid(maps[:, :NUM_CLASSES])], 1)


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def targets(boxes: list[np.ndarray], labels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-image boxes (xyxy, input pixels) and digits → heat ``[B,10,G,G]``, regression ``[B,4,G,G]``, mask.

    Heat is CenterNet's Gaussian splat around each centre cell (σ from the box size); regression holds the
    centre's offset inside its cell (0..1) and log(w / stride), log(h / stride); the mask marks centre cells.
    """
    batch = len(boxes)
    heat = np.zeros((batch, NUM_CLASSES, GRID, GRID), dtype=np.float32)
    regression = np.zeros((batch, 4, GRID, GRID), dtype=np.float32)
    mask = np.zeros((batch, GRID, GRID), dtype=np.float32)
    grid = np.arange(GRID, dtype=np.float32)
    for i, (image_boxes, image_labels) in enumerate(zip(boxes, labels, strict=True)):
        for (x1, y1, x2, y2), label in zip(image_boxes, image_labels, strict=True):
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
            gx, gy = min(int(cx), GRID - 1), min(int(cy), GRID - 1)
            sigma_x, sigma_y = max(w / STRIDE / 6, 0.35), max(h / STRIDE / 6, 0.35)
            splat = np.exp(-((grid[None, :] - gx) ** 2) / (2 * sigma_x ** 2)
                           - ((grid[:, None] - gy) ** 2) / (2 * sigma_y ** 2))
            np.maximum(heat[i, label], splat, out=heat[i, label])
            regression[i, :, gy, gx] = (cx - gx, cy - gy, math.log(w / STRIDE), math.log(h / STRIDE))
            mask[i, gy, gx] = 1.0
    return heat, regression, mask


def loss(maps: torch.Tensor, heat: torch.Tensor, regression: torch.Tensor,
         mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CenterNet's focal loss on the class heat, and L1 on offsets and log sizes at centre cells (per centre)."""
    logits = maps[:, :NUM_CLASSES]
    probability = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = heat.eq(1.0).float()
    centres = positive.sum().clamp(min=1.0)
    focal = -(positive * (1 - probability) ** 2 * torch.log(probability)
              + (1 - positive) * (1 - heat) ** 4 * probability ** 2 * torch.log(1 - probability)).sum() / centres
    offsets = torch.sigmoid(maps[:, NUM_CLASSES:NUM_CLASSES + 2])
    predicted = torch.cat([offsets, maps[:, NUM_CLASSES + 2:]], 1)
    weight = mask.unsqueeze(1)
    l1 = (torch.abs(predicted - regression) * weight).sum() / mask.sum().clamp(min=1.0)
    return focal, l1
