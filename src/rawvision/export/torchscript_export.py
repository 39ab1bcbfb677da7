"""Save a trained PyTorch module with ``torch.jit.script``, check the saved file against eager PyTorch."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rawvision.repository import write_version

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class TorchScriptReport:
    """What a TorchScript export wrote and how well the model does on held-out data."""

    path: Path
    test_accuracy: float
    test_images: int
    max_difference: float


def script_bytes(model: nn.Module) -> bytes:
    """The eval-mode module compiled by ``torch.jit.script`` and serialised as ``torch.jit.save`` writes it."""
    scripted = torch.jit.script(model.eval())
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    return buffer.getvalue()


def checked_torchscript(model: nn.Module, batch: np.ndarray, tolerance: float = 1e-5) -> tuple[bytes, float]:
    """:func:`script_bytes`, reloaded with ``torch.jit.load`` and compared with eager PyTorch on ``batch``.

    Raises:
        RuntimeError: if the reloaded module differs from the eager one by more than ``tolerance``.

    """
    data = script_bytes(model)
    loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")  # type: ignore[no-untyped-call]
    inputs = torch.from_numpy(batch)
    with torch.no_grad():
        difference = float((loaded(inputs) - model(inputs)).abs().max())
    LOGGER.info("TorchScript vs eager PyTorch on %d inputs: max |diff| = %.2e", len(batch), difference)
    if difference > tolerance:
        raise RuntimeError(f"TorchScript differs from eager PyTorch by {difference:.2e} > {tolerance:.0e}")
    return data, difference


def write_checked(model: nn.Module, test_inputs: np.ndarray, test_accuracy: float, model_dir: Path,
                  version: int, min_accuracy: float) -> TorchScriptReport:
    """Refuse a model below ``min_accuracy``; else script, check and write ``<model_dir>/<version>/model.pt``."""
    if test_accuracy < min_accuracy:
        raise RuntimeError(f"held-out accuracy {test_accuracy:.4f} is below {min_accuracy}; not exported")
    data, difference = checked_torchscript(model, test_inputs[:64])
    path = write_version(model_dir, version, "model.pt", data)
    return TorchScriptReport(path, test_accuracy, len(test_inputs), difference)
