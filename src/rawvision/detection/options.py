"""A detector's per-request options: defaults from its config, overridden by KServe v2 request parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import cast

from rawvision.errors import InputError

_RANGES: dict[str, tuple[float, float]] = {
    "score_threshold": (0.0, 1.0),
    "iou_threshold": (0.0, 1.0),
    "max_detections": (1, 1000),
}


def _range_error(name: str, value: object) -> str | None:
    """Why ``value`` cannot be option ``name``, or ``None`` when it can."""
    low, high = _RANGES[name]
    integral = name == "max_detections"
    kind = "an integer" if integral else "a number"
    allowed = f"expected {kind} in [{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name}={value!r} is not a number; {allowed}"
    if not math.isfinite(value) or not low <= value <= high or (integral and value != int(value)):
        return f"{name}={value!r} is out of range; {allowed}"
    return None


@dataclass(frozen=True)
class DetectOptions:
    """Thresholds and the detection cap of one request.

    Attributes:
        score_threshold: candidates with a score strictly above are kept, in [0, 1].
        iou_threshold: NMS drops a box whose IoU with a better one of its class is strictly above, in [0, 1].
        max_detections: most detections answered per image, in [1, 1000].

    """

    score_threshold: float
    iou_threshold: float
    max_detections: int

    def __post_init__(self) -> None:
        for field in fields(self):
            error = _range_error(field.name, getattr(self, field.name))
            if error:
                raise ValueError(error)


def _number(name: str, value: object) -> float | int:
    """A JSON number or numeric string as a number; :class:`InputError` naming ``name`` otherwise."""
    number: object = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = value
    error = _range_error(name, number)
    if error:
        raise InputError(f"request parameter {error}")
    value = cast(float, number)
    return int(value) if name == "max_detections" else float(value)


def request_options(raw: Mapping[str, object], defaults: DetectOptions) -> DetectOptions:
    """``defaults`` overridden by a request's parameters; other parameters are not this step's business."""
    def read(name: str, default: float) -> float:
        return _number(name, raw[name]) if name in raw else default

    return DetectOptions(score_threshold=read("score_threshold", defaults.score_threshold),
                         iou_threshold=read("iou_threshold", defaults.iou_threshold),
                         max_detections=int(read("max_detections", defaults.max_detections)))
