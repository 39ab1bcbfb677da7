"""Python-backend runner for an ONNX model, for servers without the ONNX Runtime backend.

``configs/embedded.pbtxt`` points here while ``config.pbtxt`` keeps ``backend: "onnxruntime"`` for
NVIDIA's container; both read the same ``<version>/model.onnx`` (see :mod:`rawvision.backend.file_runner`).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import onnxruntime as ort

from rawvision.backend.adapters import Arrays
from rawvision.backend.file_runner import ModelFileRunner
from rawvision.backend.step_parameters import OnnxRunnerParameters


def session_options(threads: int) -> ort.SessionOptions:
    """CPU session options for a server that shares its cores: no busy-spinning, one inter-op thread.

    ONNX Runtime's pool threads spin while waiting for work by default; between requests, and beside
    the decoding processes, that burnt about as much CPU as the model itself (docs/perf-levers.md).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


class TritonPythonModel(ModelFileRunner):
    """Run ``<version>/<onnx_filename>`` with ONNX Runtime on the CPU over whole dynamic batches."""

    parameters_class = OnnxRunnerParameters

    def load(self, path: Path, threads: int) -> None:
        """Open the session once and check that its inputs are the config's."""
        options = session_options(threads)
        # Models whose inputs change shape per request (OCR) set cpu_mem_arena "false": ONNX Runtime's
        # arena and memory patterns are planned per shape and would keep growing with every new size.
        if not cast(OnnxRunnerParameters, self.parameters).cpu_mem_arena:
            options.enable_cpu_mem_arena = False
            options.enable_mem_pattern = False
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session_inputs = {i.name for i in self.session.get_inputs()}
        if set(self.inputs) != session_inputs:
            raise ValueError(f"{self.name}: config inputs {self.inputs} differ from {path}'s {session_inputs}")

    def run(self, feeds: Arrays) -> list[np.ndarray]:
        """One ONNX Runtime call."""
        return [np.asarray(v) for v in self.session.run(self.outputs, feeds)]
