"""The repository model: regeneration of the built-ins, the reader, the writer's image formats."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from tritonclient.grpc.model_config_pb2 import DataType, ModelInput

from rawvision.pipelines.builtin import builtin_descriptions, builtin_files, regenerate
from rawvision.pipelines.description import DetectorDescription
from rawvision.pipelines.reader import read_pipeline
from rawvision.pipelines.writer import embedded_config
from rawvision.repository import model_config, read_config

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
GENERATED = builtin_files(REPOSITORY)


@pytest.mark.parametrize("item", GENERATED, ids=lambda item: str(item.path))
def test_committed_builtin_file_is_what_the_writer_writes(item, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    written = dict.fromkeys(regenerate(REPOSITORY, tmp_path))
    target = tmp_path / item.path
    assert target in written
    assert (REPOSITORY / item.path).read_bytes() == target.read_bytes(), f"regenerate {item.path}"


def test_every_core_embedded_config_is_generated() -> None:
    generated = {item.path for item in GENERATED}
    committed = {p.relative_to(REPOSITORY) for p in REPOSITORY.glob("*/configs/embedded.pbtxt")}
    assert committed <= generated


@pytest.mark.parametrize("description", builtin_descriptions(REPOSITORY), ids=lambda d: d.name)
def test_reader_gives_back_the_description(description) -> None:  # type: ignore[no-untyped-def]
    pipeline = read_pipeline(REPOSITORY, description.name)
    assert pipeline.description == replace(description, summary="")
    assert (pipeline.ensemble, pipeline.preprocess_model, pipeline.core_model, pipeline.postprocess_model) == (
        description.name, *description.steps.as_tuple())
    assert pipeline.labels == description.label_lines
    if isinstance(description, DetectorDescription):
        assert pipeline.kind == "detector" and pipeline.letterbox == description.spec
        with pytest.raises(ValueError, match="is a detection pipeline, not a classifier"):
            _ = pipeline.top_k
    else:
        assert pipeline.kind == "classifier" and pipeline.top_k == description.top_k


@pytest.mark.parametrize("description", builtin_descriptions(REPOSITORY), ids=lambda d: d.name)
def test_reader_finds_the_newest_model_file(description) -> None:  # type: ignore[no-untyped-def]
    pipeline = read_pipeline(REPOSITORY, description.name)
    if not pipeline.versions:
        pytest.skip(f"{pipeline.core_model} is not built yet (make models)")
    assert pipeline.model_file.name == description.core.model_filename
    assert pipeline.model_file.parent.name == str(pipeline.versions[-1])


def tensors(config, kind: str) -> dict[str, tuple[str, list[int]]]:  # type: ignore[no-untyped-def]
    return {t.name: (DataType.Name(t.data_type), list(t.dims)) for t in getattr(config, kind)}


DETECTION_OUTPUTS = {"BOXES": ("TYPE_FP32", [-1, 4]), "SCORES": ("TYPE_FP32", [-1]),
                     "CLASS_IDS": ("TYPE_INT64", [-1]), "LABELS": ("TYPE_STRING", [-1]),
                     "COUNT": ("TYPE_INT32", [1])}


@pytest.mark.parametrize(("name", "head_map", "extra"), [
    ("faces", {"537": "heatmap", "538": "scale", "539": "offset", "540": "landmarks"},
     {"LANDMARKS": ("TYPE_FP32", [-1, 5, 2])}),
    ("mnist_detect", {"output0": "head_output"}, {}),
])
def test_detection_ensembles_follow_the_contract(name: str, head_map: dict[str, str],
                                                 extra: dict[str, tuple[str, list[int]]]) -> None:
    ensemble = model_config(REPOSITORY, name)
    assert tensors(ensemble, "input") == {"IMAGE": ("TYPE_STRING", [1])}
    assert tensors(ensemble, "output") == {**DETECTION_OUTPUTS, **extra}
    pre, core, post = ensemble.ensemble_scheduling.step
    assert (pre.model_name, core.model_name, post.model_name) == (f"{name}_preprocess", f"{name}_onnx",
                                                                   f"{name}_postprocess")
    assert dict(pre.output_map) == {"preprocessed_image": "preprocessed_image", "original_size": "original_size"}
    assert dict(core.output_map) == head_map and list(core.input_map.values()) == ["preprocessed_image"]
    assert set(post.input_map) == {*head_map.values(), "original_size"}
    preprocess = model_config(REPOSITORY, f"{name}_preprocess")
    assert tensors(preprocess, "output")["original_size"] == ("TYPE_INT32", [2])
    assert (REPOSITORY / f"{name}_preprocess" / "1" / "model.py").read_text().count(
        "from rawvision.backend.detect_preprocess import TritonPythonModel") == 1
    assert (REPOSITORY / f"{name}_postprocess" / "1" / "model.py").read_text().count(
        "from rawvision.backend.detect_postprocess import TritonPythonModel") == 1


def test_builtin_detectors_as_built() -> None:
    faces = read_pipeline(REPOSITORY, "faces").detector
    assert faces.head == "centerface" and faces.label_lines == ("face",)
    assert (faces.spec.size, faces.spec.pad_value, faces.spec.scale, faces.spec.channel_order) == ((640, 640), 0,
                                                                                                    1.0, "RGB")
    assert (faces.options.score_threshold, faces.options.iou_threshold, faces.options.max_detections) == (0.5, 0.3,
                                                                                                          100)
    assert faces.core.input.name == "input.1" and [o.dims for o in faces.core.outputs] == [
        (1, 160, 160), (2, 160, 160), (2, 160, 160), (10, 160, 160)]
    digits = read_pipeline(REPOSITORY, "mnist_detect").detector
    assert digits.head == "yolov8" and digits.label_lines == tuple("0123456789")
    assert (digits.spec.size, digits.spec.pad_value, digits.spec.scale) == ((256, 256), 0, 1 / 255)
    assert (digits.core.input.name, digits.core.output.name, digits.core.output.dims) == ("images", "output0",
                                                                                          (14, 1024))
    assert (digits.options.score_threshold, digits.options.iou_threshold) == (0.25, 0.45)


def test_reader_refuses_a_detector_whose_postprocessing_names_an_unknown_parameter(tmp_path: Path) -> None:
    shutil.copytree(REPOSITORY / "mnist_detect", tmp_path / "mnist_detect")
    for step in ("mnist_detect_preprocess", "mnist_detect_onnx", "mnist_detect_postprocess"):
        shutil.copytree(REPOSITORY / step, tmp_path / step)
    config = tmp_path / "mnist_detect_postprocess" / "config.pbtxt"
    config.write_text(config.read_text().replace('key: "max_detections"', 'key: "max_detectionz"'))
    with pytest.raises(ValueError, match=r"unknown config parameter\(s\) \['max_detectionz'\]"):
        read_pipeline(tmp_path, "mnist_detect")


def test_reader_refuses_a_non_classifier_ensemble() -> None:
    with pytest.raises(ValueError, match="three-step"):
        read_pipeline(REPOSITORY, "ocr")


@pytest.mark.parametrize("description", builtin_descriptions(REPOSITORY), ids=lambda d: d.name)
def test_core_image_inputs_declare_their_format(description) -> None:  # type: ignore[no-untyped-def]
    """NVIDIA's image_client.py refuses FORMAT_NONE; both configs of every core say NCHW."""
    for config_name in (None, "embedded"):
        config = model_config(REPOSITORY, description.steps.core, config_name)
        assert [ModelInput.Format.Name(i.format) for i in config.input] == ["FORMAT_NCHW"], config_name


def test_embedded_config_refuses_an_engine_without_runner() -> None:
    native = read_config(REPOSITORY / "mnist_onnx" / "config.pbtxt")
    native.backend = "tensorrt"
    with pytest.raises(ValueError, match="tensorrt"):
        embedded_config(native)
