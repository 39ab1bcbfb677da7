"""Typed step parameters: one frozen dataclass per Python step, read by :func:`parse_parameters`.

A config that says ``top_kk`` fails at ``initialize``, naming the model and the key, instead of being
ignored (pytriton's ``ModelConfigParser`` is the example).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rawvision.imaging import DEFAULT_LIMITS, ColorMode, DecodeLimits
from rawvision.ocr.crop import RecognizeSpec
from rawvision.ocr.detect import DetectSpec, LimitType
from rawvision.parameters import parse_parameters
from rawvision.transforms import Interpolation, Layout, PreprocessSpec

DEFAULT_EXECUTE_TIMEOUT_S = 60.0
_DETECT = DetectSpec()
_RECOGNIZE = RecognizeSpec()


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


__all__ = ["parse_parameters"]
