"""Trace a PyTorch module to TorchScript and measure the reloaded file against eager PyTorch."""

from __future__ import annotations

import io
import logging

import numpy as np
import torch
from torch import nn

LOGGER = logging.getLogger(__name__)


def traced_torchscript(model: nn.Module, batch: np.ndarray) -> tuple[bytes, float]:
    """Trace ``model`` on one input, save it, reload the saved bytes and compare them on the whole ``batch``.

    Tracing keeps ``forward``'s argument names (Triton's PyTorch backend matches config inputs to them)
    and works for every network here; the check runs a batch size other than the traced one, so a model
    that baked in its batch axis shows a difference (or fails) instead of passing.

    Returns:
        The serialised TorchScript module and the largest absolute difference from eager PyTorch.

    """
    if len(batch) < 2:
        raise ValueError(f"the check needs at least two inputs (a batch size other than the traced one), "
                         f"got {len(batch)}")
    model.eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.from_numpy(batch[:1]))  # type: ignore[no-untyped-call]
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        reloaded = torch.jit.load(io.BytesIO(buffer.getvalue()), map_location="cpu")  # type: ignore[no-untyped-call]
        ours = reloaded(torch.from_numpy(batch)).numpy()
        reference = model(torch.from_numpy(batch)).numpy()
    difference = float(np.abs(ours - reference).max())
    LOGGER.info("TorchScript vs eager PyTorch on %d inputs: max |diff| = %.2e", len(batch), difference)
    return buffer.getvalue(), difference
