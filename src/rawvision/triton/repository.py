"""Read a model repository: ``config.pbtxt`` files as Triton's ``ModelConfig`` protobuf, and their parameters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from rawvision.imaging import DecodeLimits
from rawvision.transforms import PreprocessSpec

ModelConfig = model_config_pb2.ModelConfig
EMBEDDED_CONFIG_NAME = "embedded"


def read_config(path: str | Path) -> Any:
    """Parse one ``config.pbtxt`` (or ``configs/<name>.pbtxt``) into a ``ModelConfig`` message."""
    return text_format.Parse(Path(path).read_text(encoding="utf-8"), ModelConfig())


def model_config(repository: str | Path, model: str, config_name: str | None = None) -> Any:
    """The config Triton would load for ``model``: ``configs/<config_name>.pbtxt`` if it exists."""
    model_dir = Path(repository) / model
    if config_name and (model_dir / "configs" / f"{config_name}.pbtxt").is_file():
        return read_config(model_dir / "configs" / f"{config_name}.pbtxt")
    return read_config(model_dir / "config.pbtxt")


def config_parameters(config: Any) -> dict[str, str]:
    """A ``ModelConfig``'s ``parameters`` as a plain ``{key: string_value}`` dict."""
    return {key: value.string_value for key, value in config.parameters.items()}


RESTARTS_PARAMETER = "restarts"
"""Counted up by the stub watchdog to force a real reload; the server's bookkeeping, not a step's setting."""


def json_parameters(config: Mapping[str, Any]) -> dict[str, str]:
    """The same, from the JSON config that Triton hands a Python-backend model at ``initialize``.

    Leaves out :data:`RESTARTS_PARAMETER`, so a step reloaded by the watchdog reads only its own settings.
    """
    params = config.get("parameters") or {}
    return {key: str(value["string_value"]) for key, value in params.items() if key != RESTARTS_PARAMETER}


def preprocess_spec(repository: str | Path, model: str) -> PreprocessSpec:
    """The preprocessing spec stored in a preprocessing model's config parameters."""
    return PreprocessSpec.from_parameters(config_parameters(model_config(repository, model)), model)


def decode_limits(repository: str | Path, model: str) -> DecodeLimits:
    """The decode limits stored in a preprocessing model's config parameters (library defaults otherwise)."""
    return DecodeLimits.from_parameters(config_parameters(model_config(repository, model)), model)


def model_names(repository: str | Path) -> list[str]:
    """Every model folder (one with a ``config.pbtxt``) in the repository, sorted."""
    return sorted(p.parent.name for p in Path(repository).glob("*/config.pbtxt"))


def ensemble_names(repository: str | Path) -> list[str]:
    """The models whose config is an ensemble."""
    return [name for name in model_names(repository)
            if model_config(repository, name).platform == "ensemble"]


def versions(model_dir: str | Path) -> list[int]:
    """The numbered version folders of a model, ascending (the one scan of version folders)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir: str | Path) -> int:
    """One more than the highest numbered version folder of ``model_dir`` (1 when there is none)."""
    return max(versions(model_dir), default=0) + 1


# The embedded server's Python backend loads this file from the version folder (``configs/embedded.pbtxt``
# names it as ``default_model_filename``); NVIDIA's container ignores it and reads the model file.
RUNNER_FILENAME = "embedded_runner.py"
_RUNNERS = {
    ".onnx": "rawvision.triton.onnx_runner",
    ".pt": "rawvision.triton.torchscript_runner",
}


def write_version(model_dir: str | Path, version: int, filename: str, data: bytes, runner: bool = True) -> Path:
    """Write ``<model_dir>/<version>/<filename>`` and (``runner``) the embedded server's runner shim beside it.

    The one writer of model versions. The file is written under a temporary name and renamed, so a
    polling server never sees half a model. Engines the embedded server cannot run (TensorRT) pass
    ``runner=False``.
    """
    if version < 1:
        raise ValueError(f"model versions start at 1, got {version}")
    suffix = Path(filename).suffix
    if runner and suffix not in _RUNNERS:
        raise ValueError(f"no embedded runner for {filename!r}; expected one of {sorted(_RUNNERS)}")
    folder = Path(model_dir) / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    partial = folder / f".{filename}.partial"
    partial.write_bytes(data)
    partial.replace(target)
    if runner:
        shim = f'"""Embedded-server runner for {filename}."""\n\nfrom {_RUNNERS[suffix]} import TritonPythonModel\n\n'
        (folder / RUNNER_FILENAME).write_text(shim + '__all__ = ["TritonPythonModel"]\n', encoding="utf-8")
    return target
