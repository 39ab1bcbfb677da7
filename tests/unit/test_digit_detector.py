"""The ``mnist_detect`` network's export layout: Ultralytics YOLOv8 ``[B, 14, N]``, boxes inside the input."""

from __future__ import annotations

import numpy as np
import torch

from rawvision.export.digit_detector import (
    INPUT_SIZE,
    NUM_CELLS,
    NUM_CLASSES,
    STRIDE,
    DigitDetector,
    YoloV8Layout,
    loss,
    targets,
)


def test_the_exported_wrapper_answers_b_14_n_with_centres_inside_the_input() -> None:
    torch.manual_seed(0)
    wrapper = YoloV8Layout(DigitDetector()).eval()
    with torch.no_grad():
        output = wrapper(torch.rand(3, 3, INPUT_SIZE, INPUT_SIZE)).numpy()
    assert output.shape == (3, 4 + NUM_CLASSES, NUM_CELLS) == (3, 14, 1024)
    cx, cy, w, h = output[:, 0], output[:, 1], output[:, 2], output[:, 3]
    assert cx.min() >= 0 and cx.max() <= INPUT_SIZE and cy.min() >= 0 and cy.max() <= INPUT_SIZE
    assert w.min() > 0 and h.min() > 0
    assert output[:, 4:].min() >= 0 and output[:, 4:].max() <= 1
    # cell n is row n // 32, column n % 32: its centre lies in that cell
    cell = np.arange(NUM_CELLS)
    assert (np.floor(cx / STRIDE) == cell % (INPUT_SIZE // STRIDE)).all()
    assert (np.floor(cy / STRIDE) == cell // (INPUT_SIZE // STRIDE)).all()


class _Fixed(DigitDetector):
    """A detector whose raw maps are given, to check the wrapper's decoding against the training targets."""

    def __init__(self, maps: torch.Tensor) -> None:
        super().__init__(width=8)
        self.maps = maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps


def test_targets_decoded_by_the_wrapper_give_the_boxes_back() -> None:
    boxes = [np.array([[10, 20, 14, 41], [100.5, 60, 190, 150]], dtype=np.float32), np.zeros((0, 4), np.float32)]
    labels = [np.array([1, 7]), np.zeros(0, np.int64)]
    heat, regression, mask = targets(boxes, labels)
    assert mask.sum() == 2 and heat[0, 1].max() == 1.0 and heat[0, 7].max() == 1.0 and heat[1].max() == 0.0
    offsets, sizes = torch.from_numpy(regression[:, :2]), torch.from_numpy(regression[:, 2:])
    maps = torch.cat([torch.logit(torch.from_numpy(heat), eps=1e-6), torch.logit(offsets, eps=1e-6), sizes], 1)
    output = YoloV8Layout(_Fixed(maps))(torch.zeros(2, 3, 1, 1)).numpy()
    for box, label in zip(boxes[0], labels[0], strict=True):
        best = int(np.argmax(output[0, 4 + label]))
        cx, cy, w, h = output[0, :4, best]
        np.testing.assert_allclose([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], box, atol=1e-3)


def test_the_loss_is_lower_for_maps_that_match_their_targets() -> None:
    boxes = [np.array([[30, 30, 50, 60]], dtype=np.float32)]
    heat, regression, mask = (torch.from_numpy(a) for a in targets(boxes, [np.array([3])]))
    good = torch.cat([torch.logit(heat.clamp(1e-4, 1 - 1e-4)), torch.logit(regression[:, :2].clamp(1e-4, 1 - 1e-4)),
                      regression[:, 2:]], 1)
    bad = torch.zeros_like(good)
    assert sum(loss(good, heat, regression, mask)) < 0.1 * sum(loss(bad, heat, regression, mask))


def test_the_repository_serves_the_detector_with_the_letterbox_it_was_trained_for() -> None:
    from pathlib import Path

    from rawvision.export.mnist_detect import SERVED, served

    assert served(Path(__file__).resolve().parents[2] / "model_repository") == SERVED


def test_the_onnx_file_declares_a_yolov8_head_that_the_detection_core_recognises() -> None:
    import onnx

    from rawvision.detection.layouts import recognise_head
    from rawvision.export.mnist_detect import static_output
    from rawvision.export.onnx_export import export_onnx, max_difference

    torch.manual_seed(0)
    wrapper = YoloV8Layout(DigitDetector()).eval()
    inputs = np.random.default_rng(0).random((2, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    data = static_output(export_onnx(wrapper, inputs[:1], "images", "output0"))
    graph = onnx.load_from_string(data).graph
    shapes = {tensor.name: tuple(d.dim_param or d.dim_value for d in tensor.type.tensor_type.shape.dim)
              for tensor in graph.output}
    assert shapes == {"output0": ("batch", 14, 1024)}
    layout = recognise_head(shapes, (-1, 3, INPUT_SIZE, INPUT_SIZE))
    assert (layout.head, layout.num_classes, layout.outputs) == ("yolov8", 10, ("output0",))
    assert max_difference(wrapper, data, inputs) < 1e-4
