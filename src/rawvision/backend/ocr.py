"""Python-backend OCR steps: ``ocr_preprocess`` (bytes → detector input) and ``ocr_lines`` (map → text).

Both handle each request on its own: a detector input has its own height and width per image, so two
images cannot share one tensor without padding, and each image yields its own number of lines. The
ensemble ``ocr`` is therefore non-batching (``max_batch_size: 0``, one image per request).

``ocr_lines`` calls the recogniser ``ocr_recognize`` itself (BLS) instead of being followed by it in the
ensemble, because that part of the pipeline needs control flow that an ensemble's static step graph
cannot express: an image without text must skip recognition (a zero-row tensor is no valid model input),
and many lines must be split into batches of at most the recogniser's ``max_batch_size``, grouped by
width so that short words are not padded to the longest line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from rawvision.backend.adapters import Arrays, ModelArgs, execute_batched, input_array
from rawvision.backend.step_parameters import OcrLinesParameters, decoding_parameters
from rawvision.errors import DependencyError, InputError
from rawvision.ocr.crop import RecognizeSpec
from rawvision.ocr.ctc import load_characters
from rawvision.ocr.detect import DetectSpec
from rawvision.ocr.pipeline import EMPTY, OcrResult, crops_for, keep_confident, prepare, recognize_crops


class OcrPreprocess:
    """``IMAGE`` (one encoded image) → ``detection_input`` [1, 3, h, w] and ``original_image`` [H, W, 3]."""

    def initialize(self, args: dict[str, str]) -> None:
        """Read the detection spec and decode limits from the config parameters."""
        model = ModelArgs(args)
        self.timeout = model.execute_timeout
        parameters = decoding_parameters(DetectSpec, model.parameters, model.name)
        self.spec, self.limits = parameters.spec, parameters.limits
        (self.input_name,) = model.input_names

    def execute(self, requests: list[Any]) -> list[Any]:
        """Each request alone (see the module docstring)."""
        return [execute_batched([request], self._load, self._prepare, self.timeout)[0] for request in requests]

    def _load(self, request: Any) -> Arrays:
        payloads = input_array(request, self.input_name).reshape(-1)
        if payloads.dtype != np.object_:
            raise InputError(f"{self.input_name} must be BYTES (one encoded image), got {payloads.dtype}")
        if len(payloads) != 1:
            raise InputError(f"{self.input_name} must hold exactly one image per request, got {len(payloads)}")
        try:
            detector_input, rgb = prepare(payloads[0], self.spec, self.limits)
        except InputError as exc:
            raise InputError(f"{self.input_name}[0]: {exc}") from None
        return {"detection_input": detector_input, "original_image": rgb[None]}

    def _prepare(self, arrays: Arrays) -> Arrays:
        return {"detection_input": arrays["detection_input"], "original_image": arrays["original_image"][0]}


class OcrLines:
    """Probability map + image → boxes, crops, recognition through ``ocr_recognize`` (BLS), CTC text."""

    def initialize(self, args: dict[str, str]) -> None:
        """Read specs, the recogniser's name and batch size, and the character dictionary."""
        model = ModelArgs(args)
        parameters = OcrLinesParameters.parse(model.parameters, model.name)
        params = parameters.recognition
        self.timeout = model.execute_timeout
        self.detect = parameters.detect
        self.recognize = RecognizeSpec(height=params.recognition_height, min_width=params.recognition_min_width)
        self.recognizer = params.recognizer
        self.recognizer_version = params.recognizer_version
        self.batch_size = params.recognition_batch_size
        self.min_score = params.min_score
        self.characters = load_characters(model.model_dir / params.dictionary_filename)

    def execute(self, requests: list[Any]) -> list[Any]:
        """Each request alone (see the module docstring)."""
        return [execute_batched([request], self._inputs, self._read, self.timeout)[0] for request in requests]

    def _inputs(self, request: Any) -> Arrays:
        prob = input_array(request, "probability_map")
        rgb = input_array(request, "original_image")
        if prob.ndim != 4 or prob.shape[:2] != (1, 1) or rgb.ndim != 3:
            raise InputError(f"expected probability_map [1, 1, h, w] and original_image [H, W, 3], "
                             f"got {list(prob.shape)} and {list(rgb.shape)}")
        return {"probability_map": prob, "original_image": rgb[None]}

    def _read(self, arrays: Arrays) -> Arrays:
        boxes, crops = crops_for(arrays["original_image"][0], arrays["probability_map"], self.detect, self.recognize)
        result: OcrResult = EMPTY
        if crops:
            texts, scores = recognize_crops(crops, self.recognize, self.batch_size, self._recognize, self.characters)
            result = keep_confident(boxes, texts, scores, self.min_score)
        return {"TEXTS": np.array([t.encode() for t in result.texts], dtype=np.object_),
                "BOXES": result.boxes, "SCORES": result.scores}

    def _recognize(self, batch: np.ndarray) -> np.ndarray:
        request = pb_utils.InferenceRequest(model_name=self.recognizer, model_version=self.recognizer_version,
                                            requested_output_names=["character_probs"],
                                            inputs=[pb_utils.Tensor("recognition_input", batch)])
        response = request.exec()
        if response.has_error():
            raise DependencyError(f"recognition model {self.recognizer} failed: {response.error().message()}")
        output = pb_utils.get_output_tensor_by_name(response, "character_probs")
        return np.asarray(output.as_numpy())
