"""Python-backend model: a detector's head outputs → padded ``BOXES``, ``SCORES``, ``CLASS_IDS``, ``LABELS``, ``COUNT``.

The head is decoded over the whole dynamic batch, class-aware NMS runs per image, boxes (and
CenterFace's landmarks) go back to the original image's pixels, clipped, and every image's rows are
padded to the batch's largest count; ``COUNT`` says how many are real. A request may set
``score_threshold``, ``iou_threshold`` and ``max_detections`` in its KServe v2 ``parameters``; a bad
value fails that request alone (``INVALID_ARG``, naming the parameter).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from rawvision.backend.adapters import Arrays, ModelArgs, execute_batched, input_array
from rawvision.backend.step_parameters import HEAD_INPUTS, DetectPostprocessParameters
from rawvision.classify import load_labels
from rawvision.detection.heads import Candidates, decode_centerface, decode_yolov5, decode_yolov8
from rawvision.detection.nms import select
from rawvision.detection.options import request_options
from rawvision.detection.outputs import pad, restore
from rawvision.errors import InputError

ORIGINAL_SIZE = "original_size"


def request_parameters(request: Any) -> Mapping[str, object]:
    """A request's KServe v2 ``parameters`` (the Python backend hands them over as a JSON string)."""
    reader = getattr(request, "parameters", None)
    text = reader() if reader is not None else ""
    if not text:
        return {}
    values = json.loads(text) if isinstance(text, str) else text
    return values if isinstance(values, dict) else {}


class TritonPythonModel:
    """Decode, NMS, unletterbox and pad over every request of a batch at once."""

    def initialize(self, args: dict[str, str]) -> None:
        """Read the head, default options, labels and letterbox; check the tensors against the head."""
        model = ModelArgs(args)
        self.timeout = model.execute_timeout
        parameters = DetectPostprocessParameters.parse(model.parameters, model.name)
        self.head, self.defaults, self.spec = parameters.step.head, parameters.defaults, parameters.spec
        self.labels = load_labels(model.model_dir / parameters.step.label_filename)
        self.head_inputs = HEAD_INPUTS[self.head]
        if sorted(model.input_names) != sorted([*self.head_inputs, ORIGINAL_SIZE]):
            raise ValueError(f"{model.name}: a {self.head} head takes {[*self.head_inputs, ORIGINAL_SIZE]}; "
                             f"the config has {model.input_names}")
        self.outputs = model.output_names
        expected = ["BOXES", "CLASS_IDS", "COUNT", "LABELS", "SCORES"] + (["LANDMARKS"] * (self.head == "centerface"))
        if sorted(self.outputs) != sorted(expected):
            raise ValueError(f"{model.name}: outputs must be {sorted(expected)}; got {self.outputs}")

    def execute(self, requests: list[Any]) -> list[Any]:
        """Detect over all requests in one batch."""
        return execute_batched(requests, self._parse, self._detect, self.timeout)

    def _parse(self, request: Any) -> Arrays:
        arrays = {name: input_array(request, name) for name in (*self.head_inputs, ORIGINAL_SIZE)}
        sizes = arrays[ORIGINAL_SIZE]
        if sizes.ndim != 2 or sizes.shape[1] != 2 or (sizes < 1).any():
            raise InputError(f"{ORIGINAL_SIZE} must hold a positive (height, width) per image, got "
                             f"{sizes.reshape(-1, sizes.shape[-1] if sizes.ndim else 1)[:4].tolist()}")
        count = len(sizes)
        options = request_options(request_parameters(request), self.defaults)
        arrays["score_threshold"] = np.full(count, options.score_threshold, np.float32)
        arrays["iou_threshold"] = np.full(count, options.iou_threshold, np.float32)
        arrays["max_detections"] = np.full(count, options.max_detections, np.int64)
        return arrays

    def _candidates(self, arrays: Arrays) -> Candidates:
        scores = arrays["score_threshold"]
        if self.head == "yolov8":
            return decode_yolov8(arrays["head_output"], scores)
        if self.head == "yolov5":
            return decode_yolov5(arrays["head_output"], scores)
        return decode_centerface(arrays["heatmap"], arrays["scale"], arrays["offset"], arrays["landmarks"], scores)

    def _detect(self, arrays: Arrays) -> Arrays:
        sizes = arrays[ORIGINAL_SIZE].astype(np.int64)
        selected = select(self._candidates(arrays), arrays["iou_threshold"], arrays["max_detections"], len(sizes))
        padded = pad(restore(selected, sizes, self.spec), self.labels)
        return {name: padded[name] for name in self.outputs}
