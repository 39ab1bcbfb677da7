"""The guarded front door through the real nginx: curl and tritonclient over TLS, HTTP and gRPC."""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.imaging import encode
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.front import Certificate, body_limit, self_signed_certificate
from rawvision.server.nginx import Guard, Nginx

pytestmark = pytest.mark.integration

KEY = "front-door-test-key"
GOOD = {"Authorization": f"Bearer {KEY}"}
GOOD_METADATA = {"authorization": GOOD["Authorization"]}  # gRPC metadata keys are lower case
WRONG = {"Authorization": "Bearer not-the-key-at-all"}


@pytest.fixture(scope="module")
def triton(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerOptions]:
    http, grpc_port, metrics_port = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc_port, metrics_port=metrics_port,
                            load_models=("mnist",))
    log = tmp_path_factory.mktemp("triton") / "server.log"
    with log.open("wb") as handle:
        server = EmbeddedServer(options, handle)
        try:
            server.start(timeout=300)
            yield options
        finally:
            server.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed_certificate(tmp_path_factory.mktemp("cert"))


def front(triton: ServerOptions, certificate: Certificate, repository: Path, rate: float, burst: int) -> Nginx:
    port, grpc_port = free_ports(2)
    guard = Guard(KEY, certificate.certificate, certificate.private_key, body_limit(repository, ["mnist"]),
                  rate, burst)
    return Nginx(port, [triton.http_url], grpc_port=grpc_port, grpc_upstreams=[triton.grpc_url], guard=guard)


@pytest.fixture(scope="module")
def door(triton: ServerOptions, certificate: Certificate, repository: Path) -> Iterator[Nginx]:
    with front(triton, certificate, repository, rate=1000, burst=1000) as nginx:
        yield nginx


@pytest.fixture(scope="module")
def digit(mnist_split: Any) -> tuple[bytes, str]:
    return encode(mnist_split.test_images[3], "PNG"), str(mnist_split.test_labels[3])


def curl(nginx: Nginx, certificate: Certificate, path: str, headers: dict[str, str] | None = None,
         body: Path | None = None) -> int:
    """The HTTP status curl gets for ``path`` at the front door, verifying its certificate."""
    binary = shutil.which("curl")
    assert binary is not None, "curl is not installed (make setup)"
    command = [binary, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(certificate.certificate),
               f"https://{nginx.url}{path}"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if body is not None:
        command += ["-H", "Content-Type: application/octet-stream", "--data-binary", f"@{body}"]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def image_input(module: Any, payload: bytes) -> Any:
    tensor = module.InferInput("IMAGE", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[payload]], dtype=np.object_))
    return tensor


def http_client(nginx: Nginx, certificate: Certificate) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(nginx.url, ssl=True, ssl_options={"ca_certs": str(certificate.certificate)})


def grpc_client(nginx: Nginx, certificate: Certificate) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(nginx.grpc_url, ssl=True, root_certificates=str(certificate.certificate))


def test_curl_gets_401_without_or_with_a_wrong_key_and_passes_with_it(door: Nginx, certificate: Certificate) -> None:
    assert curl(door, certificate, "/v2/models/mnist") == 401
    assert curl(door, certificate, "/v2/models/mnist", WRONG) == 401
    assert curl(door, certificate, "/v2/models/mnist", GOOD) == 200
    assert curl(door, certificate, "/v2/health/ready") == 200  # health stays open


def test_curl_gets_413_above_the_body_limit(door: Nginx, certificate: Certificate, tmp_path: Path,
                                            digit: tuple[bytes, str]) -> None:
    body, json_size = httpclient.InferenceServerClient.generate_request_body([image_input(httpclient, digit[0])])
    request = tmp_path / "request.bin"
    request.write_bytes(body)
    headers = {**GOOD, "Inference-Header-Content-Length": str(json_size)}
    assert curl(door, certificate, "/v2/models/mnist/infer", headers, request) == 200
    assert door.guard is not None
    request.write_bytes(b"\0" * (door.guard.max_body_bytes + 1))
    assert curl(door, certificate, "/v2/models/mnist/infer", headers, request) == 413


def test_tritonclient_http_over_tls(door: Nginx, certificate: Certificate, digit: tuple[bytes, str]) -> None:
    png, label = digit
    client = http_client(door, certificate)
    try:
        result = client.infer("mnist", [image_input(httpclient, png)], headers=GOOD)
        assert result.as_numpy("LABELS")[0][0].decode() == label
        for headers in (None, WRONG):
            with pytest.raises(InferenceServerException) as refused:
                client.infer("mnist", [image_input(httpclient, png)], headers=headers)
            assert refused.value.status() == "401" and "API key" in str(refused.value.message())
        assert door.guard is not None
        oversized = b"\x89PNG" + b"\0" * door.guard.max_body_bytes
        with pytest.raises(InferenceServerException) as too_large:
            client.infer("mnist", [image_input(httpclient, oversized)], headers=GOOD)
        assert too_large.value.status() == "413"
        # Under the limit but above nginx's in-memory body buffer: spooled to a file, then Triton answers.
        large = b"\x89PNG" + b"\0" * (door.guard.max_body_bytes - 100_000)
        with pytest.raises(InferenceServerException) as decoder:
            client.infer("mnist", [image_input(httpclient, large)], headers=GOOD)
        assert decoder.value.status() == "400" and "IMAGE[0]" in str(decoder.value.message())
    finally:
        client.close()


