"""What the core-model runners share: load one model file from the version folder, run it over a batch.

The embedded server (the ``nvidia-pytriton`` build) has only the Python backend, so a core model's
``configs/embedded.pbtxt`` points at a runner while its ``config.pbtxt`` keeps the native backend
(``onnxruntime``, ``pytorch_libtorch``) for NVIDIA's container. Both read the same file in
``<version>/``. A runner subclass says only how to open the file and how to run it on named arrays;
this base reads the config, checks it, and answers every request of a dynamic batch from one call.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from rawvision.backend.adapters import Arrays, ModelArgs, execute_batched, input_array
from rawvision.backend.step_parameters import RunnerParameters, parse_parameters

_INDEXED = re.compile(r"^.+__(\d+)$")


def tensor_order(names: list[str]) -> list[str]:
    """Names in positional order: by their ``__<index>`` suffix if all have one, else as configured.

    Triton's PyTorch backend binds ``<name>__<index>`` tensors to positional arguments and outputs by
    index, and falls back to config order otherwise; the TorchScript runner follows the same rule.
    """
    matches = [_INDEXED.match(name) for name in names]
    if not names or not all(matches):
        return list(names)
    indexed = {int(m.group(1)): name for m, name in zip(matches, names, strict=True) if m}
    if sorted(indexed) != list(range(len(names))):
        raise ValueError(f"tensor indices of {names} must be 0..{len(names) - 1}, each once")
    return [indexed[i] for i in range(len(names))]


class ModelFileRunner(ABC):
    """A Python-backend model that runs ``<version>/<file>`` over whole dynamic batches.

    Subclasses set ``parameters_class`` (their typed config parameters) and implement :meth:`load`
    and :meth:`run`. Thread count comes from the ``intra_op_threads`` parameter (0 = library default).
    """

    parameters_class: type[RunnerParameters] = RunnerParameters

    def initialize(self, args: dict[str, str]) -> None:
        """Open the model file once; raise here if it is missing or disagrees with the config."""
        model = ModelArgs(args)
        self.name = model.name
        self.parameters = parse_parameters(self.parameters_class, model.parameters, model.name)
        self.timeout = model.execute_timeout
        threads = self.parameters.intra_op_threads
        if threads < 0:
            raise ValueError(f"{model.name}: intra_op_threads must be >= 0, got {threads}")
        self.inputs = model.input_names
        self.outputs = model.output_names
        self.dtypes = {name: model.output_dtype(name) for name in self.outputs}
        path = model.version_file(self.parameters.model_filename)
        if not path.is_file():
            raise FileNotFoundError(f"{model.name}: no model file {path}; run the export first")
        self.load(path, threads)

    @abstractmethod
    def load(self, path: Path, threads: int) -> None:
        """Open the model at ``path`` with ``threads`` intra-op threads; check its inputs if it can."""

    @abstractmethod
    def run(self, feeds: Arrays) -> list[np.ndarray]:
        """The model's outputs, in the order of ``self.outputs``, for the named input arrays."""

    def execute(self, requests: list[Any]) -> list[Any]:
        """One model call for all requests of the batch; one response per request."""
        return execute_batched(requests, self._feeds, self._compute, self.timeout)

    def _feeds(self, request: Any) -> Arrays:
        return {name: input_array(request, name) for name in self.inputs}

    def _compute(self, feeds: Arrays) -> Arrays:
        results = self.run(feeds)
        if len(results) != len(self.outputs):
            raise RuntimeError(f"{self.name}: model gave {len(results)} outputs, config declares {self.outputs}")
        return {name: np.asarray(value).astype(self.dtypes[name], copy=False)
                for name, value in zip(self.outputs, results, strict=True)}
