"""A killed stub and a hung step recover without an operator (explicit mode + the stub watchdog)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.client import classify_client
from rawvision.imaging import encode
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.watchdog import stub_models
from tests.polling import wait_for

pytestmark = pytest.mark.integration
TEST_MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def watched(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    copy = tmp_path_factory.mktemp("repo") / "model_repository"
    shutil.copytree(repository, copy)
    shutil.copytree(TEST_MODELS / "sleepy", copy / "sleepy")
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=copy, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            model_control_mode="explicit", load_models=("mnist", "sleepy"))
    with (tmp_path_factory.mktemp("log") / "server.log").open("wb") as log, EmbeddedServer(options, log) as server:
        yield server



def test_killed_stub_is_reloaded_and_traffic_recovers(watched: EmbeddedServer, mnist_split) -> None:  # type: ignore[no-untyped-def]
    png = encode(mnist_split.test_images[0], "PNG")
    label = str(mnist_split.test_labels[0])
    events: list[tuple[float, str]] = []  # (when the request was sent, its answer)
    stop = threading.Event()

    def stream() -> None:
        client = classify_client.Client(watched.options.http_url, "mnist")
        while not stop.is_set():
            sent = time.monotonic()
            try:
                events.append((sent, client.classify([png])[0][0].label))
            except classify_client.ClientError as exc:
                events.append((sent, f"error: {exc}"))
        client.close()

    threads = [threading.Thread(target=stream) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(lambda: len(events) >= 20)
        victim = next(pid for pid, model in stub_models(watched.process.pid).items() if model == "mnist_preprocess")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_for(lambda: reloaded_at(watched, "mnist_preprocess") is not None)
        ready_again = reloaded_at(watched, "mnist_preprocess")
        assert ready_again is not None
        assert wait_for(lambda: sum(sent > ready_again for sent, _ in events) >= 30)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    failures = [(sent, answer) for sent, answer in events if answer.startswith("error")]
    after = [answer for sent, answer in events if sent > ready_again]
    assert after and all(answer == label for answer in after), [a for a in after if a != label][:3]
    assert all("mnist_preprocess" in answer and sent < ready_again for sent, answer in failures), failures[:3]
    print(f"\n{len(failures)} of {len(events)} requests failed, all sent in the "
          f"{ready_again - killed_at:.2f} s between the kill and the reload")


def reloaded_at(server: EmbeddedServer, model: str) -> float | None:
    assert server.watchdog is not None
    return next((when for name, when in server.watchdog.reloads if name == model), None)


def test_hung_step_times_out_with_an_error_and_is_restarted(watched: EmbeddedServer) -> None:
    client = httpclient.InferenceServerClient(watched.options.http_url, network_timeout=60)

    def sleep_for(seconds: float) -> None:
        tensor = httpclient.InferInput("SECONDS", [1, 1], "FP32")
        tensor.set_data_from_numpy(np.array([[seconds]], np.float32))
        client.infer("sleepy", [tensor])

    sleep_for(0.0)
    with pytest.raises(InferenceServerException, match="did not finish within its execute timeout of 1 s"):
        sleep_for(30.0)
    assert wait_for(lambda: reloaded_at(watched, "sleepy") is not None)

    def answers() -> bool:
        try:
            sleep_for(0.0)
            return True
        except InferenceServerException:
            return False

    assert wait_for(answers)
