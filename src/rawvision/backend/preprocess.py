"""Python-backend model: encoded image bytes → a preprocessed float32 batch, by a spec in the config."""

from __future__ import annotations

from typing import Any

import numpy as np

from rawvision.backend.adapters import Arrays, ModelArgs, decode_each, execute_batched
from rawvision.backend.step_parameters import decoding_parameters
from rawvision.transforms import PreprocessSpec, load_image, normalize


class TritonPythonModel:
    """Decode, resize/crop and normalise every image of every request; one response per request."""

    def initialize(self, args: dict[str, str]) -> None:
        """Read the spec and limits from the config parameters; fail here if they are inconsistent."""
        model = ModelArgs(args)
        self.timeout = model.execute_timeout
        parameters = decoding_parameters(PreprocessSpec, model.parameters, model.name)
        self.spec, self.limits = parameters.spec, parameters.limits
        (self.input_name,) = model.input_names
        (self.output_name,) = model.output_names
        dims = tuple(int(d) for d in model.config["output"][0]["dims"])
        if dims != self.spec.output_shape:
            raise ValueError(f"{model.name}: output dims {dims} differ from the spec's {self.spec.output_shape}")

    def execute(self, requests: list[Any]) -> list[Any]:
        """Preprocess all requests in one batch."""
        return execute_batched(requests, self._load, self._normalize, self.timeout)

    def _load(self, request: Any) -> Arrays:
        images = decode_each(request, self.input_name, lambda data: load_image(data, self.spec, self.limits))
        return {"pixels": np.stack(images)}

    def _normalize(self, arrays: Arrays) -> Arrays:
        return {self.output_name: normalize(arrays["pixels"], self.spec)}
