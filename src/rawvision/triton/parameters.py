"""Typed step parameters: one frozen dataclass per Python step, one parser for all of them.

Triton hands a Python-backend model its config ``parameters`` as strings. :func:`parse_parameters`
converts each by its field's type and refuses a key the step does not know, naming the model and the
key, so a config that says ``top_kk`` fails at ``initialize`` instead of being ignored (pytriton's
``ModelConfigParser`` is the example).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from rawvision.imaging import DEFAULT_LIMITS, ColorMode, DecodeLimits
from rawvision.ocr.crop import RecognizeSpec
from rawvision.ocr.detect import DetectSpec, LimitType
from rawvision.transforms import Interpolation, Layout, PreprocessSpec

T = TypeVar("T")
DEFAULT_EXECUTE_TIMEOUT_S = 60.0
_DETECT = DetectSpec()
_RECOGNIZE = RecognizeSpec()
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _convert_union(text: str, args: tuple[Any, ...]) -> Any:
    if type(None) in args and text.strip() == "":
        return None
    errors = []
    for arg in (a for a in args if a is not type(None)):
        try:
            return convert(text, arg)
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError("; ".join(errors))


def _convert_tuple(text: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    parts = [part.strip() for part in text.split(",")]
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(part, args[0]) for part in parts)
    if len(parts) != len(args):
        raise ValueError(f"expected {len(args)} comma-separated values, got {text!r}")
    return tuple(convert(part, arg) for part, arg in zip(parts, args, strict=True))


def convert(text: str, kind: Any) -> Any:
    """``text`` as a value of type ``kind`` (int, float, bool, str, Literal, tuple, union, optional)."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        return _convert_union(text, args)
    if origin is Literal:
        if text.strip() not in args:
            raise ValueError(f"expected one of {list(args)}, got {text!r}")
        return text.strip()
    if origin is tuple:
        return _convert_tuple(text, args)
    if kind is bool:
        if text.strip().lower() not in _TRUE + _FALSE:
            raise ValueError(f"expected true or false, got {text!r}")
        return text.strip().lower() in _TRUE
    if kind in (int, float):
        return kind(text.strip())
    if kind is str:
        return text.strip()
    raise TypeError(f"no conversion from a config string to {kind!r}")


def parse_parameters(cls: type[T], parameters: Mapping[str, str], model: str) -> T:
    """Build ``cls`` (a dataclass) from string ``parameters``; unknown keys and bad values name the model."""
    fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(parameters) - set(fields))
    if unknown:
        raise ValueError(f"{model}: unknown config parameter(s) {unknown}; this step reads {sorted(fields)}")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, text in parameters.items():
        try:
            values[name] = convert(text, hints[name])
        except ValueError as exc:
            raise ValueError(f"{model}: config parameter {name}={text!r}: {exc}") from None
    missing = [name for name, field in fields.items() if name not in values
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{model}: config parameter(s) {missing} are missing")
    try:
        return cls(**values)
    except ValueError as exc:
        raise ValueError(f"{model}: {exc}") from None


@dataclass(frozen=True)
class LimitsParameters:
    """Decode limits, shared by every step that decodes untrusted bytes."""

    max_bytes: int = DEFAULT_LIMITS.max_bytes
    max_pixels: int = DEFAULT_LIMITS.max_pixels
    max_aspect_ratio: float = DEFAULT_LIMITS.max_aspect_ratio
    formats: tuple[str, ...] = DEFAULT_LIMITS.formats

    def limits(self) -> DecodeLimits:
        """The :class:`DecodeLimits` these parameters describe."""
        return DecodeLimits(self.max_bytes, self.max_pixels, self.max_aspect_ratio,
                            tuple(f.upper() for f in self.formats))


@dataclass(frozen=True, kw_only=True)
class PreprocessParameters(LimitsParameters):
    """``*_preprocess``: the :class:`PreprocessSpec` fields and the decode limits."""

    resize: tuple[int, int] | int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    color_mode: ColorMode
    crop: tuple[int, int] | None = None
    scale: float = 1.0 / 255.0
    interpolation: Interpolation = "bilinear"
    layout: Layout = "NCHW"
    jpeg_draft: bool = False
    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S

    def spec(self) -> PreprocessSpec:
        """The :class:`PreprocessSpec` these parameters describe."""
        return PreprocessSpec(self.resize, self.crop, self.mean, self.std, self.scale, self.color_mode,
                              self.interpolation, self.layout, self.jpeg_draft)


@dataclass(frozen=True)
class PostprocessParameters:
    """``*_postprocess``: softmax, top-k and the label file beside ``config.pbtxt``."""

    top_k: int = 5
    label_filename: str = "labels.txt"
    apply_softmax: bool = True
    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S


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
class DetectParameters:
    """The :class:`DetectSpec` fields: how an image is prepared for the detector and boxes found."""

    limit_side_len: int = _DETECT.limit_side_len
    limit_type: LimitType = _DETECT.limit_type
    max_side_len: int = _DETECT.max_side_len
    mean: tuple[float, float, float] = _DETECT.mean
    std: tuple[float, float, float] = _DETECT.std
    thresh: float = _DETECT.thresh
    box_thresh: float = _DETECT.box_thresh
    unclip_ratio: float = _DETECT.unclip_ratio
    max_candidates: int = _DETECT.max_candidates
    min_size: int = _DETECT.min_size
    dilate: bool = _DETECT.dilate
    execute_timeout_s: float = DEFAULT_EXECUTE_TIMEOUT_S

    def detect(self) -> DetectSpec:
        """The :class:`DetectSpec` these parameters describe."""
        own = {f.name for f in dataclasses.fields(DetectSpec)}
        return DetectSpec(**{k: v for k, v in dataclasses.asdict(self).items() if k in own})


@dataclass(frozen=True)
class OcrPreprocessParameters(DetectParameters, LimitsParameters):
    """``ocr_preprocess``: the detection spec and the decode limits."""


@dataclass(frozen=True)
class OcrLinesParameters(DetectParameters):
    """``ocr_lines``: the detection spec, the recogniser it calls (BLS) and the character dictionary."""

    recognition_height: int = _RECOGNIZE.height
    recognition_min_width: int = _RECOGNIZE.min_width
    recognizer: str = "ocr_recognize"
    recognizer_version: int = -1
    recognition_batch_size: int = 8
    min_score: float = 0.5
    dictionary_filename: str = "characters.txt"
