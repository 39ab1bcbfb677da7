"""Bounded under overload: a tiny queue in front of a slow step rejects the excess at once, and recovers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf import text_format
from tritonclient.utils import InferenceServerException

from rawvision.pipelines.queue_policy import QueuePolicy, apply_queue_policy
from rawvision.repository import read_config
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports

TEST_MODELS = Path(__file__).parents[1] / "models"
STEP_SECONDS = 1.0  # long enough that all clients arrive while the first request runs
CLIENTS = 12
ENSEMBLE = """
name: "sleepy_ensemble"
platform: "ensemble"
max_batch_size: 1
input [ { name: "SECONDS" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "SLEPT" data_type: TYPE_FP32 dims: [ 1 ] } ]
ensemble_scheduling { step [ { model_name: "sleepy" model_version: -1
  input_map { key: "SECONDS" value: "SECONDS" } output_map { key: "SLEPT" value: "SLEPT" } } ] }
"""


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    """A server whose ``sleepy`` step runs one request at a time with at most two waiting."""
    repository = tmp_path_factory.mktemp("bounded")
    shutil.copytree(TEST_MODELS / "sleepy", repository / "sleepy")
    config = read_config(repository / "sleepy" / "config.pbtxt")
    config.max_batch_size = 1
    del config.parameters["execute_timeout_s"]
    apply_queue_policy(config, QueuePolicy(max_queue_size=2, timeout_microseconds=30_000_000))
    (repository / "sleepy" / "config.pbtxt").write_text(text_format.MessageToString(config))
    # The same step with room to wait but a short queue timeout: the waiting ones time out.
    config.name = "sleepy_timeout"
    apply_queue_policy(config, QueuePolicy(max_queue_size=100, timeout_microseconds=100_000))
    shutil.copytree(repository / "sleepy" / "1", repository / "sleepy_timeout" / "1")
    (repository / "sleepy_timeout" / "config.pbtxt").write_text(text_format.MessageToString(config))
    (repository / "sleepy_ensemble" / "1").mkdir(parents=True)
    (repository / "sleepy_ensemble" / "config.pbtxt").write_text(ENSEMBLE)
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            load_models=("sleepy", "sleepy_ensemble", "sleepy_timeout"), watchdog=False)
    log_path = repository / "server.log"
    with log_path.open("wb") as log, EmbeddedServer(options, log=log):
        yield options


def _call(options: ServerOptions, model: str, protocol: str = "http") -> Callable[[int], tuple[str, object]]:
    """One client call to ``model`` over ``protocol``: ("ok", the answer) or (status, message)."""
    module: Any = httpclient if protocol == "http" else grpcclient
    url = options.http_url if protocol == "http" else options.grpc_url

    def call(_: int) -> tuple[str, object]:
        client = module.InferenceServerClient(url)
        tensor = module.InferInput("SECONDS", [1, 1], "FP32")
        tensor.set_data_from_numpy(np.full((1, 1), STEP_SECONDS, np.float32))
        try:
            return "ok", client.infer(model, [tensor]).as_numpy("SLEPT")
        except InferenceServerException as exc:
            return str(exc.status()), exc.message()
    return call


@pytest.mark.parametrize("model", ["sleepy", "sleepy_ensemble"])
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_excess_is_rejected_and_the_rest_served(bounded: ServerOptions, model: str, protocol: str) -> None:
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(_call(bounded, model, protocol), range(CLIENTS)))
    accepted = [value for status, value in results if status == "ok"]
    rejected = [(status, value) for status, value in results if status != "ok"]
    assert accepted and rejected, results
    for value in accepted:
        np.testing.assert_array_equal(value, np.full((1, 1), STEP_SECONDS, np.float32))
    expected = "503" if protocol == "http" else "StatusCode.UNAVAILABLE"
    for status, message in rejected:
        assert status == expected, (status, message)
        assert "queue" in str(message).lower(), message
    assert httpclient.InferenceServerClient(bounded.http_url).is_server_ready()
    assert _call(bounded, model)(0)[0] == "ok"


def test_requests_waiting_past_the_queue_timeout_are_rejected(bounded: ServerOptions) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(_call(bounded, "sleepy_timeout"), range(4)))
    statuses = [status for status, _ in results]
    assert "ok" in statuses and "503" in statuses, results
    assert all("timeout" in str(message).lower() for status, message in results if status != "ok"), results
    assert _call(bounded, "sleepy_timeout")(0)[0] == "ok"
