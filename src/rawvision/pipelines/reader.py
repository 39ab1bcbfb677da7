"""The one reader of "a pipeline in a repository": its description (either kind), steps, versions and file.

``evaluate``, ``bench``, the soak, ``models publish`` and ``add`` read a pipeline through
:func:`read_pipeline` instead of each walking the configs and version folders themselves. A classifier
reads back as a :class:`ClassifierDescription`, a detector (its postprocessing answers ``COUNT``) as a
:class:`DetectorDescription`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tritonclient.grpc import model_config_pb2

from rawvision.backend.step_parameters import (
    DetectPostprocessParameters,
    PostprocessParameters,
    decoding_parameters,
    parse_parameters,
)
from rawvision.classify import load_labels
from rawvision.detection.letterbox import LetterboxSpec
from rawvision.imaging import DecodeLimits
from rawvision.pipelines.description import (
    CLASSIFIER_OUTPUTS,
    DETECTION_OUTPUTS,
    HEAD_TENSORS,
    LOGITS,
    MODEL_FILENAMES,
    ClassifierDescription,
    CoreFormat,
    CoreSpec,
    Description,
    DetectorDescription,
    StepNames,
    Tensor,
)
from rawvision.pipelines.tuning import InstanceKind, PipelineServing, StepServing
from rawvision.repository import EMBEDDED_CONFIG_NAME, config_parameters, model_config, versions
from rawvision.transforms import PreprocessSpec

_FORMATS: dict[str, CoreFormat] = {"onnxruntime": "onnx", "pytorch_libtorch": "torchscript"}


@dataclass(frozen=True)
class RepositoryPipeline:
    """A pipeline as a repository holds it: the description plus where its pieces are."""

    repository: Path
    description: Description
    versions: tuple[int, ...]

    @property
    def kind(self) -> str:
        """``classifier`` or ``detector``."""
        return "detector" if isinstance(self.description, DetectorDescription) else "classifier"

    @property
    def classifier(self) -> ClassifierDescription:
        """The description of a classifier pipeline; ``ValueError`` for a detector."""
        if not isinstance(self.description, ClassifierDescription):
            raise ValueError(f"{self.ensemble} is a detection pipeline, not a classifier")
        return self.description

    @property
    def detector(self) -> DetectorDescription:
        """The description of a detection pipeline; ``ValueError`` for a classifier."""
        if not isinstance(self.description, DetectorDescription):
            raise ValueError(f"{self.ensemble} is a classifier pipeline, not a detector")
        return self.description

    @property
    def ensemble(self) -> str:
        """The ensemble's model name."""
        return self.description.name

    @property
    def preprocess_model(self) -> str:
        """The preprocessing step's model name."""
        return self.description.steps.preprocess

    @property
    def core_model(self) -> str:
        """The core model's name."""
        return self.description.steps.core

    @property
    def postprocess_model(self) -> str:
        """The postprocessing step's model name."""
        return self.description.steps.postprocess

    @property
    def spec(self) -> PreprocessSpec:
        """A classifier's preprocessing spec."""
        return self.classifier.spec

    @property
    def letterbox(self) -> LetterboxSpec:
        """A detector's letterbox."""
        return self.detector.spec

    @property
    def limits(self) -> DecodeLimits:
        """The decode limits."""
        return self.description.limits

    @property
    def core_input(self) -> str:
        """The core model's input tensor name."""
        return self.description.core.input.name

    @property
    def core_output(self) -> str:
        """The core model's (first) output tensor name: a classifier's logits."""
        return self.description.core.output.name

    @property
    def labels(self) -> tuple[str, ...]:
        """The class names in index order (the class index itself when the pipeline has none)."""
        return self.description.label_lines

    @property
    def top_k(self) -> int:
        """How many classes a classifier pipeline answers with."""
        return self.classifier.top_k

    @property
    def newest_version(self) -> int:
        """The highest version folder of the core model."""
        if not self.versions:
            raise FileNotFoundError(f"{self.core_model} has no version folder; run `make models`")
        return self.versions[-1]

    @property
    def model_file(self) -> Path:
        """The newest version's model file (``model.onnx`` or ``model.pt``)."""
        path = self.repository / self.core_model / str(self.newest_version) / self.description.core.model_filename
        if not path.is_file():
            raise FileNotFoundError(f"{self.core_model} has no {path.name} in {path.parent}; run `make models`")
        return path


def _tensor(config_tensor: Any) -> Tensor:
    return Tensor(config_tensor.name, tuple(int(d) for d in config_tensor.dims),
                  model_config_pb2.DataType.Name(config_tensor.data_type))


