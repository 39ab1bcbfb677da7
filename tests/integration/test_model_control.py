"""Model control on a real server: the locked admin API, publish, and a version swap under load."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.client import classify_client
from rawvision.imaging import encode
from rawvision.repository import model_names
from rawvision.server.control import ADMIN_HEADER, GRPC_HEADER_PREFIX, ControlError, ModelControl, publish
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from tests.polling import wait_for

pytestmark = pytest.mark.integration
KEY = "test-admin-key"
CORE = "mnist_onnx"
RAWVISION = str(Path(sys.executable).with_name("rawvision"))


def copy_repository(source: Path, target: Path) -> Path:
    """The mnist models only (publish writes into the copy; fewer models keep the start quick)."""
    target.mkdir(parents=True)
    for model in source.glob("mnist*"):
        shutil.copytree(model, target / model.name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def top_label(url: str, png: bytes) -> str:
    client = classify_client.Client(url, "mnist")
    try:
        return client.classify([png])[0][0].label
    finally:
        client.close()


@pytest.fixture(scope="module")
def locked(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server on a copy of the repository (publish writes to it), started with an admin key."""
    copy = copy_repository(repository, tmp_path_factory.mktemp("repo") / "model_repository")
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=copy, http_port=http, grpc_port=grpc, metrics_port=metrics, admin_key=KEY)
    log_path = tmp_path_factory.mktemp("log") / "server.log"
    print(f"server log: {log_path}")
    with log_path.open("wb") as log, EmbeddedServer(options, log) as server:
        yield server
        assert server.process.poll() is None, log_path.read_text(errors="replace")[-3000:]


def test_the_server_loads_every_model_by_default(locked: EmbeddedServer) -> None:
    with ModelControl(locked.options.http_url, KEY) as control:
        states = {(row.name, row.state) for row in control.models()}
    assert ("mnist", "READY") in states
    assert {("mnist_preprocess", "READY"), (CORE, "READY"), ("mnist_postprocess", "READY")} <= states
    assert {name for name, _ in states} == set(model_names(locked.options.repository))
    assert all(state == "READY" for _, state in states)


def test_repository_api_needs_the_key_and_everything_else_stays_open(locked: EmbeddedServer, mnist_split) -> None:  # type: ignore[no-untyped-def]
    url = locked.options.http_url
    for key in (None, "wrong-key"):
        with ModelControl(url, key) as control:
            with pytest.raises(ControlError, match="This API is restricted"):
                control.load(CORE)
            with pytest.raises(ControlError, match="This API is restricted"):
                control.models()
    with ModelControl(url, KEY) as control:
        control.load(CORE)  # unchanged model: accepted, a no-op
        assert control.ready_versions(CORE) == ["1"]
    triton = httpclient.InferenceServerClient(url)
    assert triton.is_server_ready() and triton.is_model_ready("mnist")
    assert triton.get_model_metadata("mnist")["name"] == "mnist"
    assert triton.get_model_config(CORE)["name"] == CORE
    triton.close()
    assert top_label(url, encode(mnist_split.test_images[0], "PNG")) == str(mnist_split.test_labels[0])
    grpc = grpcclient.InferenceServerClient(locked.options.grpc_url)
    with pytest.raises(InferenceServerException, match="restricted"):
        grpc.load_model(CORE)
    grpc.load_model(CORE, headers={f"{GRPC_HEADER_PREFIX}{ADMIN_HEADER}": KEY})
    assert grpc.is_model_ready("mnist")
    grpc.close()


