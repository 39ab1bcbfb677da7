"""One ``export(family, format, version, repository)``: build, check the contract, convert, check parity, write.

Nothing reaches the repository before the accuracy and parity checks pass; a write that fails half-way
removes the version folders it created.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rawvision.export.engines import core_model_from, engine_files, tensorrt_module, tensorrt_plan
from rawvision.export.family import (
    AccuracyError,
    Candidate,
    Conversion,
    ExportReport,
    Family,
    Format,
    Options,
    PendingFile,
    Request,
    Target,
    ToleranceError,
)
from rawvision.export.registry import FAMILIES
from rawvision.repository import model_config, write_version
from rawvision.server.version_stamp import VERSION_OUTPUT, stamp_version

DEFAULT_OUT = Path("exports")
PLATFORMS = {"torchscript": "pytorch_libtorch", "tensorrt": "tensorrt_plan"}


def check_tensors(family: Family, target: Target, repository: Path) -> None:
    """Refuse a family whose declared tensor names are not the ones its config in ``repository`` uses."""
    config = model_config(repository, target.config_from or target.core_model)
    declared = {"input": family.input_name, "output": family.output_name}
    found = {"input": config.input[0].name, "output": config.output[0].name}
    for kind, name in declared.items():
        if found[kind] not in (name, f"{name}__0"):  # LibTorch configs may name tensors by index
            raise ValueError(f"{family.name}: the {kind} tensor is {name!r}, but the config of "
                             f"{target.config_from or target.core_model} in {repository} calls it {found[kind]!r}")


def convert(family: Family, target: Target, candidate: Candidate, version: int, request: Request) -> Conversion:
    """The network in ``target.format``, with its parity measured against eager PyTorch on ``candidate.inputs``."""
    from rawvision.export.onnx_export import measured_onnx
    from rawvision.export.torchscript_export import traced_torchscript

    network, inputs = candidate.network, candidate.inputs
    if target.format == "torchscript":
        data, difference = traced_torchscript(network, inputs)
        compared = "TorchScript (reloaded) vs eager PyTorch"
    else:
        data, difference = measured_onnx(network, inputs, family.input_name, family.output_name)
        compared = "ONNX Runtime vs eager PyTorch"
    if target.format == "tensorrt":
        core = core_model_from(request.repository, target.config_from or target.core_model, target.core_model)
        data = tensorrt_plan(data, core, fp16=request.options.fp16)
        compared = "ONNX Runtime (the plan's source) vs eager PyTorch"
    if target.config_from:
        core = core_model_from(request.repository, target.config_from, target.core_model)
        files = engine_files(core, version, target.filename, data, PLATFORMS[target.format])
    else:
        if target.format == "onnx" and declares_version_output(request.repository, target.core_model):
            data = stamp_version(data, version)
        files = (PendingFile(target.core_model, version, target.filename, data),)
    return Conversion(files, difference, compared)


def declares_version_output(repository: Path, model: str) -> bool:
    """Whether ``model``'s config declares the stamped ``model_version`` output."""
    return any(output.name == VERSION_OUTPUT for output in model_config(repository, model).output)


def write_files(root: Path, files: tuple[PendingFile, ...]) -> tuple[Path, ...]:
    """Write ``files`` under ``root``; on a failure remove the version folders this call created."""
    created: list[Path] = []
    paths = []
    try:
        for file in files:
            model_dir = root / file.model
            if file.version is None:
                model_dir.mkdir(parents=True, exist_ok=True)
                path = model_dir / file.filename
                partial = model_dir / f".{file.filename}.partial"
                partial.write_bytes(file.data)
                partial.replace(path)
            else:
                folder = model_dir / str(file.version)
                if not folder.exists():
                    created.append(folder)
                path = write_version(model_dir, file.version, file.filename, file.data, runner=file.runner)
            paths.append(path)
    except BaseException:
        for folder in created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return tuple(paths)


def export(family: Family | str, format: Format | None, version: int, repository: str | Path, *,
           out: str | Path | None = None, data: str | Path | None = None,
           options: Options | None = None) -> ExportReport:
    """Build ``family``'s network, export it to ``format`` (default: the family's first), check, write ``version``.

    ``repository`` holds the configs the export follows (preprocessing, tensors, labels) and receives the
    formats the embedded server runs; the others go into ``out`` (default ``./exports``) with a generated config.

    Raises:
        AccuracyError: the network scores below the family's minimum; nothing written.
        ToleranceError: the exported file differs from its reference beyond the tolerance; nothing written.
        EngineUnavailable: TensorRT or a GPU is missing (checked before any work).

    """
    family = FAMILIES[family] if isinstance(family, str) else family
    target = family.target(format or family.formats[0])
    if target.format == "tensorrt":
        tensorrt_module()
    repository = Path(repository)
    request = Request(repository, Path(data) if data else None, options or Options())
    check_tensors(family, target, repository)
    candidate = family.build(request)
    minimum, measured = family.min_accuracy, candidate.accuracy
    if minimum is not None and (measured is None or not measured >= minimum):
        raise AccuracyError(family.name, float("nan") if measured is None else measured, minimum, candidate.detail)
    conversion = (family.convert or convert)(family, target, candidate, version, request)
    if not conversion.max_difference <= target.tolerance:
        raise ToleranceError(family.name, target.format, conversion.max_difference, target.tolerance)
    root = Path(out or DEFAULT_OUT) if target.config_from else repository
    paths = write_files(root, conversion.files)
    return ExportReport(family.name, target.format, paths, conversion.max_difference, target.tolerance,
                        conversion.compared, candidate.accuracy, family.min_accuracy, candidate.measured_on,
                        candidate.notes)
