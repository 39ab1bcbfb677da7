"""``add``: a user's classifier or detector file → a hardened raw-bytes ensemble in a model repository.

A new NAME gets its four model folders; an existing NAME gets a new version of its core model (the
zero-downtime path of :func:`rawvision.server.control.publish` when a server is given). A detector's
head is recognised from its ONNX output shapes (:func:`rawvision.detection.layouts.recognise_head`).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast

import numpy as np
from PIL import Image

from rawvision.backend.step_parameters import HeadName
from rawvision.detection.layouts import recognise_head
from rawvision.detection.letterbox import LetterboxSpec, load_letterboxed, normalize_letterboxed
from rawvision.detection.options import DetectOptions
from rawvision.imaging import DEFAULT_LIMITS, DecodeLimits
from rawvision.pipelines.description import (
    ClassifierDescription,
    CoreSpec,
    Description,
    DetectorDescription,
    StepNames,
    Tensor,
)
from rawvision.pipelines.inspect_model import (
    ModelCheckError,
    OnnxSignature,
    core_format,
    describe_core,
    onnx_signature,
    run_model,
    run_onnx,
)
from rawvision.pipelines.reader import read_pipeline
from rawvision.pipelines.writer import pipeline_files, write_files
from rawvision.repository import next_version
from rawvision.server.control import ModelControl, publish, write_model_file
from rawvision.transforms import PreprocessSpec, preprocess


@dataclass(frozen=True)
class AddedPipeline:
    """What ``add`` did: the pipeline, the core's new version, the models and files it wrote."""

    name: str
    version: int
    models: tuple[str, ...]
    paths: tuple[Path, ...]
    description: Description


DETECT_DEFAULTS: dict[str, DetectOptions] = {
    "yolov8": DetectOptions(score_threshold=0.25, iou_threshold=0.45, max_detections=100),
    "yolov5": DetectOptions(score_threshold=0.25, iou_threshold=0.45, max_detections=100),
    "centerface": DetectOptions(score_threshold=0.5, iou_threshold=0.3, max_detections=100),
}
"""Default options per head: Ultralytics' predict defaults, CenterFace's own."""


def smoke_image(spec: PreprocessSpec | LetterboxSpec) -> bytes:
    """A generated PNG (a colour gradient) larger than the spec's input, to run the model once."""
    size = spec.size if isinstance(spec, LetterboxSpec) else spec.image_size
    height, width = (max(s, 64) * 2 for s in size)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def check_model(model_file: Path, description: ClassifierDescription) -> None:
    """One inference on a generated image through the pipeline's preprocessing; the logits must fit."""
    batch = preprocess([smoke_image(description.spec)], description.spec, description.limits)
    logits = run_model(model_file, batch)
    expected = (1, description.core.num_classes)
    if logits.shape != expected:
        raise ModelCheckError(f"{model_file} answered one image with shape {list(logits.shape)}; its output "
                              f"{description.core.output.name!r} declares {list(expected)}")
    if not np.all(np.isfinite(logits)):
        raise ModelCheckError(f"{model_file} answered the smoke image with non-finite logits")


def describe(name: str, model_file: Path, spec: PreprocessSpec, *, labels: Sequence[str] | None = None,
             top_k: int = 5, input_shape: tuple[int, int, int] | None = None,
             limits: DecodeLimits = DEFAULT_LIMITS) -> ClassifierDescription:
    """The description of a new pipeline around ``model_file``; mismatches raise, naming both sides."""
    core = describe_core(model_file, input_shape)
    steps = StepNames.for_pipeline(name, core.format)
    try:
        description = ClassifierDescription(name, spec, core, steps, limits,
                                          tuple(labels) if labels is not None else None,
                                          min(top_k, core.num_classes))
    except ValueError as exc:
        raise ModelCheckError(str(exc)) from None
    check_model(model_file, description)
    return description


def add_pipeline(repository: Path, name: str, model_file: Path, spec: PreprocessSpec, *,
                 labels: Sequence[str] | None = None, top_k: int = 5,
                 input_shape: tuple[int, int, int] | None = None,
                 limits: DecodeLimits = DEFAULT_LIMITS, control: ModelControl | None = None) -> AddedPipeline:
    """Write pipeline ``name`` around ``model_file`` into ``repository``, or a new core version if it exists.

    With ``control`` (a running server), the new pipeline is loaded, or the new version published.
    """
    repository, model_file = Path(repository), Path(model_file)
    if not model_file.is_file():
        raise ModelCheckError(f"no model file {model_file}")
    description = describe(name, model_file, spec, labels=labels, top_k=top_k, input_shape=input_shape,
                           limits=limits)
    return _write(repository, description, model_file, control)


