"""A classifier pipeline as data: everything its four model folders follow from.

``preprocess → core → postprocess`` behind one ensemble, like pytriton's ``ModelConfig`` describes one
model: :mod:`rawvision.pipelines.writer` turns a :class:`PipelineDescription` into the configs, and
:mod:`rawvision.pipelines.reader` reads it back from a repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rawvision.imaging import DEFAULT_LIMITS, DecodeLimits
from rawvision.pipelines.tuning import DEFAULT_SERVING, PipelineServing
from rawvision.transforms import PreprocessSpec

CoreFormat = Literal["onnx", "torchscript"]
MODEL_FILENAMES: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.pt"}
FORMAT_SUFFIX: dict[str, CoreFormat] = {".onnx": "onnx", ".pt": "torchscript"}
IMAGE_INPUT = "IMAGE"
PREPROCESSED = "preprocessed_image"
LOGITS = "logits"
CLASSIFIER_OUTPUTS = ("LABELS", "SCORES", "CLASS_IDS")


@dataclass(frozen=True)
class Tensor:
    """One tensor of the core model: name, dims without the batch axis, Triton data type."""

    name: str
    dims: tuple[int, ...]
    data_type: str = "TYPE_FP32"


@dataclass(frozen=True)
class CoreSpec:
    """The core model: file format, its image input, its logits and any extra outputs.

    Attributes:
        extra_outputs: outputs beside the logits (mnist's stamped ``model_version``); the ensemble
            exposes each under its upper-case name.
        label_filename: set to turn on Triton's classification extension on the logits.
    """

    format: CoreFormat
    input: Tensor
    output: Tensor
    extra_outputs: tuple[Tensor, ...] = ()
    label_filename: str | None = None

    @property
    def model_filename(self) -> str:
        """``model.onnx`` or ``model.pt``, as in every version folder."""
        return MODEL_FILENAMES[self.format]

    @property
    def num_classes(self) -> int:
        """Width of the logits."""
        return self.output.dims[-1]


@dataclass(frozen=True)
class StepNames:
    """Model names of the three steps (a pipeline may share another's pre- and postprocessing)."""

    preprocess: str
    core: str
    postprocess: str

    @classmethod
    def for_pipeline(cls, name: str, core_format: CoreFormat) -> StepNames:
        """``NAME_preprocess``, ``NAME_onnx`` or ``NAME_torchscript``, ``NAME_postprocess``."""
        return cls(f"{name}_preprocess", f"{name}_{core_format}", f"{name}_postprocess")

    def as_tuple(self) -> tuple[str, str, str]:
        """The three names in pipeline order."""
        return (self.preprocess, self.core, self.postprocess)


@dataclass(frozen=True)
class PipelineDescription:
    """Everything a classifier pipeline's four configs follow from.

    ``labels`` None means the class index is the label.
    """

    name: str
    spec: PreprocessSpec
    core: CoreSpec
    steps: StepNames
    limits: DecodeLimits = DEFAULT_LIMITS
    labels: tuple[str, ...] | None = None
    top_k: int = 5
    serving: PipelineServing = DEFAULT_SERVING
    summary: str = ""

    def __post_init__(self) -> None:
        check_matches(self)

    @property
    def label_lines(self) -> tuple[str, ...]:
        """The labels as written to ``labels.txt`` (class indices when there are none)."""
        return self.labels if self.labels is not None else tuple(str(i) for i in range(self.core.num_classes))


def check_matches(description: PipelineDescription) -> None:
    """Refuse a description whose sides disagree, naming both sides."""
    core, spec = description.core, description.spec
    if core.input.dims != spec.output_shape:
        raise ValueError(f"{description.name}: the preprocessing produces {spec.layout} "
                         f"{list(spec.output_shape)} but the model input {core.input.name!r} takes "
                         f"{list(core.input.dims)}")
    if description.labels is not None and len(description.labels) != core.num_classes:
        raise ValueError(f"{description.name}: {len(description.labels)} labels but the model output "
                         f"{core.output.name!r} has {core.num_classes} classes")
    if not 1 <= description.top_k <= core.num_classes:
        raise ValueError(f"{description.name}: top_k {description.top_k} must be between 1 and the "
                         f"{core.num_classes} classes of {core.output.name!r}")
