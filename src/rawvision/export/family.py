"""The exporter protocol: what a model family declares, what it builds, what an export reports, how it fails.

A family declares its contract once (formats, the core model each writes, tensor names, parity tolerance
per format, minimum accuracy); :func:`rawvision.export.exporter.export` runs it and raises
:class:`ToleranceError` or :class:`AccuracyError` before anything is written. Imports no PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Format = Literal["onnx", "torchscript", "tensorrt"]
FORMATS: tuple[Format, ...] = ("onnx", "torchscript", "tensorrt")


class ExportError(RuntimeError):
    """A family's contract is broken; nothing was written."""


class ToleranceError(ExportError):
    """The exported file answers further from its reference than the format's tolerance allows."""

    def __init__(self, family: str, format: Format, max_difference: float, tolerance: float) -> None:
        super().__init__(f"{family} → {format}: max |diff| {max_difference:.2e} from the reference exceeds the "
                         f"tolerance {tolerance:.0e}; not exported")
        self.family, self.format = family, format
        self.max_difference, self.tolerance = max_difference, tolerance


class AccuracyError(ExportError):
    """The network scores below the family's minimum accuracy."""

    def __init__(self, family: str, accuracy: float, minimum: float, detail: str = "") -> None:
        super().__init__(f"{family}: accuracy {accuracy:.4f} is below the minimum {minimum}; not exported"
                         + (f" ({detail})" if detail else ""))
        self.family, self.accuracy, self.minimum = family, accuracy, minimum


@dataclass(frozen=True)
class Target:
    """One format of a family: the core model it writes, its file name and its parity tolerance.

    With ``config_from``, the file goes into the ``out`` repository (a backend the embedded server lacks)
    with a config generated from that model's config; otherwise into the repository, whose config exists.
    """

    format: Format
    core_model: str
    filename: str
    tolerance: float
    config_from: str | None = None


@dataclass(frozen=True)
class Options:
    """Family-specific knobs; a family lists the ones it takes in :attr:`Family.options`."""

    epochs: int | None = None
    steps: int | None = None
    train_size: int | None = None
    fp16: bool = False


@dataclass(frozen=True)
class Request:
    """What a family's ``build`` gets: the repository whose configs it follows, the data folder, the options."""

    repository: Path
    data: Path | None
    options: Options


@dataclass(frozen=True)
class Candidate:
    """What a family built: the eager network, the inputs parity is checked on, and its measured accuracy."""

    network: Any  # a torch.nn.Module in eval mode (None for a family with its own ``convert``)
    inputs: Any  # numpy batch (N ≥ 2) for the parity check
    accuracy: float | None = None
    measured_on: str = ""
    notes: tuple[str, ...] = ()
    detail: str = ""  # why the accuracy is what it is, for AccuracyError


@dataclass(frozen=True)
class PendingFile:
    """A file an export will write once every check has passed; ``version`` None: beside the config."""

    model: str
    version: int | None
    filename: str
    data: bytes
    runner: bool = True


@dataclass(frozen=True)
class Conversion:
    """The files of one format and how far the converted model is from its reference."""

    files: tuple[PendingFile, ...]
    max_difference: float
    compared: str  # "ONNX Runtime vs eager PyTorch", ...


@dataclass(frozen=True)
class Family:
    """A model family's export contract (cf. Optimum's ``ExporterConfig``)."""

    name: str
    summary: str
    targets: tuple[Target, ...]
    input_name: str
    output_name: str
    min_accuracy: float | None
    build: Callable[[Request], Candidate]
    convert: Callable[[Family, Target, Candidate, int, Request], Conversion] | None = None
    options: tuple[str, ...] = ()
    data_help: str = ""

    @property
    def formats(self) -> tuple[Format, ...]:
        """The formats this family exports to, the default first."""
        return tuple(target.format for target in self.targets)

    def target(self, format: Format) -> Target:
        """The declaration for ``format``; ``ValueError`` naming the formats it has otherwise."""
        for target in self.targets:
            if target.format == format:
                return target
        raise ValueError(f"{self.name} exports to {', '.join(self.formats)}, not {format!r}")


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote, how far it is from its reference, and how well the network scored."""

    family: str
    format: Format
    paths: tuple[Path, ...]
    max_difference: float
    tolerance: float
    compared: str
    accuracy: float | None
    min_accuracy: float | None
    measured_on: str
    notes: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """The summary a CLI prints: files, accuracy, parity, then the family's notes."""
        out = [f"wrote {path}" for path in self.paths]
        if self.accuracy is not None:
            out.append(f"accuracy {self.accuracy:.4f} (minimum {self.min_accuracy}) on {self.measured_on}")
        out.append(f"{self.compared}: max |diff| {self.max_difference:.1e} (tolerance {self.tolerance:.0e})")
        out.extend(f"  {note}" for note in self.notes)
        return out
