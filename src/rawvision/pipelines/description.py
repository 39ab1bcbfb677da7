"""A pipeline as data: everything its four model folders follow from, for each kind (classifier, detector).

``preprocess → core → postprocess`` behind one ensemble, like pytriton's ``ModelConfig`` describes one
model: :mod:`rawvision.pipelines.writer` turns a description into the configs, and
:mod:`rawvision.pipelines.reader` reads it back from a repository. The kinds share the name, steps,
limits, labels, serving, summary and core; each supplies its own step tensors, spec parameters and
adapter modules through the methods of :class:`PipelineKind`, so there is one writer for both.
"""


from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from rawvision.backend.step_parameters import HEAD_INPUTS, HeadName
from rawvision.detection.letterbox import LetterboxSpec
from rawvision.detection.options import DetectOptions
from rawvision.imaging import DEFAULT_LIMITS, DecodeLimits
from rawvision.pipelines.tuning import DEFAULT_DETECT_SERVING, DEFAULT_SERVING, PipelineServing
from rawvision.transforms import PreprocessSpec

CoreFormat = Literal["onnx", "torchscript"]
MODEL_FILENAMES: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.pt"}
FORMAT_SUFFIX: dict[str, CoreFormat] = {".onnx": "onnx", ".pt": "torchscript"}
IMAGE_INPUT = "IMAGE"
PREPROCESSED = "preprocessed_image"
ORIGINAL_SIZE = "original_size"
LOGITS = "logits"
LABELS_FILE = "labels.txt"
CLASSIFIER_OUTPUTS = ("LABELS", "SCORES", "CLASS_IDS")
DETECTION_OUTPUTS = ("BOXES", "SCORES", "CLASS_IDS", "LABELS", "COUNT")
LANDMARKS = "LANDMARKS"
HEAD_TENSORS = HEAD_INPUTS
"""The ensemble tensors a head's core outputs are mapped to, in the core's output order."""
WARMUP_ORIGINAL_SIZE = (480, 640)
DEFAULT_DETECT_OPTIONS = DetectOptions(score_threshold=0.25, iou_threshold=0.45, max_detections=100)


@dataclass(frozen=True)
class Tensor:
    """One tensor of the core model: name, dims without the batch axis, Triton data type."""

    name: str
    dims: tuple[int, ...]
    data_type: str = "TYPE_FP32"


CLASSIFIER_TENSORS = (Tensor("LABELS", (-1,), "TYPE_STRING"), Tensor("SCORES", (-1,)),
                      Tensor("CLASS_IDS", (-1,), "TYPE_INT64"))
DETECTION_TENSORS = (Tensor("BOXES", (-1, 4)), Tensor("SCORES", (-1,)), Tensor("CLASS_IDS", (-1,), "TYPE_INT64"),
                     Tensor("LABELS", (-1,), "TYPE_STRING"), Tensor("COUNT", (1,), "TYPE_INT32"))
LANDMARKS_TENSOR = Tensor(LANDMARKS, (-1, 5, 2))
ORIGINAL_SIZE_TENSOR = Tensor(ORIGINAL_SIZE, (2,), "TYPE_INT32")


@dataclass(frozen=True)
class CoreSpec:
    """The core model: file format, its image input, its first output and any further outputs.

    Attributes:
        output: a classifier's logits; a detector's first head output.
        extra_outputs: outputs beside it (mnist's stamped ``model_version``; CenterFace's scale, offset
            and landmarks, in that order); a classifier's ensemble exposes each under its upper-case name.
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

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        """Every output, the first one first."""
        return (self.output, *self.extra_outputs)


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
class Adapter:
    """A Python step's adapter: what it does (for ``model.py``'s docstring) and the module it imports."""

    what: str
    module: str


class PipelineKind(Protocol):
    """What the one writer asks of a pipeline of any kind: the common parts and each step's tensors.

    :class:`ClassifierDescription` and :class:`DetectorDescription` are the kinds.
    """

    @property
    def name(self) -> str:
        """The ensemble's name."""
    @property
    def steps(self) -> StepNames:
        """The three steps' model names."""
    @property
    def core(self) -> CoreSpec:
        """The core model."""
    @property
    def limits(self) -> DecodeLimits:
        """What the decoder accepts."""
    @property
    def labels(self) -> tuple[str, ...] | None:
        """Class names, or None for the class index."""
    @property
    def serving(self) -> PipelineServing:
        """Instances and batching of the four models."""
    @property
    def summary(self) -> str:
        """A line for the ensemble's config."""
    @property
    def layout(self) -> str:
        """The core input's layout (``NCHW`` or ``NHWC``)."""
    @property
    def label_lines(self) -> tuple[str, ...]:
        """The labels as written to ``labels.txt``."""

    def spec_parameters(self) -> dict[str, str]:
        """The preprocessing spec as config parameters."""

    def preprocess_outputs(self) -> tuple[Tensor, ...]:
        """What the preprocessing step hands on (the first is the core's input)."""

    def core_output_map(self) -> dict[str, str]:
        """Core output name → the ensemble tensor it becomes."""

    def postprocess_inputs(self) -> tuple[Tensor, ...]:
        """The postprocessing step's inputs (ensemble tensor names)."""

    def postprocess_outputs(self) -> tuple[Tensor, ...]:
        """The postprocessing step's outputs, which the ensemble returns under the same names."""

    def postprocess_parameters(self) -> dict[str, str]:
        """The postprocessing step's config parameters."""

    def ensemble_outputs(self) -> tuple[Tensor, ...]:
        """What the ensemble returns."""

    def adapters(self) -> tuple[Adapter, Adapter]:
        """The preprocessing and postprocessing adapters."""

    def warmup_images(self) -> dict[str, bytes]:
        """Encoded sample images the preprocessing step warms up on, by name."""

    @property
    def postprocess_warmup(self) -> Literal["zero", "random"]:
        """The data the postprocessing step warms up on."""

    def postprocess_warmup_files(self) -> dict[str, bytes]:
        """Raw warm-up values (one batch element) for postprocessing inputs that need real ones, by input name."""


