"""Python-backend model: encoded image bytes → letterboxed float32 batch and each image's original size."""

from __future__ import annotations

from typing import Any

import numpy as np

from rawvision.backend.adapters import Arrays, ModelArgs, decode_each, execute_batched
from rawvision.backend.step_parameters import decoding_parameters
from rawvision.detection.letterbox import LetterboxSpec, load_letterboxed, normalize_letterboxed

PREPROCESSED = "preprocessed_image"
ORIGINAL_SIZE = "original_size"


class TritonPythonModel:
    """Decode (limits, EXIF), letterbox and normalise every image of every request; one response per request."""

    def initialize(self, args: dict[str, str]) -> None:
        """Read the letterbox and limits from the config parameters; fail here if they disagree with the outputs."""
        model = ModelArgs(args)
        self.timeout = model.execute_timeout
        parameters = decoding_parameters(LetterboxSpec, model.parameters, model.name)
        self.spec, self.limits = parameters.spec, parameters.limits
        (self.input_name,) = model.input_names
        if sorted(model.output_names) != [ORIGINAL_SIZE, PREPROCESSED]:
            raise ValueError(f"{model.name}: outputs must be {PREPROCESSED} and {ORIGINAL_SIZE}, "
                             f"got {model.output_names}")
        dims = next(tuple(int(d) for d in o["dims"]) for o in model.config["output"] if o["name"] == PREPROCESSED)
        if dims != self.spec.output_shape:
            raise ValueError(f"{model.name}: output dims {dims} differ from the letterbox's {self.spec.output_shape}")

    def execute(self, requests: list[Any]) -> list[Any]:
        """Letterbox all requests in one batch."""
        return execute_batched(requests, self._load, self._normalize, self.timeout)

    def _load(self, request: Any) -> Arrays:
        loaded = decode_each(request, self.input_name, lambda data: load_letterboxed(data, self.spec, self.limits))
        images, sizes = zip(*loaded, strict=True)
        return {"pixels": np.stack(images), "sizes": np.asarray(sizes, dtype=np.int32)}

    def _normalize(self, arrays: Arrays) -> Arrays:
        return {PREPROCESSED: normalize_letterboxed(arrays["pixels"], self.spec), ORIGINAL_SIZE: arrays["sizes"]}
