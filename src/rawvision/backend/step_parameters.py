"""Typed step parameters: what each Python step reads from its config, unknown keys refused at initialize.

A step's parameters are made of the core's own dataclasses (``PreprocessSpec``, ``DecodeLimits``,
``DetectSpec``, ``LetterboxSpec``, ``DetectOptions``) plus its step options, all from one parameter map:
a key that none of them has, such as ``top_kk``, fails at ``initialize`` naming the model and the key
(pytriton's ``ModelConfigParser`` is the example).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from rawvision.detection.letterbox import LetterboxSpec
from rawvision.detection.options import DetectOptions
from rawvision.imaging import DecodeLimits
from rawvision.ocr.crop import RecognizeSpec
from rawvision.ocr.detect import DetectSpec
from rawvision.parameters import parse_known, parse_parameters, refuse_unknown
from rawvision.transforms import PreprocessSpec

DEFAULT_EXECUTE_TIMEOUT_S = 60.0
_RECOGNIZE = RecognizeSpec()
Spec = TypeVar("Spec", PreprocessSpec, DetectSpec, LetterboxSpec)
HeadName = Literal["yolov8", "yolov5", "centerface"]
HEAD_INPUTS: dict[str, tuple[str, ...]] = {
    "yolov8": ("head_output",),
    "yolov5": ("head_output",),
    "centerface": ("heatmap", "scale", "offset", "landmarks"),
}
"""The tensors a detection postprocessing step takes from the core, per head, in the head's order."""


@dataclass(frozen=True)
class StepOptions:
    """What every Python step reads besides its specs: how long one ``execute`` may take."""

    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S


@dataclass(frozen=True)
class DecodingParameters(Generic[Spec]):
    """A step that decodes untrusted bytes (``*_preprocess``, ``ocr_preprocess``): its spec and decode limits."""

    spec: Spec
    limits: DecodeLimits


def decoding_parameters(spec_type: type[Spec], parameters: Mapping[str, str], model: str) -> DecodingParameters[Spec]:
    """Read the spec and limits from one map; keys that neither they nor the step options have are refused."""
    refuse_unknown(parameters, model, spec_type, DecodeLimits, StepOptions)
    parse_known(StepOptions, parameters, model)
    spec = spec_type.from_parameters(parameters, model)
    return DecodingParameters(spec, DecodeLimits.from_parameters(parameters, model))


@dataclass(frozen=True)
class PostprocessParameters:
    """``*_postprocess``: softmax, top-k and the label file beside ``config.pbtxt``."""

    top_k: int = 5
    label_filename: str = "labels.txt"
    apply_softmax: bool = True
    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S


@dataclass(frozen=True)
class DetectStepOptions:
    """``*_postprocess`` of a detector: its head, the label file beside ``config.pbtxt``, the timeout."""

    head: HeadName
    label_filename: str = "labels.txt"
    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S


@dataclass(frozen=True)
class DetectPostprocessParameters:
    """A detector's postprocessing: head and labels, default options, and the letterbox to undo."""

    step: DetectStepOptions
    defaults: DetectOptions
    spec: LetterboxSpec

    @classmethod
    def parse(cls, parameters: Mapping[str, str], model: str) -> DetectPostprocessParameters:
        """Read all three from one parameter map; keys that none has are refused."""
        refuse_unknown(parameters, model, DetectStepOptions, DetectOptions, LetterboxSpec)
        return cls(parse_known(DetectStepOptions, parameters, model), parse_known(DetectOptions, parameters, model),
                   LetterboxSpec.from_parameters(parameters, model))


@dataclass(frozen=True)
class RunnerParameters:
    """A core model run by the embedded server's Python backend (``configs/embedded.pbtxt``)."""

    intra_op_threads: int = 0
    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S

    @property
    def model_filename(self) -> str:
        """The model file inside the version folder."""
        raise NotImplementedError


@dataclass(frozen=True)
class OnnxRunnerParameters(RunnerParameters):
    """The ONNX Runtime runner; ``cpu_mem_arena`` false for inputs whose shape changes per request (OCR)."""

    onnx_filename: str = "model.onnx"
    cpu_mem_arena: bool = True

    @property
    def model_filename(self) -> str:
        """``onnx_filename``."""
        return self.onnx_filename


@dataclass(frozen=True)
class TorchScriptRunnerParameters(RunnerParameters):
    """The TorchScript runner."""

    torchscript_filename: str = "model.pt"

    @property
    def model_filename(self) -> str:
        """``torchscript_filename``."""
        return self.torchscript_filename


@dataclass(frozen=True)
class RecognitionOptions:
    """``ocr_lines``' own options: the recogniser it calls (BLS), its input size, the dictionary."""

    recognition_height: int = _RECOGNIZE.height
    recognition_min_width: int = _RECOGNIZE.min_width
    recognizer: str = "ocr_recognize"
    recognizer_version: int = -1
    recognition_batch_size: int = 8
    min_score: float = 0.5
    dictionary_filename: str = "characters.txt"
    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S


@dataclass(frozen=True)
class OcrLinesParameters:
    """``ocr_lines``: the detection spec (boxes from the map) and the recognition options."""

    detect: DetectSpec
    recognition: RecognitionOptions

    @classmethod
    def parse(cls, parameters: Mapping[str, str], model: str) -> OcrLinesParameters:
        """Read both from one parameter map; keys that neither has are refused."""
        refuse_unknown(parameters, model, DetectSpec, RecognitionOptions)
        return cls(DetectSpec.from_parameters(parameters, model), parse_known(RecognitionOptions, parameters, model))


__all__ = ["parse_parameters"]
