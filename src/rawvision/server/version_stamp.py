"""Give an ONNX model an output that tells which model version answered.

A client of an ensemble sees the ensemble's own version in the response, not the composing model's.
To make a hot swap observable, the core model's graph gets one more output, ``model_version`` (INT64,
shape ``[batch, 1]``, every element the version number), computed from the batch size of the first
input. Both servers run it unchanged: NVIDIA's ONNX Runtime backend and the embedded runner. A core
model opts in by declaring the output in its config; the ensemble maps it to ``MODEL_VERSION``.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

VERSION_OUTPUT = "model_version"


def stamp_version(model_bytes: bytes, version: int, output: str = VERSION_OUTPUT) -> bytes:
    """Return ``model_bytes`` with an output ``output`` that holds ``version`` for every batch element.

    A model that already has the output is re-stamped (its old nodes are replaced).
    """
    if version < 1:
        raise ValueError(f"model versions start at 1, got {version}")
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    prefix = f"{output}__"
    kept = [node for node in graph.node if not node.name.startswith(prefix)]
    del graph.node[:]
    graph.node.extend(kept)
    kept_outputs = [value for value in graph.output if value.name != output]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    initializers = {value.name for value in graph.initializer}
    first_input = next(value.name for value in graph.input if value.name not in initializers)
    graph.node.extend([
        helper.make_node("Shape", [first_input], [f"{prefix}shape"], name=f"{prefix}shape", start=0, end=1),
        helper.make_node("Constant", [], [f"{prefix}one"], name=f"{prefix}one",
                         value=helper.make_tensor(f"{prefix}one_value", TensorProto.INT64, [1], [1])),
        helper.make_node("Concat", [f"{prefix}shape", f"{prefix}one"], [f"{prefix}dims"], name=f"{prefix}dims",
                         axis=0),
        helper.make_node("ConstantOfShape", [f"{prefix}dims"], [output], name=f"{prefix}fill",
                         value=helper.make_tensor(f"{prefix}fill_value", TensorProto.INT64, [1], [version])),
    ])
    graph.output.append(helper.make_tensor_value_info(output, TensorProto.INT64, ["batch", 1]))
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def stamped_version(model_bytes: bytes, output: str = VERSION_OUTPUT) -> int | None:
    """The version stamped into ``model_bytes``, or ``None`` when it has no such output."""
    model = onnx.load_from_string(model_bytes)
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and list(node.output) == [output]:
            return int(helper.get_attribute_value(node.attribute[0]).int64_data[0])
    return None
