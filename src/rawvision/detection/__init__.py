"""Object and face detection as pure functions: letterbox, head decoding, NMS, padded outputs, drawing.

The Triton steps, the exporters, the benchmarks and the tests compose these; nothing here imports Triton
or PyTorch. The usual path of a batch::

    pixels, size = load_letterboxed(data, spec, limits)          # per image
    batch = normalize_letterboxed(np.stack(pixels), spec)        # → the model
    candidates = decode_yolov8(output, score_thresholds)         # vectorised over the batch
    selected = select(candidates, iou_thresholds, max_detections, batch_size)
    tensors = pad(restore(selected, original_sizes, spec), labels)
"""

from rawvision.detection.heads import HEADS, Candidates, decode_centerface, decode_yolov5, decode_yolov8
from rawvision.detection.layouts import HeadLayout, recognise_head
from rawvision.detection.letterbox import (
    Letterbox,
    LetterboxSpec,
    letterbox,
    letterbox_geometry,
    load_letterboxed,
    normalize_letterboxed,
    unletterbox,
    unletterbox_points,
)
from rawvision.detection.nms import MAX_CANDIDATES, Selected, batched_nms, nms, select
from rawvision.detection.options import DetectOptions, request_options
from rawvision.detection.outputs import Detections, pad, restore

__all__ = [
    "HEADS",
    "MAX_CANDIDATES",
    "Candidates",
    "DetectOptions",
    "Detections",
    "HeadLayout",
    "Letterbox",
    "LetterboxSpec",
    "Selected",
    "batched_nms",
    "decode_centerface",
    "decode_yolov5",
    "decode_yolov8",
    "letterbox",
    "letterbox_geometry",
    "load_letterboxed",
    "nms",
    "normalize_letterboxed",
    "pad",
    "recognise_head",
    "request_options",
    "restore",
    "select",
    "unletterbox",
    "unletterbox_points",
]
