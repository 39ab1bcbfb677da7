"""Python-backend runner for an ONNX model, for servers without the ONNX Runtime backend.

The embedded server (the ``nvidia-pytriton`` build) has only the Python backend, so a core model's
``configs/embedded.pbtxt`` points here while its ``config.pbtxt`` keeps ``backend: "onnxruntime"`` for
NVIDIA's container. Both read the same ``<version>/model.onnx``.
"""

from __future__ import annotations

from typing import Any

import onnxruntime as ort

from rawvision.triton.adapters import Arrays, ModelArgs, execute_batched, input_array


class TritonPythonModel:
    """Run ``<version>/<onnx_filename>`` with ONNX Runtime on the CPU over whole dynamic batches."""

    def initialize(self, args: dict[str, str]) -> None:
        """Open the session once; threads come from the ``intra_op_threads`` parameter (0 = ORT's choice)."""
        model = ModelArgs(args)
        self.timeout = model.execute_timeout
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(model.parameters.get("intra_op_threads", "0"))
        # Models whose inputs change shape per request (OCR) set cpu_mem_arena "false": ONNX Runtime's
        # arena and memory patterns are planned per shape and would keep growing with every new size.
        if model.parameters.get("cpu_mem_arena", "true").lower() == "false":
            options.enable_cpu_mem_arena = False
            options.enable_mem_pattern = False
        path = model.version_file(model.parameters.get("onnx_filename", "model.onnx"))
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = model.input_names
        self.outputs = model.output_names
        session_inputs = {i.name for i in self.session.get_inputs()}
        if set(self.inputs) != session_inputs:
            raise ValueError(f"{model.name}: config inputs {self.inputs} differ from {path}'s {session_inputs}")
        self.dtypes = {name: model.output_dtype(name) for name in self.outputs}

    def execute(self, requests: list[Any]) -> list[Any]:
        """One ONNX Runtime call for all requests."""
        return execute_batched(requests, self._feeds, self._run, self.timeout)

    def _feeds(self, request: Any) -> Arrays:
        return {name: input_array(request, name) for name in self.inputs}

    def _run(self, feeds: Arrays) -> Arrays:
        results = self.session.run(self.outputs, feeds)
        return {name: value.astype(self.dtypes[name], copy=False)
                for name, value in zip(self.outputs, results, strict=True)}