def _serving(config: Any, intra_op_threads: int | None = None) -> StepServing:
    group = config.instance_group[0] if config.instance_group else None
    kind = model_config_pb2.ModelInstanceGroup.Kind.Name(group.kind) if group else "KIND_AUTO"
    return StepServing(config.max_batch_size, config.dynamic_batching.max_queue_delay_microseconds,
                       instances=group.count if group else 1, kind=cast(InstanceKind, kind),
                       preferred_batch_sizes=tuple(config.dynamic_batching.preferred_batch_size),
                       intra_op_threads=intra_op_threads)


def _engine(config: Any) -> CoreFormat:
    engine = config.backend or config.platform
    if engine not in _FORMATS:
        raise ValueError(f"{config.name}: core engine {engine!r} is not one of {sorted(_FORMATS)}")
    return _FORMATS[engine]


def _detector_core(config: Any, step: Any, head: str) -> CoreSpec:
    """The core's outputs in the head's order, as the ensemble maps them."""
    outputs = {o.name: o for o in config.output}
    by_tensor = {tensor: name for name, tensor in step.output_map.items()}
    missing = [t for t in HEAD_TENSORS[head] if by_tensor.get(t) not in outputs]
    if missing:
        raise ValueError(f"{config.name}: no output is mapped to {missing} in the ensemble")
    first, *rest = (_tensor(outputs[by_tensor[t]]) for t in HEAD_TENSORS[head])
    return CoreSpec(_engine(config), _tensor(config.input[0]), first, tuple(rest))


def _core(config: Any, step: Any) -> CoreSpec:
    logits_name = next((key for key, value in step.output_map.items() if value == LOGITS), None)
    outputs = {o.name: o for o in config.output}
    if logits_name not in outputs:
        raise ValueError(f"{config.name}: no output is mapped to {LOGITS!r} in the ensemble")
    extras = tuple(_tensor(o) for o in config.output if o.name != logits_name)
    return CoreSpec(_engine(config), _tensor(config.input[0]), _tensor(outputs[logits_name]), extras,
                    outputs[logits_name].label_filename or None)


def _steps(repository: Path, ensemble: str) -> tuple[Any, list[Any], bool]:
    """The ensemble's config, its three steps, and whether it is a detector."""
    config = model_config(repository, ensemble)
    steps = list(config.ensemble_scheduling.step)
    answers = set(steps[-1].output_map) if steps else set()
    detector = set(DETECTION_OUTPUTS) <= answers
    if config.platform != "ensemble" or len(steps) != 3 or not (detector or set(CLASSIFIER_OUTPUTS) <= answers):
        raise ValueError(f"{ensemble} is not a three-step preprocess → core → postprocess ensemble")
    return config, steps, detector


def _labels(labels: tuple[str, ...]) -> tuple[str, ...] | None:
    return None if labels == tuple(str(i) for i in range(len(labels))) else labels


def read_pipeline(repository: str | Path, ensemble: str) -> RepositoryPipeline:
    """Read the pipeline ``ensemble`` of either kind; ``ValueError`` if it is not preprocess → core → postprocess."""
    repository = Path(repository)
    config, (pre_step, core_step, post_step), detector = _steps(repository, ensemble)
    names = StepNames(pre_step.model_name, core_step.model_name, post_step.model_name)
    pre_config, post_config = model_config(repository, names.preprocess), model_config(repository, names.postprocess)
    core_config = model_config(repository, names.core)
    pre_parameters, post_parameters = config_parameters(pre_config), config_parameters(post_config)
    embedded = config_parameters(model_config(repository, names.core, EMBEDDED_CONFIG_NAME))
    threads = int(embedded["intra_op_threads"]) if "intra_op_threads" in embedded else None
    serving = PipelineServing(config.max_batch_size, _serving(pre_config), _serving(core_config, threads),
                              _serving(post_config))
    description: Description
    if detector:
        letterbox = decoding_parameters(LetterboxSpec, pre_parameters, names.preprocess)
        found = DetectPostprocessParameters.parse(post_parameters, names.postprocess)
        labels = load_labels(repository / names.postprocess / found.step.label_filename)
        core = _detector_core(core_config, core_step, found.step.head)
        description = DetectorDescription(ensemble, letterbox.spec, core, names, found.step.head, letterbox.limits,
                                          _labels(labels), found.defaults, serving)
    else:
        pre = decoding_parameters(PreprocessSpec, pre_parameters, names.preprocess)
        post = parse_parameters(PostprocessParameters, post_parameters, names.postprocess)
        labels = load_labels(repository / names.postprocess / post.label_filename)
        description = ClassifierDescription(ensemble, pre.spec, _core(core_config, core_step), names, pre.limits,
                                            _labels(labels), post.top_k, serving)
    core_versions = versions(repository / names.core)
    return RepositoryPipeline(repository, description, tuple(core_versions))


__all__ = ["MODEL_FILENAMES", "RepositoryPipeline", "read_pipeline"]