def test_models_cli_lists_with_the_key_and_is_refused_without(locked: EmbeddedServer) -> None:
    url = locked.options.http_url
    listed = subprocess.run([RAWVISION, "models", "--url", url, "--admin-key", KEY, "list"],
                            capture_output=True, text=True, check=True).stdout
    rows = {tuple(line.split()[:3]) for line in listed.splitlines()}
    assert ("mnist", "1", "READY") in rows and (CORE, "1", "READY") in rows, listed
    refused = subprocess.run([RAWVISION, "models", "--url", url, "list"], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin"})
    assert refused.returncode == 1 and "restricted" in refused.stderr


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(locked: EmbeddedServer, tmp_path: Path,
                                                                 mnist_split) -> None:  # type: ignore[no-untyped-def]
    broken = onnx.load(str(Path(locked.options.repository) / CORE / "1" / "model.onnx"))
    broken.graph.input[0].name = "not_the_configured_input"
    for node in broken.graph.node:
        node.input[:] = ["not_the_configured_input" if n == "preprocessed_image" else n for n in node.input]
    path = tmp_path / "model.onnx"
    onnx.save(broken, str(path))
    with ModelControl(locked.options.http_url, KEY) as control:
        with pytest.raises(ControlError, match="old version keeps serving"):
            publish(control, locked.options.repository, CORE, source=path)
        assert control.ready_versions(CORE) == ["1"]
    assert not (Path(locked.options.repository) / CORE / "2").exists()
    assert top_label(locked.options.http_url, encode(mnist_split.test_images[1], "PNG")) == str(
        mnist_split.test_labels[1])


class Stream:
    """Client threads that classify one digit in a loop and record (sent, answered version or error)."""

    def __init__(self, url: str, png: bytes, label: str, threads: int = 4) -> None:
        self.url, self.png, self.label = url, png, label
        self.events: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        client = httpclient.InferenceServerClient(self.url)
        image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
        image.set_data_from_numpy(np.array([[self.png]], dtype=np.object_))
        outputs = [httpclient.InferRequestedOutput(name) for name in ("LABELS", "MODEL_VERSION")]
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                result = client.infer("mnist", [image], outputs=outputs)
                label = result.as_numpy("LABELS")[0][0].decode()
                version = int(result.as_numpy("MODEL_VERSION")[0][0])
                self.events.append((sent, str(version) if label == self.label else f"wrong label {label}"))
            except Exception as exc:  # a timeout or a refused connection counts as a failed request too
                self.events.append((sent, f"error: {exc!r}"))
        client.close()

    def count_after(self, moment: float) -> int:
        return sum(sent > moment for sent, _ in self.events)

    def answers(self, start: float, end: float = float("inf")) -> set[str]:
        return {answer for sent, answer in self.events if start < sent < end}



def test_swap_to_a_new_version_and_back_under_load_fails_no_request(locked: EmbeddedServer,
                                                                    mnist_split) -> None:  # type: ignore[no-untyped-def]
    url = locked.options.http_url
    png, label = encode(mnist_split.test_images[2], "PNG"), str(mnist_split.test_labels[2])
    v1_file = Path(locked.options.repository) / CORE / "1" / "model.onnx"
    with ModelControl(url, KEY) as control, Stream(url, png, label) as stream:
        assert wait_for(lambda: len(stream.events) >= 30)
        publish_started = time.monotonic()
        version = publish(control, locked.options.repository, CORE, source=v1_file)
        published = time.monotonic()
        assert control.ready_versions(CORE) == [str(version)]
        assert wait_for(lambda: stream.count_after(published) >= 50)
        rollback_started = time.monotonic()
        control.load(CORE, versions=[1])
        rolled_back = time.monotonic()
        assert control.ready_versions(CORE) == ["1"]
        assert wait_for(lambda: stream.count_after(rolled_back) >= 50)
    answers = [answer for _, answer in stream.events]
    failures = [answer for answer in answers if answer not in ("1", str(version))]
    assert failures == [], failures[:5]
    assert version == 2
    assert stream.answers(0, publish_started) == {"1"}
    # Every request sent after publish returned (and before the rollback began) got the new version.
    assert stream.answers(published, rollback_started) == {"2"}
    assert stream.answers(rolled_back) == {"1"}
    print(f"swap 1 → 2 → 1 under load: {len(answers)} requests, {len(failures)} failed, "
          f"{answers.count('2')} answered by version 2")


def publish_cli(server: EmbeddedServer, name: str, export: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAWVISION, "models", "--url", server.options.http_url, "--admin-key", KEY, "publish", name,
                           "--repository", str(server.options.repository), "--export", export],
                          capture_output=True, text=True, timeout=600)


def test_publish_runs_the_export_in_process_and_serves_it(locked: EmbeddedServer, repository: Path) -> None:
    """EfficientNet-Lite0 (no training) published as imagenet_onnx version 2 from an export command."""
    copy = Path(locked.options.repository)
    for model in ("imagenet_preprocess", "imagenet_onnx", "imagenet_postprocess"):
        shutil.copytree(repository / model, copy / model, ignore=shutil.ignore_patterns("__pycache__"))
    with ModelControl(locked.options.http_url, KEY) as control:
        control.load("imagenet_onnx")
        try:
            done = publish_cli(locked, "imagenet_onnx", "rawvision export imagenet --format onnx")
            assert done.returncode == 0, done.stderr[-2000:]
            assert control.ready_versions("imagenet_onnx") == ["2"]
        finally:
            control.unload("imagenet_onnx")
    written = copy / "imagenet_onnx" / "2" / "model.onnx"
    assert written.is_file() and written.read_bytes() != b""
    assert f"wrote {written}" in done.stdout and "imagenet_onnx: version 2 is serving" in done.stdout


def test_an_export_that_fails_its_accuracy_check_leaves_the_old_version_serving(locked: EmbeddedServer) -> None:
    """One epoch of DigitCNN reaches about 0.91 held out, below mnist's minimum of 0.97."""
    model_dir = Path(locked.options.repository) / CORE
    folders = sorted(model_dir.iterdir())
    with ModelControl(locked.options.http_url, KEY) as control:
        before = control.ready_versions(CORE)
        done = publish_cli(locked, CORE, "mnist --epochs 1")
        assert done.returncode == 1
        assert "old version keeps serving" in done.stderr and "below the minimum 0.97" in done.stderr
        assert control.ready_versions(CORE) == before
    assert sorted(model_dir.iterdir()) == folders
