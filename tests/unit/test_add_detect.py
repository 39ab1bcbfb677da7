"""``add --task detect`` on tiny YOLOv8-, YOLOv5- and CenterFace-shaped ONNX files exported here, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawvision.detection.letterbox import LetterboxSpec
from rawvision.pipelines.add import add_detector
from rawvision.pipelines.inspect_model import ModelCheckError
from rawvision.pipelines.reader import read_pipeline
from rawvision.presets import YOLO_LETTERBOX
from rawvision.repository import model_config
from tests.detectors import LABELS, centerface_onnx, classifier_onnx, yolov5_onnx, yolov8_onnx


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("detectors")
    return {"yolov8": yolov8_onnx(folder), "yolov5": yolov5_onnx(folder), "centerface": centerface_onnx(folder),
            "classifier": classifier_onnx(folder)}


@pytest.mark.parametrize(("head", "output"), [("yolov8", ("output0", (6, 16))), ("yolov5", ("output", (16, 7)))])
def test_add_a_yolo_export_writes_four_models_that_read_back(models: dict[str, Path], tmp_path: Path, head: str,
                                                             output: tuple[str, tuple[int, ...]]) -> None:
    added = add_detector(tmp_path, "dots", models[head], YOLO_LETTERBOX, labels=LABELS)
    assert (added.version, added.models) == (1, ("dots_preprocess", "dots_onnx", "dots_postprocess", "dots"))
    assert (tmp_path / "dots_onnx" / "1" / "model.onnx").read_bytes() == models[head].read_bytes()
    pipeline = read_pipeline(tmp_path, "dots")
    detector = pipeline.detector
    assert detector == added.description
    assert (detector.head, detector.num_classes, pipeline.labels) == (head, 2, LABELS)
    assert (detector.spec.size, detector.spec.pad_value, detector.spec.scale) == ((128, 128), 114, 1 / 255)
    assert (detector.core.input.name, detector.core.input.dims) == ("images", (3, 128, 128))
    assert (detector.core.output.name, detector.core.output.dims) == output
    assert (detector.options.score_threshold, detector.options.iou_threshold) == (0.25, 0.45)
    ensemble = model_config(tmp_path, "dots")
    assert dict(ensemble.ensemble_scheduling.step[1].output_map) == {output[0]: "head_output"}
    assert [o.name for o in ensemble.output] == ["BOXES", "SCORES", "CLASS_IDS", "LABELS", "COUNT"]
    for step in ("dots_preprocess", "dots_onnx", "dots_postprocess"):
        config = model_config(tmp_path, step)
        assert config.dynamic_batching.default_queue_policy.max_queue_size > 0, step  # bounded
        assert config.model_warmup, step  # warm
        assert config.instance_group[0].count == (1 if step == "dots_postprocess" else 2), step  # tuned


def test_add_centerface_needs_its_input_size_and_answers_landmarks(models: dict[str, Path], tmp_path: Path) -> None:
    spec = LetterboxSpec(size=(32, 32), pad_value=0, scale=1.0)
    with pytest.raises(ModelCheckError, match=r"dynamic height or width.*--input-size"):
        add_detector(tmp_path, "cf", models["centerface"], spec)
    with pytest.raises(ModelCheckError, match=r"multiple of the stride 32"):
        add_detector(tmp_path, "cf", models["centerface"], spec, input_size=(100, 100))
    added = add_detector(tmp_path, "cf", models["centerface"], spec, input_size=(96, 128))
    detector = read_pipeline(tmp_path, "cf").detector
    assert detector == added.description and detector.head == "centerface" and detector.label_lines == ("0",)
    assert [(o.name, o.dims) for o in detector.core.outputs] == [
        ("537", (1, 24, 32)), ("538", (2, 24, 32)), ("539", (2, 24, 32)), ("540", (10, 24, 32))]
    assert (detector.options.score_threshold, detector.options.iou_threshold) == (0.5, 0.3)
    assert [o.name for o in model_config(tmp_path, "cf").output][-1] == "LANDMARKS"


def test_a_classifier_is_refused_naming_its_output_shapes(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ModelCheckError, match=r"not a detector.*logits \['batch', 5\]"):
        add_detector(tmp_path, "nope", models["classifier"], YOLO_LETTERBOX)
    assert not any(tmp_path.iterdir())


def test_a_wrong_label_count_is_refused(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ModelCheckError, match=r"3 labels but the yolov8 output 'output0' \[6, 16\] has 2 classes"):
        add_detector(tmp_path, "dots", models["yolov8"], YOLO_LETTERBOX, labels=[*LABELS, "green"])


def test_adding_again_writes_a_new_core_version(models: dict[str, Path], tmp_path: Path) -> None:
    add_detector(tmp_path, "dots", models["yolov8"], YOLO_LETTERBOX, labels=LABELS)
    again = add_detector(tmp_path, "dots", models["yolov8"], YOLO_LETTERBOX, labels=LABELS)
    assert (again.version, again.models) == (2, ("dots_onnx",))
    with pytest.raises(ModelCheckError, match="new name"):
        add_detector(tmp_path, "dots", models["yolov5"], YOLO_LETTERBOX, labels=LABELS)


def test_cli_adds_a_detector_and_refuses_classifier_options(models: dict[str, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from rawvision.cli.main import main

    labels = tmp_path / "names.txt"
    labels.write_text("red\nblue\n", encoding="utf-8")
    repository = tmp_path / "repo"
    base = ["--labels", str(labels), "--repository", str(repository), "--task", "detect"]
    assert main(["add", "dots", "--model", str(models["yolov8"]), "--preset", "yolo-letterbox", *base]) == 0
    out = capsys.readouterr().out
    assert "added dots: dots_preprocess → dots_onnx → dots_postprocess" in out
    assert "yolov8 head, 2 class(es), letterbox [128, 128]" in out
    assert main(["add", "bad", "--model", str(models["yolov8"]), "--preset", "imagenet-224", *base]) == 1
    assert "imagenet-224 is a classifier recipe" in capsys.readouterr().err
    assert main(["add", "bad", "--model", str(models["classifier"]), *base]) == 1
    assert "logits ['batch', 5]" in capsys.readouterr().err
    assert main(["add", "bad", "--model", str(models["yolov8"]), "--preset", "yolo-letterbox",
                 "--repository", str(repository)]) == 1
    assert "give --task detect" in capsys.readouterr().err
