"""Load a repository's Python-backend model.py the way Triton does, with the args Triton would pass."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from rawvision.repository import RUNNER_FILENAME, model_config


def load_model(repository: Path, name: str, version: int = 1, config_name: str | None = "embedded") -> Any:
    """Instantiate and ``initialize`` the TritonPythonModel of ``repository/name/version``."""
    config = model_config(repository, name, config_name)
    filename = config.default_model_filename or "model.py"
    path = repository / name / str(version) / filename
    spec = importlib.util.spec_from_file_location(f"triton_model_{name}_{version}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    config_json = json_format.MessageToDict(config, preserving_proto_field_name=True)
    model.initialize({
        "model_config": json.dumps(config_json),
        "model_repository": str(repository / name),
        "model_version": str(version),
        "model_name": name,
    })
    return model


__all__ = ["RUNNER_FILENAME", "load_model"]
