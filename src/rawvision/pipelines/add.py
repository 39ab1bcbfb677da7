"""``add``: a user's classifier file → a hardened raw-bytes ensemble in a model repository.

A new NAME gets its four model folders; an existing NAME gets a new version of its core model (the
zero-downtime path of :func:`rawvision.server.control.publish` when a server is given).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from rawvision.imaging import DEFAULT_LIMITS, DecodeLimits
from rawvision.pipelines.description import CoreSpec, PipelineDescription, StepNames
from rawvision.pipelines.inspect_model import ModelCheckError, describe_core, run_model
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
    description: PipelineDescription


def smoke_image(spec: PreprocessSpec) -> bytes:
    """A generated PNG (a colour gradient) larger than the spec's input, to run the model once."""
    height, width = (max(s, 64) * 2 for s in spec.image_size)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def check_model(model_file: Path, description: PipelineDescription) -> None:
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
             limits: DecodeLimits = DEFAULT_LIMITS) -> PipelineDescription:
    """The description of a new pipeline around ``model_file``; mismatches raise, naming both sides."""
    core = describe_core(model_file, input_shape)
    steps = StepNames.for_pipeline(name, core.format)
    try:
        description = PipelineDescription(name, spec, core, steps, limits,
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


def _new_version(repository: Path, description: PipelineDescription, model_file: Path,
                 control: ModelControl | None) -> AddedPipeline:
    """An existing pipeline: the new file becomes the core's next version, if its tensors are the same."""
    existing = read_pipeline(repository, description.name)
    core = existing.description.core
    if not _same_core(core, description.core):
        raise ModelCheckError(f"{description.name} exists with core {existing.core_model} taking "
                              f"{core.input} → {core.output}; the new model takes {description.core.input} → "
                              f"{description.core.output}. Add it under a new name.")
    if existing.spec != description.spec or existing.labels != description.label_lines:
        raise ModelCheckError(f"{description.name} exists with preprocessing {existing.spec} and "
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
