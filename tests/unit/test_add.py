"""``add_pipeline`` on small ONNX and TorchScript classifiers exported here, and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rawvision import presets
from rawvision.classify import load_labels
from rawvision.export.onnx_export import export_onnx
from rawvision.pipelines.add import add_pipeline
from rawvision.pipelines.inspect_model import ModelCheckError
from rawvision.pipelines.reader import read_pipeline
from rawvision.repository import model_config
from rawvision.transforms import PreprocessSpec
from tests.backend import load_model
from tests.fake_pb_utils import InferenceRequest

SPEC = PreprocessSpec(resize=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), color_mode="RGB")
FRUITS = ["apple", "banana", "cherry"]


def tiny_classifier(classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, classes)).eval()


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "fruit.onnx"
    path.write_bytes(export_onnx(tiny_classifier(), np.zeros((1, 3, 32, 32), np.float32), "input", "scores"))
    return path


@pytest.fixture(scope="module")
def torchscript_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("torchscript") / "fruit.pt"
    torch.jit.save(torch.jit.script(tiny_classifier()), str(path))  # type: ignore[no-untyped-call]
    return path


def test_add_onnx_writes_four_models_that_read_back(onnx_file: Path, tmp_path: Path) -> None:
    added = add_pipeline(tmp_path, "fruit", onnx_file, SPEC, labels=FRUITS, top_k=2)
    assert (added.name, added.version) == ("fruit", 1)
    assert added.models == ("fruit_preprocess", "fruit_onnx", "fruit_postprocess", "fruit")
    assert (tmp_path / "fruit_onnx" / "1" / "model.onnx").read_bytes() == onnx_file.read_bytes()
    pipeline = read_pipeline(tmp_path, "fruit")
    assert (pipeline.core_input, pipeline.core_output) == ("input", "scores")
    assert pipeline.labels == tuple(FRUITS) and pipeline.top_k == 2 and pipeline.spec == SPEC
    ensemble = model_config(tmp_path, "fruit")
    assert dict(ensemble.ensemble_scheduling.step[1].input_map) == {"input": "preprocessed_image"}


def test_add_torchscript_needs_the_input_shape(torchscript_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelCheckError, match="--input-shape"):
        add_pipeline(tmp_path, "fruit", torchscript_file, SPEC)
    added = add_pipeline(tmp_path, "fruit", torchscript_file, SPEC, input_shape=(3, 32, 32))
    assert added.models[1] == "fruit_torchscript"
    assert load_labels(tmp_path / "fruit_postprocess" / "labels.txt") == ("0", "1", "2")
    assert read_pipeline(tmp_path, "fruit").core_input == "preprocessed_image__0"


def test_preprocessing_that_does_not_fit_the_model_is_refused(onnx_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelCheckError, match=r"produces NCHW \[3, 224, 224\].*'input' takes \[3, 32, 32\]"):
        add_pipeline(tmp_path, "fruit", onnx_file, presets.IMAGENET_224)
    assert not any(tmp_path.iterdir())


def test_a_wrong_label_count_is_refused(onnx_file: Path, torchscript_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelCheckError, match=r"4 labels but the model output 'scores' has 3 classes"):
        add_pipeline(tmp_path, "fruit", onnx_file, SPEC, labels=[*FRUITS, "durian"])
    with pytest.raises(ModelCheckError, match=r"2 labels but the model output 'logits__0' has 3 classes"):
        add_pipeline(tmp_path, "fruit", torchscript_file, SPEC, labels=FRUITS[:2], input_shape=(3, 32, 32))


def test_a_model_input_that_is_not_the_spec_is_refused_for_torchscript(torchscript_file: Path,
                                                                       tmp_path: Path) -> None:
    with pytest.raises(ModelCheckError, match=r"produces NCHW \[3, 32, 32\].*takes \[3, 64, 64\]"):
        add_pipeline(tmp_path, "fruit", torchscript_file, SPEC, input_shape=(3, 64, 64))


def test_adding_an_existing_name_publishes_a_new_version(onnx_file: Path, tmp_path: Path) -> None:
    add_pipeline(tmp_path, "fruit", onnx_file, SPEC, labels=FRUITS)
    before = (tmp_path / "fruit" / "config.pbtxt").read_bytes()
    again = add_pipeline(tmp_path, "fruit", onnx_file, SPEC, labels=FRUITS)
    assert (again.version, again.models) == (2, ("fruit_onnx",))
    assert read_pipeline(tmp_path, "fruit").versions == (1, 2)
    assert read_pipeline(tmp_path, "fruit").model_file == tmp_path / "fruit_onnx" / "2" / "model.onnx"
    assert (tmp_path / "fruit" / "config.pbtxt").read_bytes() == before


def test_an_existing_name_with_another_model_shape_is_refused(onnx_file: Path, tmp_path: Path) -> None:
    add_pipeline(tmp_path, "fruit", onnx_file, SPEC)
    other = tmp_path / "other.onnx"
    other.write_bytes(export_onnx(tiny_classifier(5), np.zeros((1, 3, 32, 32), np.float32), "input", "scores"))
    with pytest.raises(ModelCheckError, match="new name"):
        add_pipeline(tmp_path, "fruit", other, SPEC)


def test_an_existing_name_with_other_preprocessing_or_labels_is_refused(onnx_file: Path, tmp_path: Path) -> None:
    add_pipeline(tmp_path, "fruit", onnx_file, SPEC, labels=FRUITS)
    with pytest.raises(ModelCheckError, match="preprocessing"):
        add_pipeline(tmp_path, "fruit", onnx_file, PreprocessSpec(resize=(32, 32), color_mode="RGB",
                                                                  mean=(0.0,) * 3, std=(1.0,) * 3))
    with pytest.raises(ModelCheckError, match="3 labels; a new version keeps both"):
        add_pipeline(tmp_path, "fruit", onnx_file, SPEC, labels=["a", "b", "c"])
    assert read_pipeline(tmp_path, "fruit").versions == (1,)


def test_a_broken_onnx_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelCheckError, match=r"broken\.onnx fails onnx\.checker"):
        add_pipeline(tmp_path / "repo", "fruit", broken, SPEC)


def test_the_added_steps_run_in_the_python_backend(onnx_file: Path, tmp_path: Path) -> None:
    from rawvision.pipelines.add import smoke_image

    add_pipeline(tmp_path, "fruit", onnx_file, SPEC, labels=FRUITS, top_k=2)
    pre, core, post = (load_model(tmp_path, name) for name in ("fruit_preprocess", "fruit_onnx", "fruit_postprocess"))
    image = InferenceRequest({"IMAGE": np.array([[smoke_image(SPEC)]], dtype=np.object_)})
    tensor = pre.execute([image])[0].output("preprocessed_image")
    logits = core.execute([InferenceRequest({"input": tensor})])[0].output("scores")
    labels = post.execute([InferenceRequest({"logits": logits})])[0].output("LABELS")
    assert labels.shape == (1, 2) and {label.decode() for label in labels[0]} <= set(FRUITS)


def test_cli_builds_the_spec_from_a_preset_or_explicit_options(onnx_file: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from rawvision.cli.main import main

    labels = tmp_path / "fruit.txt"
    labels.write_text("\n".join(FRUITS) + "\n", encoding="utf-8")
    explicit = ["--resize", "32,32", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--color-mode", "RGB"]
    repository = tmp_path / "repo"
    assert main(["add", "fruit", "--model", str(onnx_file), "--labels", str(labels), "--top-k", "2",
                 "--repository", str(repository), *explicit]) == 0
    assert "added fruit: fruit_preprocess → fruit_onnx → fruit_postprocess" in capsys.readouterr().out
    assert read_pipeline(repository, "fruit").spec == SPEC
    assert main(["add", "other", "--model", str(onnx_file), "--preset", "imagenet-224", "--resize", "32,32",
                 "--crop", "32,32", "--repository", str(repository)]) == 0
    assert read_pipeline(repository, "other").spec.crop == (32, 32)
    assert main(["add", "bad", "--model", str(onnx_file), "--preset", "mnist", "--repository", str(repository)]) == 1
    assert "error: bad: the preprocessing produces NCHW [1, 28, 28]" in capsys.readouterr().err
