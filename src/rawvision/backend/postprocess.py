"""Python-backend model: logits → top-k ``LABELS``, ``SCORES`` and ``CLASS_IDS``."""

from __future__ import annotations

from typing import Any

from rawvision.backend.adapters import Arrays, ModelArgs, execute_batched, input_array
from rawvision.backend.step_parameters import PostprocessParameters, parse_parameters
from rawvision.classify import classify, load_labels


class TritonPythonModel:
    """Softmax, top-k and the label map over every request of a batch at once."""

    def initialize(self, args: dict[str, str]) -> None:
        """Read ``top_k``, ``label_filename`` (beside config.pbtxt) and ``apply_softmax``."""
        model = ModelArgs(args)
        self.timeout = model.execute_timeout
        parameters = parse_parameters(PostprocessParameters, model.parameters, model.name)
        self.k = parameters.top_k
        self.labels = load_labels(model.model_dir / parameters.label_filename)
        self.apply_softmax = parameters.apply_softmax
        (self.input_name,) = model.input_names
        self.outputs = model.output_names
        if sorted(self.outputs) != ["CLASS_IDS", "LABELS", "SCORES"]:
            raise ValueError(f"{model.name}: outputs must be LABELS, SCORES, CLASS_IDS; got {self.outputs}")

    def execute(self, requests: list[Any]) -> list[Any]:
        """Classify all requests in one batch."""
        return execute_batched(requests, self._logits, self._classify, self.timeout)

    def _logits(self, request: Any) -> Arrays:
        return {"logits": input_array(request, self.input_name)}

    def _classify(self, arrays: Arrays) -> Arrays:
        result = classify(arrays["logits"], self.labels, self.k, self.apply_softmax)
        return {"LABELS": result.labels, "SCORES": result.scores, "CLASS_IDS": result.class_ids}
