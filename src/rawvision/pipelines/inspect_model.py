"""Read a core model's tensors (ONNX: from the graph; TorchScript: by running it) and run it once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rawvision.pipelines.description import FORMAT_SUFFIX, LOGITS, PREPROCESSED, CoreFormat, CoreSpec, Tensor

_ONNX_TYPES = {1: "TYPE_FP32", 7: "TYPE_INT64", 6: "TYPE_INT32", 10: "TYPE_FP16", 11: "TYPE_FP64"}


class ModelCheckError(ValueError):
    """The model file is broken, or it does not fit the pipeline; the message names both sides."""


def core_format(model_file: Path) -> CoreFormat:
    """``onnx`` for ``.onnx``, ``torchscript`` for ``.pt``."""
    try:
        return FORMAT_SUFFIX[model_file.suffix]
    except KeyError:
        raise ModelCheckError(f"{model_file}: expected a .onnx or a TorchScript .pt file") from None


def _onnx_tensor(value: Any) -> Tensor:
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
    elem = value.type.tensor_type.elem_type
    if elem not in _ONNX_TYPES:
        raise ModelCheckError(f"tensor {value.name!r} has ONNX element type {elem}, which rawvision does not serve")
    if not dims or dims[0] > 0:
        raise ModelCheckError(f"tensor {value.name!r} has shape {dims}: its first axis must be a dynamic "
                              "batch axis (export with dynamic_axes / dynamic_shapes on the batch)")
    return Tensor(value.name, tuple(dims[1:]), _ONNX_TYPES[elem])


def _onnx_graph(model_file: Path) -> tuple[Any, list[Any]]:
    """The checked graph and its one image input (weights listed as inputs are left out)."""
    try:
        import onnx
    except ImportError:
        raise ModelCheckError("reading an ONNX model needs the onnx package: pip install 'rawvision[add]'") from None

    try:
        model = onnx.load(str(model_file))
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ModelCheckError(f"{model_file} fails onnx.checker: {exc}") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelCheckError(f"{model_file} has inputs {[i.name for i in inputs]}; a pipeline takes one image")
    return model.graph, inputs


def onnx_core(model_file: Path) -> CoreSpec:
    """The graph's one input and its outputs (first = logits), after ``onnx.checker``."""
    graph, inputs = _onnx_graph(model_file)
    outputs = [_onnx_tensor(o) for o in graph.output]
    image = _onnx_tensor(inputs[0])
    return CoreSpec("onnx", image, outputs[0], extra_outputs=tuple(outputs[1:]))


def _raw_shape(value: Any) -> tuple[int | str, ...]:
    """An ONNX tensor's shape: sizes, and symbolic names (or ``?``) for dynamic axes."""
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in value.type.tensor_type.shape.dim)


@dataclass(frozen=True)
class OnnxSignature:
    """A model's image input and outputs as the graph declares them (dynamic axes by name)."""

    input: str
    input_shape: tuple[int | str, ...]
    input_type: str
    outputs: dict[str, tuple[int | str, ...]]
    output_types: dict[str, str]


def onnx_signature(model_file: Path) -> OnnxSignature:
    """The checked graph's image input and every output, with their declared shapes and types."""
    graph, (image,) = _onnx_graph(model_file)

    def type_of(value: Any) -> str:
        elem = value.type.tensor_type.elem_type
        if elem not in _ONNX_TYPES:
            raise ModelCheckError(f"tensor {value.name!r} has ONNX element type {elem}, which rawvision does not "
                                  "serve")
        return _ONNX_TYPES[elem]

    return OnnxSignature(image.name, _raw_shape(image), type_of(image),
                         {o.name: _raw_shape(o) for o in graph.output}, {o.name: type_of(o) for o in graph.output})


def torchscript_core(model_file: Path, input_shape: tuple[int, int, int] | None) -> CoreSpec:
    """TorchScript carries no signature: the input shape is given, the logits width is found by a run."""
    if input_shape is None:
        raise ModelCheckError(f"{model_file} is TorchScript, which carries no input signature: give "
                              "--input-shape C,H,W (input_shape=...)")
    logits = run_model(model_file, np.zeros((1, *input_shape), np.float32))
    if logits.ndim != 2:
        raise ModelCheckError(f"{model_file} returned shape {list(logits.shape)} for one image; a classifier "
                              "returns [batch, classes]")
    width = int(logits.shape[1])
    return CoreSpec("torchscript", Tensor(f"{PREPROCESSED}__0", input_shape), Tensor(f"{LOGITS}__0", (width,)))


def describe_core(model_file: Path, input_shape: tuple[int, int, int] | None = None) -> CoreSpec:
    """The core model's tensors, read from the file."""
    if core_format(model_file) == "onnx":
        return onnx_core(model_file)
    return torchscript_core(model_file, input_shape)


def run_onnx(model_file: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of one ONNX Runtime pass on ``batch`` (CPU), by name."""
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {session.get_inputs()[0].name: batch})
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}
    except Exception as exc:
        raise ModelCheckError(f"{model_file} failed on an input of shape {list(batch.shape)}: {exc}") from None


def run_model(model_file: Path, batch: np.ndarray) -> np.ndarray:
    """The first output of one forward pass on ``batch`` (ONNX Runtime or TorchScript, CPU)."""
    try:
        if core_format(model_file) == "onnx":
            return next(iter(run_onnx(model_file, batch).values()))
        import torch

        module = torch.jit.load(str(model_file), map_location="cpu").eval()  # type: ignore[no-untyped-call]
        with torch.inference_mode():
            result = module(torch.from_numpy(batch))
        first = result[0] if isinstance(result, (tuple, list)) else result
        return np.asarray(first.numpy())
    except ModelCheckError:
        raise
    except Exception as exc:
        raise ModelCheckError(f"{model_file} failed on an input of shape {list(batch.shape)}: {exc}") from None
