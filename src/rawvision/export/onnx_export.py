"""Export a PyTorch module to ONNX with a dynamic batch axis, then check it against PyTorch."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

LOGGER = logging.getLogger(__name__)


def export_onnx(model: nn.Module, sample: np.ndarray, input_name: str, output_name: str,
                opset: int = 17) -> bytes:
    """Serialise ``model`` to ONNX bytes: named tensors, dynamic batch axis, checked by ``onnx.checker``."""
    model.eval()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        torch.onnx.export(
            model, (torch.from_numpy(sample),), path,
            input_names=[input_name], output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=opset, dynamo=False,
        )
        data = path.read_bytes()
    onnx.checker.check_model(onnx.load_from_string(data))
    return data


def max_difference(model: nn.Module, onnx_bytes: bytes, batch: np.ndarray) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch outputs on ``batch``."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {session.get_inputs()[0].name: batch})
    with torch.no_grad():
        reference = model(torch.from_numpy(batch)).numpy()
    return float(np.abs(np.asarray(ours) - reference).max())


def measured_onnx(model: nn.Module, batch: np.ndarray, input_name: str, output_name: str) -> tuple[bytes, float]:
    """:func:`export_onnx` on the first input, and ONNX Runtime's largest difference from PyTorch on ``batch``."""
    data = export_onnx(model, batch[:1], input_name, output_name)
    difference = max_difference(model, data, batch)
    LOGGER.info("ONNX Runtime vs PyTorch on %d inputs: max |diff| = %.2e", len(batch), difference)
    return data, difference


def checked_onnx(model: nn.Module, batch: np.ndarray, input_name: str, output_name: str,
                 tolerance: float = 1e-4) -> tuple[bytes, float]:
    """:func:`measured_onnx`, then refuse it unless ONNX Runtime matches PyTorch within ``tolerance``.

    Returns:
        The ONNX bytes and the largest absolute difference measured on ``batch``.

    """
    data, difference = measured_onnx(model, batch, input_name, output_name)
    if difference > tolerance:
        raise RuntimeError(f"ONNX Runtime differs from PyTorch by {difference:.2e} > {tolerance:.0e}")
    return data, difference
