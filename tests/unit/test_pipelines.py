"""The repository model: regeneration of the built-ins, the reader, the writer's image formats."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from tritonclient.grpc.model_config_pb2 import ModelInput

from rawvision.pipelines.builtin import builtin_descriptions, builtin_files, regenerate
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
    assert pipeline.labels == description.label_lines and pipeline.top_k == description.top_k
    assert pipeline.model_file.name == description.core.model_filename
    assert pipeline.model_file.parent.name == str(pipeline.versions[-1])


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