def test_tritonclient_grpc_over_tls(door: Nginx, certificate: Certificate, digit: tuple[bytes, str]) -> None:
    png, label = digit
    client = grpc_client(door, certificate)
    try:
        assert client.is_server_ready()  # health stays open on gRPC too
        result = client.infer("mnist", [image_input(grpcclient, png)], headers=GOOD_METADATA)
        assert result.as_numpy("LABELS")[0][0].decode() == label
        for headers in (None, {"authorization": WRONG["Authorization"]}):
            with pytest.raises(InferenceServerException) as refused:
                client.infer("mnist", [image_input(grpcclient, png)], headers=headers)
            assert refused.value.status() == str(grpc.StatusCode.UNAUTHENTICATED)
        assert door.guard is not None
        oversized = b"\x89PNG" + b"\0" * door.guard.max_body_bytes
        with pytest.raises(InferenceServerException) as too_large:
            client.infer("mnist", [image_input(grpcclient, oversized)], headers=GOOD_METADATA)
        assert too_large.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED)
    finally:
        client.close()


def test_a_burst_beyond_the_rate_gets_429_then_resource_exhausted(triton: ServerOptions, certificate: Certificate,
                                                                   repository: Path) -> None:
    # One request per minute with a burst of 2: of 8 quick requests at most 3 pass (4 if a minute
    # went by), whatever the machine's speed; the zone is per client address, shared by HTTP and gRPC.
    with front(triton, certificate, repository, rate=1 / 60, burst=2) as nginx:
        statuses = [curl(nginx, certificate, "/v2/models/mnist", GOOD) for _ in range(8)]
        print(f"8 quick requests at 1/min, burst 2: {statuses}")
        assert statuses[0] == 200 and set(statuses) == {200, 429} and statuses.count(200) <= 4, statuses
        client = grpc_client(nginx, certificate)
        try:
            with pytest.raises(InferenceServerException) as limited:
                for _ in range(4):
                    client.get_model_metadata("mnist", headers=GOOD_METADATA)
            assert limited.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert "rate limit" in str(limited.value.message())
        finally:
            client.close()


def test_rawvision_front_serves_until_sigint(triton: ServerOptions, repository: Path, tmp_path: Path) -> None:
    port, grpc_port = free_ports(2)
    command = [str(Path(sys.executable).with_name("rawvision")), "front", "--upstream", triton.http_url,
               "--grpc-upstream", triton.grpc_url, "--port", str(port), "--grpc-port", str(grpc_port),
               "--api-key", KEY, "--cert-dir", str(tmp_path / "cert"), "--repository", str(repository),
               "--ensemble", "mnist"]
    front_process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert front_process.stdout is not None
        lines = [front_process.stdout.readline(), front_process.stdout.readline()]
        assert lines[1].startswith(f"front door: HTTPS https://127.0.0.1:{port}"), (lines, front_process.stderr)
        assert f"body ≤ {body_limit(repository, ['mnist'])} bytes" in lines[1]
        certificate = Certificate(tmp_path / "cert" / "front.crt", tmp_path / "cert" / "front.key")
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}", ssl=True,
                                                  root_certificates=str(certificate.certificate))
        try:
            assert client.get_model_metadata("mnist", headers=GOOD_METADATA).name == "mnist"
        finally:
            client.close()
    finally:
        front_process.send_signal(signal.SIGINT)
        code = front_process.wait(30)
    assert code == 0


def test_rawvision_classify_a_folder_through_the_front_door(door: Nginx, certificate: Certificate, mnist_split: Any,
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(40):
        (folder / f"{index:02d}.png").write_bytes(encode(mnist_split.test_images[index], "PNG"))
    (folder / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "results.csv"
    rawvision = str(Path(sys.executable).with_name("rawvision"))
    common = [rawvision, "classify", str(folder), "--out", str(out), "--ca-cert", str(certificate.certificate)]
    refused = subprocess.run([*common, "--url", door.url, "--api-key", "not-the-key-at-all"], capture_output=True,
                             text=True, check=False)
    assert refused.returncode == 1 and "API key" in refused.stderr
    done = subprocess.run([*common, "--url", door.grpc_url, "--grpc", "--api-key", KEY, "--overwrite"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("41 files: 40 classified, 1 errors"), done.stdout
    rows = {row["file"]: row for row in csv.DictReader(out.open())}
    assert rows[str(folder / "broken.png")]["cause"] == "not a decodable image"
    labels = [rows[str(folder / f"{index:02d}.png")]["labels"].split("|")[0] for index in range(40)]
    assert sum(label == str(truth) for label, truth in zip(labels, mnist_split.test_labels[:40], strict=True)) >= 38
