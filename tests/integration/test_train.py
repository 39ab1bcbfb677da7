"""``rawvision train`` end to end on real photos of clothes (Fashion-MNIST), no server: fit, score, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from rawvision.cli import main as cli
from rawvision.export.datasets import load_fashion_mnist
from rawvision.repository import preprocess_spec
from rawvision.train.fit import FitConfig
from rawvision.train.run import INPUT_NAME, OUTPUT_NAME, SPEC, TrainOptions, TrainReport, train
from rawvision.transforms import preprocess

# Three Fashion-MNIST classes that look alike, so the score says something (chance is 1/3).
CLASSES = {0: "t-shirt", 2: "pullover", 6: "shirt"}
PER_CLASS = 30
# Measured 0.83 (15/18) with seed 0, and 0.78 and 0.83 with seeds 1 and 2; asserted with a margin.
MIN_ACCURACY = 0.65


def write_folder(root: Path, per_class: int, first: int = 0) -> Path:
    """Fashion-MNIST test images upscaled to 112 px, alternately PNG and JPEG, one subfolder per class."""
    split = load_fashion_mnist()
    for label, name in CLASSES.items():
        (root / name).mkdir(parents=True)
        for k, index in enumerate(np.flatnonzero(split.test_labels == label)[first:first + per_class]):
            image = Image.fromarray(split.test_images[index]).resize((112, 112), Image.Resampling.BICUBIC)
            image.save(root / name / f"{index}.{'png' if k % 2 == 0 else 'jpg'}")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_folder(tmp_path_factory.mktemp("clothes") / "data", PER_CLASS)
    good = next((root / "shirt").glob("*.png")).read_bytes()
    (root / "shirt" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "pullover" / "notes.txt").write_text("not an image\n")
    return root


@pytest.fixture(scope="module")
def report(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainReport:
    return train(TrainOptions(data=folder, out=tmp_path_factory.mktemp("run"), fit=FitConfig(epochs=30)))


def test_bad_files_are_skipped_and_listed(report: TrainReport, folder: Path) -> None:
    assert {item.path for item in report.skipped} == {folder / "shirt" / "truncated.png",
                                                      folder / "pullover" / "notes.txt"}
    assert all(item.reason for item in report.skipped)
    assert report.train_images + len(report.held_out) == 3 * PER_CLASS


def test_held_out_split_is_stratified_and_scored(report: TrainReport) -> None:
    assert report.classes == ("pullover", "shirt", "t-shirt")
    assert report.evaluation.support == (6, 6, 6)
    assert report.evaluation.accuracy >= MIN_ACCURACY
    assert report.evaluation.confusion.sum() == len(report.held_out)
    assert report.losses[-1] < report.losses[0]


def test_charts_are_written(report: TrainReport) -> None:
    for path in (report.confusion_png, report.probability_png):
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert min(image.size) >= 300
    saved = json.loads((report.onnx_path.parent / "report.json").read_text())
    assert saved["accuracy"] == report.evaluation.accuracy
    assert saved["confusion"] == report.evaluation.confusion.tolist()


def test_onnx_model_has_the_pipeline_tensors_and_reproduces_the_scores(report: TrainReport) -> None:
    model = onnx.load(report.onnx_path)
    onnx.checker.check_model(model)
    (tensor_in,), (tensor_out,) = model.graph.input, model.graph.output
    assert (tensor_in.name, tensor_out.name) == (INPUT_NAME, OUTPUT_NAME)
    dims = [d.dim_param or d.dim_value for d in tensor_in.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 224, 224]
    assert tensor_in.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert report.max_difference <= 1e-4
    # The server's preprocessing of the held-out files, all in one batch, gives the reported accuracy.
    batch = preprocess([sample.path.read_bytes() for sample in report.held_out], SPEC)
    session = ort.InferenceSession(str(report.onnx_path), providers=["CPUExecutionProvider"])
    (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: batch})
    labels = np.asarray([sample.label for sample in report.held_out])
    assert logits.shape == (len(labels), 3)
    assert float(np.mean(logits.argmax(axis=1) == labels)) == pytest.approx(report.evaluation.accuracy)


def test_cli_trains_the_last_block_on_a_validation_folder_and_stops_before_add(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "train", 4)
    val = write_folder(tmp_path / "val", 2, first=100)
    out = tmp_path / "run"
    code = cli.main(["train", "clothes", "--data", str(data), "--val", str(val), "--out", str(out),
                     "--epochs", "2", "--train-last-block", "--no-add"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["train_images"] == 12
    assert sorted(report["held_out"]) == sorted(str(p) for p in val.glob("*/*"))
    assert len(report["warnings"]) == 3  # four images per class is "very few"
    assert report["max_difference"] <= 1e-4
    assert Path(report["onnx"]) == out / "model.onnx"
    onnx.checker.check_model(onnx.load(out / "model.onnx"))


def test_cli_adds_the_trained_model_as_a_pipeline(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "data", 5)
    repository, out = tmp_path / "repository", tmp_path / "run"
    assert cli.main(["train", "clothes", "--data", str(data), "--out", str(out), "--epochs", "2",
                     "--repository", str(repository)]) == 0
    assert sorted(p.name for p in repository.iterdir()) == ["clothes", "clothes_onnx", "clothes_postprocess",
                                                           "clothes_preprocess"]
    assert (repository / "clothes_onnx" / "1" / "model.onnx").read_bytes() == (out / "model.onnx").read_bytes()
    assert (repository / "clothes_postprocess" / "labels.txt").read_text().split() == sorted(CLASSES.values())
    assert preprocess_spec(repository, "clothes_preprocess") == SPEC
