"""Which detection head a model has, recognised from its ONNX output shapes, or a refusal naming them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rawvision.detection.heads import HEADS

Dim = int | str
"""An ONNX dimension: a size, or a symbolic name (or -1) for a dynamic one."""

_CENTERFACE_CHANNELS = (1, 2, 2, 10)


@dataclass(frozen=True)
class HeadLayout:
    """A detector's head and the names of its outputs, in the order its decoder takes them.

    Attributes:
        head: one of :data:`~rawvision.detection.heads.HEADS`.
        num_classes: classes the head scores (1 for CenterFace).
        outputs: output names; one for YOLO heads, ``(heatmap, scale, offset, landmarks)`` for CenterFace.

    """

    head: str
    num_classes: int
    outputs: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head {self.head!r} is not one of {HEADS}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes {self.num_classes} must be at least 1")
        expected = 4 if self.head == "centerface" else 1
        if len(self.outputs) != expected:
            raise ValueError(f"a {self.head} head has {expected} output(s), got {self.outputs}")


def _size(dim: Dim) -> int | None:
    """A static size, or ``None`` for a dynamic dimension."""
    return dim if isinstance(dim, int) and dim > 0 else None


def _yolo(name: str, shape: Sequence[Dim]) -> HeadLayout | None:
    """A YOLOv8 ``[B, 4+nc, N]`` or YOLOv5 ``[B, N, 5+nc]`` output, told apart by N being the larger."""
    if len(shape) != 3:
        return None
    first, second = _size(shape[1]), _size(shape[2])
    if first is not None and first >= 5 and (second is None or second > first):
        return HeadLayout("yolov8", first - 4, (name,))
    if second is not None and second >= 6 and (first is None or first > second):
        return HeadLayout("yolov5", second - 5, (name,))
    return None


def _centerface(outputs: Mapping[str, Sequence[Dim]]) -> HeadLayout | None:
    """Four ``[B, C, h, w]`` outputs with C = 1, 2, 2, 10 and one spatial size; the first 2-channel is scale."""
    shapes = list(outputs.items())
    if any(len(shape) != 4 for _, shape in shapes):
        return None
    by_channels = sorted(shapes, key=lambda item: _size(item[1][1]) or 0)
    if tuple(_size(shape[1]) for _, shape in by_channels) != _CENTERFACE_CHANNELS:
        return None
    if len({tuple(shape[2:]) for _, shape in shapes}) != 1:
        return None
    return HeadLayout("centerface", 1, tuple(name for name, _ in by_channels))


def recognise_head(outputs: Mapping[str, Sequence[Dim]], input_shape: Sequence[Dim]) -> HeadLayout:
    """The head of a detector with these ONNX ``outputs`` (name → shape, in the model's order).

    Raises:
        ValueError: the outputs fit no known head (a classifier's ``[B, classes]``, say); the message
            names every output's shape and the input's.

    """
    layout = None
    if len(outputs) == 1:
        name, shape = next(iter(outputs.items()))
        layout = _yolo(name, shape)
    elif len(outputs) == 4:
        layout = _centerface(outputs)
    if layout is None:
        found = ", ".join(f"{name} {list(shape)}" for name, shape in outputs.items()) or "none"
        raise ValueError(f"cannot recognise a detection head from the outputs {found} (input {list(input_shape)}); "
                         "expected one [B, 4+classes, N] output (Ultralytics YOLOv8 export), one "
                         "[B, N, 5+classes] (YOLOv5), or four [B, C, h, w] with C = 1, 2, 2, 10 (CenterFace)")
    return layout
