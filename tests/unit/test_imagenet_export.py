"""ImageNet exports: labels, the weights' sanity check, ONNX, TorchScript and TensorRT (where possible)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from google.protobuf import text_format

from rawvision.classify import load_labels
from rawvision.cli import main as cli
from rawvision.export import imagenet
from rawvision.export.engines import EngineUnavailable, core_config, core_model_from, tensorrt_module
from rawvision.export.exporter import export
from rawvision.export.family import AccuracyError, Candidate, Options, Request
from rawvision.export.registry import IMAGENET
from rawvision.repository import ModelConfig, model_config, preprocess_spec, read_config
from tests.conftest import REPOSITORY

ONNX_PATH = REPOSITORY / "imagenet_onnx" / "1" / "model.onnx"


def tensorrt_missing() -> str | None:
    try:
        tensorrt_module()
    except EngineUnavailable as exc:
        return str(exc)
    return None


TENSORRT_MISSING = tensorrt_missing()


def test_label_files_are_the_imagenet_classes_in_index_order() -> None:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    labels = load_labels(REPOSITORY / "imagenet_postprocess" / "labels.txt")
    assert labels == tuple(_IMAGENET_CATEGORIES)
    assert (labels[281], labels[504], labels[967]) == ("tabby", "coffee mug", "espresso")
    core_labels = REPOSITORY / "imagenet_onnx" / model_config(REPOSITORY, "imagenet_onnx").output[0].label_filename
    assert core_labels.read_bytes() == (REPOSITORY / "imagenet_postprocess" / "labels.txt").read_bytes()


def test_onnx_export_has_opset_17_a_dynamic_batch_and_passes_the_checker() -> None:
    model = onnx.load(str(ONNX_PATH))
    onnx.checker.check_model(model)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value


def test_the_sanity_check_refuses_swish_activations() -> None:
    """The package's set_swish() swaps ReLU6 for Swish; these weights then misread the photos."""
    labels = load_labels(REPOSITORY / "imagenet_postprocess" / "labels.txt")
    names, batch = imagenet.photo_batch(preprocess_spec(REPOSITORY, "imagenet_preprocess"))
    model = imagenet.efficientnet_lite0()
    with torch.no_grad():
        assert not imagenet.check_predictions(model(torch.from_numpy(batch)).numpy(), names, labels).failures()
        model.network.set_swish(memory_efficient=False)
        failures = imagenet.check_predictions(model(torch.from_numpy(batch)).numpy(), names, labels).failures()
    assert failures and "espresso" in failures[0]


def swish_network(request: Request) -> Candidate:
    """EfficientNet-Lite0 with the activations its weights were not trained with, scored on the photos."""
    model = imagenet.efficientnet_lite0()
    model.network.set_swish(memory_efficient=False)
    return imagenet.scored_on_photos(model, request.repository)


def test_the_export_refuses_a_network_that_misreads_the_photos(tmp_path: Path) -> None:
    with pytest.raises(AccuracyError, match="espresso") as caught:
        export(replace(IMAGENET, build=swish_network), "torchscript", 1, REPOSITORY, out=tmp_path)
    assert caught.value.minimum == 1.0 and caught.value.accuracy < 1.0
    assert not (tmp_path / "imagenet_torchscript").exists()


def test_torchscript_export_matches_onnx_and_writes_a_libtorch_config(tmp_path: Path) -> None:
    report = export("imagenet", "torchscript", 1, REPOSITORY, out=tmp_path)
    assert report.paths[0] == tmp_path / "imagenet_torchscript" / "1" / "model.pt"
    assert report.max_difference < 1e-5 and report.accuracy == 1.0
    assert any(note.startswith("coffee: espresso") for note in report.notes)
    config = read_config(tmp_path / "imagenet_torchscript" / "config.pbtxt")
    onnx_config = model_config(REPOSITORY, "imagenet_onnx")
    assert config.platform == "pytorch_libtorch" and config.default_model_filename == "model.pt"
    assert list(config.input) == list(onnx_config.input) and list(config.output) == list(onnx_config.output)
    assert config.max_batch_size == onnx_config.max_batch_size
    assert (tmp_path / "imagenet_torchscript" / "labels.txt").read_text().splitlines()[967] == "espresso"

    module = torch.jit.load(str(report.paths[0]))
    # Triton's PyTorch backend matches config inputs to forward's schema argument names
    assert [a.name for a in module.forward.schema.arguments][1:] == ["preprocessed_image"]
    _, batch = imagenet.photo_batch(preprocess_spec(REPOSITORY, "imagenet_preprocess"))
    session = ort.InferenceSession(str(ONNX_PATH), providers=["CPUExecutionProvider"])
    (expected,) = session.run(["logits"], {"preprocessed_image": batch})
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(batch)).numpy(), expected, atol=1e-4)


def test_tensorrt_config_is_a_plan_with_the_onnx_tensors() -> None:
    core = core_model_from(REPOSITORY, "imagenet_onnx", "imagenet_tensorrt")
    text = text_format.MessageToString(core_config(core, "tensorrt_plan", "model.plan"))
    config = text_format.Parse(text, ModelConfig())
    onnx_config = model_config(REPOSITORY, "imagenet_onnx")
    assert config.platform == "tensorrt_plan" and config.default_model_filename == "model.plan"
    assert list(config.input) == list(onnx_config.input) and list(config.output) == list(onnx_config.output)
    assert config.output[0].label_filename == "labels.txt"


@pytest.mark.skipif(TENSORRT_MISSING is None, reason="TensorRT and a GPU are present")
def test_tensorrt_export_stops_with_a_clear_message_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["export", "imagenet", "--format", "tensorrt", "--repository", str(REPOSITORY),
                     "--out", str(tmp_path / "out"), "--fp16"])
    assert code == 2
    message = capsys.readouterr().err
    assert "TensorRT export needs" in message and ("tensorrt" in message or "GPU" in message)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(TENSORRT_MISSING is not None, reason=TENSORRT_MISSING or "")
@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_plan_builds_and_agrees_with_onnx(tmp_path: Path, fp16: bool) -> None:
    trt = tensorrt_module()
    report = export("imagenet", "tensorrt", 1, REPOSITORY, out=tmp_path, options=Options(fp16=fp16))
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(report.paths[0].read_bytes())
    assert engine is not None and engine.num_optimization_profiles == 1
    assert read_config(tmp_path / "imagenet_tensorrt" / "config.pbtxt").platform == "tensorrt_plan"