def _image_axes(signature: OnnxSignature) -> tuple[str, int, tuple[int | str, int | str]]:
    """Layout, channels and (height, width) of a detector's image input; refuses anything but 4-D images."""
    shape = signature.input_shape
    if len(shape) != 4:
        raise ModelCheckError(f"input {signature.input!r} has shape {list(shape)}; a detector takes a batch of "
                              "images [batch, 3, height, width]")
    if isinstance(shape[0], int) and shape[0] > 0:
        raise ModelCheckError(f"input {signature.input!r} has shape {list(shape)}: its first axis must be a dynamic "
                              "batch axis (Ultralytics: export(format='onnx', dynamic=True); torch.onnx.export: "
                              "dynamic_axes on the batch)")
    if shape[1] == 3:
        return "NCHW", 3, (shape[2], shape[3])
    if shape[3] == 3:
        return "NHWC", 3, (shape[1], shape[2])
    raise ModelCheckError(f"input {signature.input!r} has shape {list(shape)}; expected 3 channels (NCHW or NHWC)")


def _input_size(signature: OnnxSignature, declared: tuple[int | str, int | str],
                input_size: tuple[int, int] | None) -> tuple[int, int]:
    static = tuple(d for d in declared if isinstance(d, int) and d > 0)
    if len(static) == 2:
        if input_size is not None and tuple(input_size) != static:
            raise ModelCheckError(f"input {signature.input!r} is fixed at {list(static)} (height, width); "
                                  f"--input-size asks for {list(input_size)}")
        return (int(static[0]), int(static[1]))
    if input_size is None:
        raise ModelCheckError(f"input {signature.input!r} has dynamic height or width {list(declared)}: give "
                              "--input-size H,W (input_size=...), a multiple of the model's stride")
    return (int(input_size[0]), int(input_size[1]))


def describe_detector(name: str, model_file: Path, spec: LetterboxSpec, *, labels: Sequence[str] | None = None,
                      input_size: tuple[int, int] | None = None, options: DetectOptions | None = None,
                      limits: DecodeLimits = DEFAULT_LIMITS) -> DetectorDescription:
    """The description of a new detection pipeline around an ONNX detector; its head is recognised.

    The letterbox's size is the model's input size (from the graph, or ``input_size`` when it is dynamic);
    the rest of ``spec`` (padding, scale, channels) is the recipe the model was trained with.
    """
    if core_format(model_file) != "onnx":
        raise ModelCheckError(f"{model_file}: detectors are added as ONNX files (TorchScript carries no output "
                              "shapes to recognise a head from)")
    signature = onnx_signature(model_file)
    layout, _, declared = _image_axes(signature)
    size = _input_size(signature, declared, input_size)
    try:
        spec = replace(spec, size=size, layout=cast(Literal["NCHW", "NHWC"], layout))
    except ValueError as exc:
        raise ModelCheckError(f"{model_file}: {exc}") from None
    probe = np.zeros((1, *spec.output_shape), np.float32)
    produced = run_onnx(model_file, probe)
    shapes: dict[str, tuple[int | str, ...]] = {out: ("batch", *(int(d) for d in produced[out].shape[1:]))
                                                for out in signature.outputs}
    try:
        head = recognise_head(shapes, ("batch", *spec.output_shape))
    except ValueError as exc:
        declared_shapes = ", ".join(f"{out} {list(shape)}" for out, shape in signature.outputs.items())
        raise ModelCheckError(f"{model_file} is not a detector rawvision knows (declared outputs: {declared_shapes})"
                              f": {exc}") from None
    outputs = tuple(Tensor(out, tuple(int(d) for d in shapes[out][1:]), signature.output_types[out])
                    for out in head.outputs)
    core = CoreSpec("onnx", Tensor(signature.input, spec.output_shape, signature.input_type), outputs[0], outputs[1:])
    head_name = cast(HeadName, head.head)
    try:
        description = DetectorDescription(name, spec, core, StepNames.for_pipeline(name, "onnx"), head_name, limits,
                                          tuple(labels) if labels is not None else None,
                                          options or DETECT_DEFAULTS[head_name])
    except ValueError as exc:
        raise ModelCheckError(str(exc)) from None
    check_detector_model(model_file, description)
    return description


