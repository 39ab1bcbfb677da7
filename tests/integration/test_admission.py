"""Admission at the front: past the bound a request is refused (503, Retry-After, "overloaded") before its body."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf import text_format

from rawvision.repository import read_config
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.nginx import Admission, Nginx
from tests import sleepy

pytestmark = pytest.mark.integration

TEST_MODELS = Path(__file__).parents[1] / "models"
STEP_SECONDS = 2.0  # long enough that every client arrives while the admitted one runs
CLIENTS = 6


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    """A server with the ``sleepy`` step, one request at a time."""
    repository = tmp_path_factory.mktemp("admission")
    shutil.copytree(TEST_MODELS / "sleepy", repository / "sleepy")
    config = read_config(repository / "sleepy" / "config.pbtxt")
    config.max_batch_size = 1
    del config.parameters["execute_timeout_s"]
    (repository / "sleepy" / "config.pbtxt").write_text(text_format.MessageToString(config))
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            load_models=("sleepy",), watchdog=False)
    with (repository / "server.log").open("wb") as log, EmbeddedServer(options, log=log):
        yield options


# One request in flight: the bound on all inference, or sleepy's own bound under a looser total (the gate's way).
BOUNDS = {"total": Admission(per_replica=1), "per pipeline": Admission(per_replica=8, pipelines=(("sleepy", 1),))}


@pytest.fixture(scope="module", params=list(BOUNDS))
def front(slow_server: ServerOptions, request: pytest.FixtureRequest) -> Iterator[Nginx]:
    """The front with one ``sleepy`` request in flight per replica."""
    (port,) = free_ports(1)
    with Nginx(port, [slow_server.http_url], admission=BOUNDS[request.param]) as nginx:
        yield nginx


def sleep_request(url: str, seconds: float = STEP_SECONDS) -> tuple[int, dict[str, str], str]:
    """POST one ``sleepy`` request; (status, headers, body)."""
    return sleepy.sleep_request(url, seconds)


def test_past_the_bound_clients_are_refused_with_retry_after_and_words(front: Nginx) -> None:
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda _: sleep_request(front.url), range(CLIENTS)))
    statuses = sorted(status for status, _, _ in answers)
    refused = [(headers, body) for status, headers, body in answers if status == 503]
    print(f"front, 1 in flight per replica, {CLIENTS} clients at once: statuses {statuses}")
    assert statuses.count(200) >= 1 and len(refused) >= 1 and set(statuses) <= {200, 503}, statuses
    for headers, body in refused:
        assert headers.get("Retry-After") == "1", headers
        assert "overloaded" in json.loads(body)["error"], body


def slot_taken(url: str) -> bool:
    """Whether the front refuses a request that sleeps 0 s (503): its one slot is in use."""
    return sleep_request(url, 0.0)[0] == 503


def test_a_refusal_comes_before_the_body_is_read(front: Nginx) -> None:
    """With the slot taken, a request that announces a large body and sends none is refused at once.

    The header-only probe goes out only once a request has seen the slot taken by the held one: a probe
    admitted to a free slot would hold it itself, waiting for its body (client_body_timeout).
    """
    host, port = front.url.split(":")
    head = (b"POST /v2/models/sleepy/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n")
    answer = b""
    with ThreadPoolExecutor(1) as pool:
        for _ in range(20):  # bounded: each try lasts at most one STEP_SECONDS request
            held = pool.submit(sleep_request, front.url)
            while not held.done() and not slot_taken(front.url):
                pass
            if held.done():  # it finished, or lost the slot to a probe: hold it again
                continue
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                sock.sendall(head)  # the header only: nginx would wait client_body_timeout for the body
                answer = sock.recv(4096)
            assert held.result()[0] == 200
            break
    status_line, _, rest = answer.partition(b"\r\n")
    print(f"refusal without a body: {status_line.decode()}")
    assert b" 503 " in status_line, answer[:300]
    assert b"Retry-After: 1" in rest and b"overloaded" in rest


def test_health_is_not_bounded(front: Nginx, slow_server: ServerOptions) -> None:
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(sleep_request, front.url)
        with urllib.request.urlopen(f"http://{front.url}/v2/health/ready", timeout=10) as response:
            assert response.status == 200
        assert held.result()[0] == 200


def test_metadata_and_model_control_are_not_bounded_by_a_pipelines_bound(front: Nginx) -> None:
    """(Under the bound on all inference, the replica's ``max_conns`` counts every proxied request.)"""
    if dict(front.admission.pipelines).get("sleepy") != front.admission.per_replica - 7:
        pytest.skip("only sleepy's own bound leaves the rest free")
    with ThreadPoolExecutor(1) as pool:
        for _ in range(20):  # bounded, as above: hold the slot, then ask for what must still pass
            held = pool.submit(sleep_request, front.url)
            while not held.done() and not slot_taken(front.url):
                pass
            if held.done():
                continue
            with urllib.request.urlopen(f"http://{front.url}/v2/models/sleepy", timeout=10) as response:
                assert response.status == 200
            index = urllib.request.Request(f"http://{front.url}/v2/repository/index", b"{}", method="POST")
            with urllib.request.urlopen(index, timeout=10) as response:
                assert response.status == 200 and b"sleepy" in response.read()
            assert held.result()[0] == 200
            return
    pytest.fail("the held request never kept the slot")