_CLASSIFIER_ADAPTERS = (Adapter("the shared preprocessing model", "rawvision.backend.preprocess"),
                        Adapter("the shared classification postprocessing", "rawvision.backend.postprocess"))
_DETECTOR_ADAPTERS = (Adapter("the detection preprocessing (decode, letterbox)", "rawvision.backend.detect_preprocess"),
                      Adapter("the detection postprocessing (head, NMS, original pixels)",
                              "rawvision.backend.detect_postprocess"))


def _limit_parameters(limits: DecodeLimits) -> dict[str, str]:
    values = {"max_bytes": str(limits.max_bytes), "max_pixels": str(limits.max_pixels),
              "formats": ",".join(limits.formats)}
    if limits.max_aspect_ratio != type(limits)().max_aspect_ratio:
        values["max_aspect_ratio"] = repr(limits.max_aspect_ratio)
    return values


@dataclass(frozen=True)
class ClassifierDescription:
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

    @property
    def layout(self) -> str:
        """The core input's layout."""
        return self.spec.layout

    def spec_parameters(self) -> dict[str, str]:
        """The spec and the decode limits."""
        return {**self.spec.to_parameters(), **_limit_parameters(self.limits)}

    def preprocess_outputs(self) -> tuple[Tensor, ...]:
        """The normalised image."""
        return (Tensor(PREPROCESSED, self.spec.output_shape),)

    def core_output_map(self) -> dict[str, str]:
        """Logits, and each extra output under its upper-case name."""
        return {self.core.output.name: LOGITS, **{extra.name: extra.name.upper() for extra in self.core.extra_outputs}}

    def postprocess_inputs(self) -> tuple[Tensor, ...]:
        """The logits."""
        return (Tensor(LOGITS, (self.core.num_classes,)),)

    def postprocess_outputs(self) -> tuple[Tensor, ...]:
        """Top-k labels, scores and class ids."""
        return CLASSIFIER_TENSORS

    def postprocess_parameters(self) -> dict[str, str]:
        """Top-k, labels file, softmax."""
        return {"top_k": str(self.top_k), "label_filename": LABELS_FILE, "apply_softmax": "true"}

    def ensemble_outputs(self) -> tuple[Tensor, ...]:
        """Labels, scores, class ids and the core's extra outputs (upper case)."""
        extras = [Tensor(extra.name.upper(), extra.dims, extra.data_type) for extra in self.core.extra_outputs]
        return (*CLASSIFIER_TENSORS, *extras)

    def adapters(self) -> tuple[Adapter, Adapter]:
        """The shared preprocessing and classification adapters."""
        return _CLASSIFIER_ADAPTERS

    def warmup_images(self) -> dict[str, bytes]:
        """A drawn digit or a photo, by the spec."""
        from rawvision.pipelines.warmup_samples import warmup_images

        return warmup_images(self.spec)

    @property
    def postprocess_warmup(self) -> Literal["zero", "random"]:
        """Random logits."""
        return "random"

    def postprocess_warmup_files(self) -> dict[str, bytes]:
        """None: random logits will do."""
        return {}


PipelineDescription = ClassifierDescription
"""The classifier's description under its first name."""


def check_matches(description: ClassifierDescription) -> None:
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


def head_classes(head: str, output: Tensor) -> int:
    """The number of classes a head's first output holds (CenterFace: one, faces)."""
    if head == "yolov8":
        return output.dims[0] - 4
    if head == "yolov5":
        return output.dims[-1] - 5
    return 1