def check_detector_model(model_file: Path, description: DetectorDescription) -> None:
    """One inference on a generated image through the letterbox; every head output must fit and be finite."""
    pixels, _ = load_letterboxed(smoke_image(description.spec), description.spec, description.limits)
    produced = run_onnx(model_file, normalize_letterboxed(pixels[None], description.spec))
    for tensor in description.core.outputs:
        value = produced[tensor.name]
        if value.shape != (1, *tensor.dims):
            raise ModelCheckError(f"{model_file} answered one image with {tensor.name!r} of shape "
                                  f"{list(value.shape)}; expected {[1, *tensor.dims]}")
        if not np.all(np.isfinite(value)):
            raise ModelCheckError(f"{model_file} answered the smoke image with non-finite {tensor.name!r}")


def add_detector(repository: Path, name: str, model_file: Path, spec: LetterboxSpec, *,
                 labels: Sequence[str] | None = None, input_size: tuple[int, int] | None = None,
                 options: DetectOptions | None = None, limits: DecodeLimits = DEFAULT_LIMITS,
                 control: ModelControl | None = None) -> AddedPipeline:
    """Write detection pipeline ``name`` around an ONNX detector, or a new core version if it exists."""
    repository, model_file = Path(repository), Path(model_file)
    if not model_file.is_file():
        raise ModelCheckError(f"no model file {model_file}")
    description = describe_detector(name, model_file, spec, labels=labels, input_size=input_size, options=options,
                                    limits=limits)
    return _write(repository, description, model_file, control)


def _write(repository: Path, description: Description, model_file: Path,
           control: ModelControl | None) -> AddedPipeline:
    """The four folders of a new pipeline (loaded on ``control``), or a new core version of an existing one."""
    name = description.name
    if (repository / name / "config.pbtxt").is_file():
        return _new_version(repository, description, model_file, control)
    paths = write_files(repository, pipeline_files(description))
    paths.append(write_model_file(repository, description.steps.core, 1,
                                  _staged(model_file, description.core.model_filename)))
    if control is not None:
        for model in (*description.steps.as_tuple(), name):
            control.load(model)
    return AddedPipeline(name, 1, (*description.steps.as_tuple(), name), tuple(paths), description)


def _same_core(existing: CoreSpec, new: CoreSpec) -> bool:
    return replace(existing, label_filename=None) == replace(new, label_filename=None)


def _new_version(repository: Path, description: Description, model_file: Path,
                 control: ModelControl | None) -> AddedPipeline:
    """An existing pipeline: the new file becomes the core's next version, if its tensors are the same."""
    existing = read_pipeline(repository, description.name)
    if type(existing.description) is not type(description):
        raise ModelCheckError(f"{description.name} exists as a {existing.kind} pipeline; add this model under a "
                              "new name")
    core = existing.description.core
    if not _same_core(core, description.core):
        raise ModelCheckError(f"{description.name} exists with core {existing.core_model} taking "
                              f"{core.input} → {core.output}; the new model takes {description.core.input} → "
                              f"{description.core.output}. Add it under a new name.")
    if existing.description.spec != description.spec or existing.labels != description.label_lines:
        raise ModelCheckError(f"{description.name} exists with preprocessing {existing.description.spec} and "
                              f"{len(existing.labels)} labels; a new version keeps both, but this call asks for "
                              f"{description.spec} and {len(description.label_lines)} labels. Add it under a "
                              "new name.")
    staged = _staged(model_file, core.model_filename)
    if control is not None:
        version = publish(control, repository, existing.core_model, source=staged)
    else:
        version = next_version(repository / existing.core_model)
        write_model_file(repository, existing.core_model, version, staged)
    path = repository / existing.core_model / str(version) / core.model_filename
    return AddedPipeline(description.name, version, (existing.core_model,), (path,), existing.description)


def _staged(model_file: Path, filename: str) -> Path:
    """``model_file`` under the name the version folders expect (``model.onnx`` / ``model.pt``)."""
    if model_file.name == filename:
        return model_file
    folder = Path(tempfile.mkdtemp(prefix="rawvision-add-"))
    target = folder / filename
    target.write_bytes(model_file.read_bytes())
    return target
