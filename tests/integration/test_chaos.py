"""Chaos: a replica killed whole (kill -9) behind the front and brought back, a stub killed, a server stopped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from rawvision.imaging import encode
from rawvision.loadtest.chaos import children, kill_whole
from rawvision.server import metrics
from rawvision.server.control import ModelControl, publish
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.health import HealthServer, liveness, readiness
from rawvision.server.nginx import Admission, Nginx
from rawvision.server.watchdog import restart_config
from tests.polling import wait_for

pytestmark = pytest.mark.integration

REQUESTS = 1_500
CONNECTIONS = 8


def replica(repository: Path, log: Path, ports: tuple[int, int, int] | None = None) -> EmbeddedServer:
    http, grpc, metrics_port = ports or tuple(free_ports(3))
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics_port,
                            load_models=("mnist",))
    return EmbeddedServer(options, log.open("ab"))


def answered(server: ServerOptions) -> float:
    try:
        samples = metrics.scrape(f"http://{server.host}:{server.metrics_port}/metrics", timeout=2)
    except OSError:
        return 0.0
    return metrics.value(samples, "nv_inference_request_success", model="mnist")


class Load:
    """``REQUESTS`` requests to mnist through ``url`` from ``CONNECTIONS`` threads; every outcome kept."""

    def __init__(self, url: str, png: bytes, label: str) -> None:
        self.url, self.png, self.label = url, png, label
        self.outcomes: list[str] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(CONNECTIONS)
        self._left = REQUESTS

    def _worker(self) -> None:
        client = httpclient.InferenceServerClient(self.url, network_timeout=120)
        image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
        image.set_data_from_numpy(np.array([[self.png]], dtype=np.object_))
        while True:
            with self._lock:
                if self._left == 0:
                    break
                self._left -= 1
            try:
                result = client.infer("mnist", [image], outputs=[httpclient.InferRequestedOutput("LABELS")])
                got = result.as_numpy("LABELS")[0][0].decode()
                outcome = "ok" if got == self.label else f"wrong label {got}"
            except Exception as exc:  # every kind of failure counts
                outcome = f"error: {exc!r}"
            with self._lock:
                self.outcomes.append(outcome)
        client.close()

    def stop(self) -> None:
        with self._lock:
            self._left = 0

    def start(self) -> Load:
        self._futures = [self._pool.submit(self._worker) for _ in range(CONNECTIONS)]
        return self

    def done(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def finish(self) -> list[str]:
        for future in self._futures:
            future.result()
        self._pool.shutdown()
        return [o for o in self.outcomes if o != "ok"]


@pytest.fixture
def two_replicas(repository: Path, tmp_path: Path) -> Iterator[list[EmbeddedServer]]:
    servers = [replica(repository, tmp_path / f"server{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.start(timeout=300)
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_killing_one_replica_behind_the_front_fails_no_request(two_replicas: list[EmbeddedServer], mnist_split,  # type: ignore[no-untyped-def]
                                                               repository: Path, tmp_path: Path) -> None:
    png, label = encode(mnist_split.test_images[3], "PNG"), str(mnist_split.test_labels[3])
    first, second = two_replicas
    ports = (first.options.http_port, first.options.grpc_port, first.options.metrics_port)
    (port,) = free_ports(1)
    with Nginx(port, [s.options.http_url for s in two_replicas]) as nginx:
        # Killed under load.
        load = Load(nginx.url, png, label).start()
        assert wait_for(lambda: all(answered(s.options) >= 20 for s in two_replicas))
        at_kill = load.done()
        kill_whole(first)
        failed_kill = load.finish()
        print(f"kill -9 of one replica behind the front: {len(load.outcomes)} requests at {CONNECTIONS} "
              f"connections ({at_kill} before the kill), {len(failed_kill)} failed")
        # Brought back on the same ports under load: at least 1,500 requests, and on until it has rejoined.
        back = replica(repository, tmp_path / "server0.log", ports)
        two_replicas[0] = back
        load = Load(nginx.url, png, label)
        load._left = 100 * REQUESTS
        load.start()
        back.start(timeout=300)
        assert wait_for(lambda: answered(back.options) >= 20 and load.done() >= REQUESTS)
        load.stop()
        failed_back = load.finish()
        rejoined = answered(back.options)
        print(f"the same while it came back: {len(load.outcomes)} requests, {len(failed_back)} failed; "
              f"the returned replica answered {rejoined:.0f}")
        log = nginx.error_log()
    assert failed_kill == [], (failed_kill[:5], log[-2000:])
    assert failed_back == [], (failed_back[:5], log[-2000:])
    assert answered(second.options) > 0


def test_a_dead_stub_makes_readiness_say_not_ready_until_repaired(two_replicas: list[EmbeddedServer]) -> None:
    server = two_replicas[0]
    pid, url = server.process.pid, server.options.http_url
    with HealthServer(0, url, lambda: pid) as health:
        assert readiness(url, pid).ok, readiness(url, pid).problems
        stubs = children(pid)
        names = {stub: Path(Path(f"/proc/{stub}/cmdline").read_bytes().split(b"\0")[1].decode()).parents[1].name
                 for stub in stubs}
        victim = next(stub for stub, name in names.items() if name == "mnist_preprocess")
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        seen: list[tuple[float, bool, tuple[str, ...]]] = []

        def probe() -> bool:
            verdict = readiness(url, pid)
            seen.append((time.monotonic() - killed_at, verdict.ok, verdict.problems))
            return verdict.ok and any(not ok for _, ok, _ in seen)

        assert wait_for(probe, limit=120), seen[-3:]
        assert status_of(f"http://{health.url}/v2/health/ready") == 200
    not_ready = [t for t, ok, _ in seen if not ok]
    problems = next(p for _, ok, p in seen if not ok)
    print(f"stub of mnist_preprocess killed: readiness said not ready from {not_ready[0]:.1f} s to "
          f"{not_ready[-1]:.1f} s ({problems}); ready again at {seen[-1][0]:.1f} s after the watchdog's reload; "
          f"Triton's own /v2/health/ready stayed 200")
    assert any("mnist_preprocess" in p for p in problems)
    assert liveness(url, pid).ok


def test_liveness_notices_a_stopped_server(two_replicas: list[EmbeddedServer]) -> None:
    server = two_replicas[1]
    pid, url = server.process.pid, server.options.http_url
    assert liveness(url, pid).ok
    os.kill(pid, signal.SIGSTOP)
    try:
        assert wait_for(lambda: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T")
        verdict = liveness(url, pid, timeout=2)
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"SIGSTOPped server: liveness {verdict}")
    assert not verdict.ok
    assert wait_for(lambda: liveness(url, pid).ok)


def status_of(url: str) -> int:
    """GET ``url``; its status code, an error's included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


