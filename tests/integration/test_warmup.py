"""Warm at start: every step ran its warm-up before ready, and the first request to each ensemble succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from rawvision.pipelines.warmup_samples import WARMUP_DIR
from rawvision.repository import ensemble_names, model_config, model_names
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.warmup_stats import StepWarmup, model_stats, step_warmups


@pytest.fixture(scope="module")
def fresh(repository: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerOptions, list[StepWarmup]]]:
    """A server of its own with every model, and its statistics read right after ready (before any request)."""
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            watchdog=False)
    log_path = tmp_path_factory.mktemp("warm") / "server.log"
    with log_path.open("wb") as log, EmbeddedServer(options, log=log):
        yield options, step_warmups(model_stats(options.http_url))


def _steps(repository: Path) -> list[str]:
    return [m for m in model_names(repository) if model_config(repository, m, "embedded").platform != "ensemble"]


def test_every_step_ran_each_warmup_batch_size_before_ready(repository: Path, fresh) -> None:  # type: ignore[no-untyped-def]
    _, warmed = fresh
    by_model = {(s.model, s.version): s for s in warmed}
    for model in _steps(repository):
        config = model_config(repository, model, "embedded")
        assert config.model_warmup, f"{model} has no model_warmup"
        versions = [v for (name, v) in by_model if name == model]
        assert versions, f"{model} executed nothing before ready"
        for version in versions:
            step = by_model[(model, version)]
            assert set(step.batch_sizes) == {s.batch_size for s in config.model_warmup}, step
            assert step.failures == 0, step


def _sample(repository: Path, ensemble: str) -> bytes:
    entry = model_config(repository, ensemble).ensemble_scheduling.step[0].model_name
    first = sorted((repository / entry / WARMUP_DIR).iterdir())[0]
    return first.read_bytes()[4:]  # a one-element serialized BYTES tensor: 4-byte length, then the image


@pytest.mark.parametrize("ensemble", ensemble_names(Path(__file__).parents[2] / "model_repository"))
def test_first_request_to_each_ensemble_succeeds(repository: Path, fresh, ensemble: str) -> None:  # type: ignore[no-untyped-def]
    options, _ = fresh
    config = model_config(repository, ensemble)
    client = httpclient.InferenceServerClient(options.http_url, network_timeout=120)
    shape = [1, 1] if config.max_batch_size > 0 else [1]
    tensor = httpclient.InferInput("IMAGE", shape, "BYTES")
    tensor.set_data_from_numpy(np.array([_sample(repository, ensemble)], dtype=np.object_).reshape(shape))
    result = client.infer(ensemble, [tensor])
    if ensemble == "ocr":
        assert len(result.as_numpy("TEXTS")) >= 1
    elif "COUNT" in {output.name for output in config.output}:  # a detector: its warm-up photo may hold nothing
        count = result.as_numpy("COUNT")
        assert count.shape == (1, 1) and result.as_numpy("BOXES").shape[:2] == (1, max(1, int(count[0, 0])))
    else:
        scores = result.as_numpy("SCORES")
        assert scores.shape[0] == 1 and scores.shape[1] >= 1 and np.all(np.isfinite(scores))
        if ensemble.startswith("mnist"):
            assert result.as_numpy("CLASS_IDS")[0][0] == 7  # the warm-up digit is a drawn 7
