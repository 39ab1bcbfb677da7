"""Python-backend runner for a TorchScript model, for servers without the PyTorch (LibTorch) backend.

``configs/embedded.pbtxt`` points here while ``config.pbtxt`` keeps ``platform: "pytorch_libtorch"``
for NVIDIA's container; both read the same ``<version>/model.pt``. Tensors bind as the PyTorch backend
binds them: ``<name>__<index>`` names by index, otherwise in config order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rawvision.backend.adapters import Arrays
from rawvision.backend.file_runner import ModelFileRunner, tensor_order
from rawvision.backend.step_parameters import TorchScriptRunnerParameters


class TritonPythonModel(ModelFileRunner):
    """Run ``<version>/<torchscript_filename>`` with ``torch.jit.load`` on the CPU over whole batches."""

    parameters_class = TorchScriptRunnerParameters

    def load(self, path: Path, threads: int) -> None:
        """Load the scripted module once, in eval mode, with ``threads`` intra-op threads."""
        if threads:
            torch.set_num_threads(threads)
        self.module = torch.jit.load(str(path), map_location="cpu").eval()  # type: ignore[no-untyped-call]
        self.input_order = tensor_order(self.inputs)
        output_order = tensor_order(self.outputs)
        self.output_positions = [output_order.index(name) for name in self.outputs]

    def run(self, feeds: Arrays) -> list[np.ndarray]:
        """One forward call with the inputs as positional arguments."""
        with torch.inference_mode():
            result = self.module(*(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.input_order))
        values = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(values) != len(self.outputs):
            raise RuntimeError(f"{self.name}: module returned {len(values)} outputs, config declares {self.outputs}")
        return [values[position].numpy() for position in self.output_positions]