STORM = 32  # connections that resend at once, answered or refused (no backoff)


def test_a_hot_swap_during_a_retry_storm_answers_or_refuses_every_request(  # type: ignore[no-untyped-def]
        repository: Path, tmp_path: Path, mnist_split) -> None:
    copy = tmp_path / "model_repository"
    copy.mkdir()
    for model in repository.glob("mnist*"):
        shutil.copytree(model, copy / model.name, ignore=shutil.ignore_patterns("__pycache__"))
    http, grpc, metrics_port = free_ports(3)
    options = ServerOptions(repository=copy, http_port=http, grpc_port=grpc, metrics_port=metrics_port,
                            load_models=("mnist",), admin_key="chaos-admin-key")
    png, label = encode(mnist_split.test_images[2], "PNG"), str(mnist_split.test_labels[2])
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def storm(url: str) -> None:
        client = httpclient.InferenceServerClient(url, network_timeout=60)
        image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
        image.set_data_from_numpy(np.array([[png]], dtype=np.object_))
        while not stop.is_set():
            try:
                got = client.infer("mnist", [image]).as_numpy("LABELS")[0][0].decode()
                outcome = "answered" if got == label else f"wrong {got}"
            except InferenceServerException as exc:
                overloaded = str(exc.status()) == "503" and "overloaded" in str(exc.message())
                outcome = "refused: overloaded" if overloaded else f"{exc.status()} {exc.message()[:120]}"
            except Exception as exc:  # a hang ends in a timeout here, and counts
                outcome = f"error {exc!r}"[:160]
            with lock:
                outcomes[outcome] += 1
        client.close()

    (port,) = free_ports(1)
    with (tmp_path / "server.log").open("wb") as log, EmbeddedServer(options, log) as server, \
            Nginx(port, [options.http_url], admission=Admission(per_replica=4)) as nginx, \
            ModelControl(options.http_url, "chaos-admin-key") as control:
        threads = [threading.Thread(target=storm, args=(nginx.url,)) for _ in range(STORM)]
        for thread in threads:
            thread.start()
        try:
            assert wait_for(lambda: outcomes["refused: overloaded"] >= 100 and outcomes["answered"] >= 50)
            version = publish(control, copy, "mnist_onnx", source=copy / "mnist_onnx" / "1" / "model.onnx")
            swapped = sum(outcomes.values())
            assert wait_for(lambda: sum(outcomes.values()) >= swapped + 500)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        ready = control.ready_versions("mnist_onnx")
        # Triton's strict readiness says 400 while the old version is UNLOADING (under a second, seen here).
        settled = wait_for(lambda: readiness(options.http_url, server.process.pid, admin_key="chaos-admin-key").ok)
        after = readiness(options.http_url, server.process.pid, admin_key="chaos-admin-key")
    print(f"hot swap to mnist_onnx version {version} during a storm of {STORM} connections without backoff "
          f"through the front (4 in flight): {dict(outcomes)}; ready versions after: {ready}; readiness {after.ok}")
    assert set(outcomes) == {"answered", "refused: overloaded"}, outcomes
    assert ready == [str(version)] and settled, after.problems


def test_the_fronts_health_is_the_truthful_one(two_replicas: list[EmbeddedServer]) -> None:
    """With the watchdog stopped, a dead stub keeps the replica not ready: the front's /v2/health/ready says 503."""
    server = two_replicas[1]
    assert server.watchdog is not None
    server.watchdog.stop()
    pid, url = server.process.pid, server.options.http_url
    (port,) = free_ports(1)
    with HealthServer(0, url, lambda: pid) as health, \
            Nginx(port, [url], health_upstreams=[health.url]) as front:
        assert status_of(f"http://{front.url}/v2/health/ready") == 200
        victim = next(stub for stub in children(pid)
                      if b"mnist_postprocess" in Path(f"/proc/{stub}/cmdline").read_bytes())
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: not readiness(url, pid).ok)
        through_front = status_of(f"http://{front.url}/v2/health/ready")
        triton_own = status_of(f"http://{url}/v2/health/ready")
        client = httpclient.InferenceServerClient(url)  # repair by hand, as the watchdog would
        client.load_model("mnist_postprocess", config=json.dumps(restart_config(client, "mnist_postprocess")))
        client.close()
        assert wait_for(lambda: status_of(f"http://{front.url}/v2/health/ready") == 200)
    print(f"dead mnist_postprocess stub, no watchdog: the front's /v2/health/ready {through_front}, Triton's own "
          f"{triton_own}; 200 again after the reload")
    assert (through_front, triton_own) == (503, 200)
