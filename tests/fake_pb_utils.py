"""A small typed stand-in for ``triton_python_backend_utils``, to drive the model.py adapters directly.

It offers just what the adapters use, with the same names and behaviour as the real module.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

_NUMPY = {
    "TYPE_BOOL": np.bool_, "TYPE_UINT8": np.uint8, "TYPE_INT32": np.int32, "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16, "TYPE_FP32": np.float32, "TYPE_FP64": np.float64, "TYPE_STRING": np.object_,
}


class TritonError(Exception):
    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6

    def __init__(self, message: str, code: int = INTERNAL) -> None:
        super().__init__(message)
        self._message = message
        self._code = code

    def message(self) -> str:
        return self._message

    def code(self) -> int:
        return self._code


class Tensor:
    def __init__(self, name: str, array: np.ndarray) -> None:
        self._name = name
        self._array = np.asarray(array)

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array


class InferenceRequest:
    """What Triton hands ``execute``: named input tensors, and the request's parameters as a JSON string."""

    def __init__(self, inputs: dict[str, np.ndarray], parameters: dict[str, Any] | None = None) -> None:
        self._inputs = [Tensor(name, value) for name, value in inputs.items()]
        self._parameters = json.dumps(parameters or {})

    def inputs(self) -> list[Tensor]:
        return self._inputs

    def parameters(self) -> str:
        return self._parameters


class InferenceResponse:
    def __init__(self, output_tensors: list[Tensor], error: TritonError | None = None) -> None:
        self._outputs = output_tensors
        self._error = error

    def output_tensors(self) -> list[Tensor]:
        return self._outputs

    def has_error(self) -> bool:
        return self._error is not None

    def error(self) -> TritonError | None:
        return self._error

    def output(self, name: str) -> np.ndarray:
        for tensor in self._outputs:
            if tensor.name() == name:
                return tensor.as_numpy()
        raise KeyError(name)


def get_input_tensor_by_name(request: InferenceRequest, name: str) -> Tensor | None:
    for tensor in request.inputs():
        if tensor.name() == name:
            return tensor
    return None


def get_output_config_by_name(model_config: dict[str, Any], name: str) -> dict[str, Any] | None:
    for output in model_config.get("output", []):
        if output["name"] == name:
            return dict(output)
    return None


def triton_string_to_numpy(triton_type_string: str) -> Any:
    return _NUMPY[triton_type_string]