@dataclass(frozen=True)
class DetectorDescription:
    """Everything a detection pipeline's four configs follow from.

    Attributes:
        spec: the letterbox that brings any image to the core's input, and undoes it for the boxes.
        core: the core model; its outputs in the head's order (``HEAD_TENSORS``).
        head: which decoder reads the core's outputs.
        options: default score and IoU thresholds and detection cap (a request may override them).
        labels: class names in index order; None means the class index is the label.
    """

    name: str
    spec: LetterboxSpec
    core: CoreSpec
    steps: StepNames
    head: HeadName
    limits: DecodeLimits = DEFAULT_LIMITS
    labels: tuple[str, ...] | None = None
    options: DetectOptions = DEFAULT_DETECT_OPTIONS
    serving: PipelineServing = DEFAULT_DETECT_SERVING
    summary: str = ""

    def __post_init__(self) -> None:
        check_detector(self)

    @property
    def num_classes(self) -> int:
        """How many classes the head scores."""
        return head_classes(self.head, self.core.output)

    @property
    def has_landmarks(self) -> bool:
        """CenterFace answers five landmarks per face."""
        return self.head == "centerface"

    @property
    def label_lines(self) -> tuple[str, ...]:
        """The labels as written to ``labels.txt`` (class indices when there are none)."""
        return self.labels if self.labels is not None else tuple(str(i) for i in range(self.num_classes))

    @property
    def layout(self) -> str:
        """The core input's layout."""
        return self.spec.layout

    def spec_parameters(self) -> dict[str, str]:
        """The letterbox and the decode limits."""
        return {**self.spec.to_parameters(), **_limit_parameters(self.limits)}

    def preprocess_outputs(self) -> tuple[Tensor, ...]:
        """The letterboxed image and each image's original (height, width)."""
        return (Tensor(PREPROCESSED, self.spec.output_shape), ORIGINAL_SIZE_TENSOR)

    def core_output_map(self) -> dict[str, str]:
        """The core's outputs under the head's tensor names."""
        return {output.name: tensor for output, tensor in zip(self.core.outputs, HEAD_TENSORS[self.head], strict=True)}

    def postprocess_inputs(self) -> tuple[Tensor, ...]:
        """The head tensors and the original sizes."""
        heads = tuple(Tensor(tensor, output.dims, output.data_type)
                      for output, tensor in zip(self.core.outputs, HEAD_TENSORS[self.head], strict=True))
        return (*heads, ORIGINAL_SIZE_TENSOR)

    def postprocess_outputs(self) -> tuple[Tensor, ...]:
        """Boxes, scores, class ids, labels, count (and landmarks)."""
        return (*DETECTION_TENSORS, LANDMARKS_TENSOR) if self.has_landmarks else DETECTION_TENSORS

    def postprocess_parameters(self) -> dict[str, str]:
        """The head, the default options, the labels file and the letterbox to undo."""
        options = self.options
        return {"head": self.head, "score_threshold": repr(options.score_threshold),
                "iou_threshold": repr(options.iou_threshold), "max_detections": str(options.max_detections),
                "label_filename": LABELS_FILE, **self.spec.to_parameters()}

    def ensemble_outputs(self) -> tuple[Tensor, ...]:
        """What the postprocessing returns."""
        return self.postprocess_outputs()

    def adapters(self) -> tuple[Adapter, Adapter]:
        """The detection adapters."""
        return _DETECTOR_ADAPTERS

    def warmup_images(self) -> dict[str, bytes]:
        """Photos of two sizes and aspects, letterboxed by the step itself."""
        from rawvision.pipelines.warmup_samples import letterbox_warmup_images

        return letterbox_warmup_images()

    @property
    def postprocess_warmup(self) -> Literal["zero", "random"]:
        """Zeros for the head (Triton's random bytes are no scores); the image size comes from a file."""
        return "zero"

    def postprocess_warmup_files(self) -> dict[str, bytes]:
        """A 480x640 original size: Triton's zero or random bytes are no image size."""
        return {ORIGINAL_SIZE: np.array(WARMUP_ORIGINAL_SIZE, dtype="<i4").tobytes()}


Description = ClassifierDescription | DetectorDescription
"""A pipeline of either kind."""


def check_detector(description: DetectorDescription) -> None:
    """Refuse a detector whose sides disagree, naming both sides."""
    core, spec, name = description.core, description.spec, description.name
    if description.head not in HEAD_TENSORS:
        raise ValueError(f"{name}: head {description.head!r} is not one of {sorted(HEAD_TENSORS)}")
    if core.input.dims != spec.output_shape:
        raise ValueError(f"{name}: the letterbox produces {spec.layout} {list(spec.output_shape)} but the model "
                         f"input {core.input.name!r} takes {list(core.input.dims)}")
    expected = HEAD_TENSORS[description.head]
    if len(core.outputs) != len(expected):
        raise ValueError(f"{name}: a {description.head} head has {len(expected)} output(s) {list(expected)}; the "
                         f"model has {[o.name for o in core.outputs]}")
    if description.num_classes < 1:
        raise ValueError(f"{name}: output {core.output.name!r} {list(core.output.dims)} holds no class for a "
                         f"{description.head} head")
    if description.labels is not None and len(description.labels) != description.num_classes:
        raise ValueError(f"{name}: {len(description.labels)} labels but the {description.head} output "
                         f"{core.output.name!r} {list(core.output.dims)} has {description.num_classes} classes")
