"""``rawvision serve`` as a supervisor, run as a real subprocess: restart after kill -9, clean stops, give-up."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
import tritonclient.http as httpclient

from rawvision.imaging import encode
from rawvision.pipelines.queue_policy import inflight_bound
from rawvision.server import debris
from rawvision.server.control import ModelControl
from rawvision.server.embedded import free_ports
from rawvision.server.gate import Gate
from rawvision.server.metrics import scrape, value
from tests.polling import wait_for
from tests.sleepy import sleep_request

pytestmark = pytest.mark.integration
RAWVISION = str(Path(sys.executable).with_name("rawvision"))
TEST_MODELS = Path(__file__).resolve().parents[1] / "models"
STOP_TIMEOUT = 10.0


@dataclass
class Serve:
    """One ``rawvision serve`` subprocess, its ports and the owner tag of its servers' shm prefixes."""

    process: subprocess.Popen[bytes]
    ports: tuple[int, int, int, int]  # http, grpc, metrics, supervisor
    owner: str
    log: Path

    @property
    def prefix(self) -> str:
        return debris.owner_prefix(self.owner)

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.ports[0]}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def tritonservers(self) -> list[psutil.Process]:
        return debris.server_processes(self.prefix)

    def leftovers(self) -> list[str]:
        """What of this serve's servers remains: processes, regions, bound ports."""
        found = [f"process {p.pid}" for p in debris.server_processes(self.prefix) + debris.stub_processes(self.prefix)]
        found += [str(path) for path in debris.regions(self.prefix)]
        return found + [f"port {port}" for port in self.ports if not port_free(port)]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_count = iter(range(1_000_000))


def launch(repository: Path, tmp_path: Path, *args: str, ports: tuple[int, int, int, int] | None = None) -> Serve:
    """Start ``rawvision serve`` on free (or the given) ports with a tag of its own in the shm prefixes."""
    ports = ports or tuple(free_ports(4))  # type: ignore[assignment]
    assert ports is not None
    owner = f"{debris.owner_tag()}s{next(_count)}"
    log = tmp_path / f"serve-{owner}.log"
    http, grpc, metrics, supervisor = ports
    command = [RAWVISION, "serve", "--repository", str(repository), "--http-port", str(http), "--grpc-port",
               str(grpc), "--metrics-port", str(metrics), "--supervisor-port", str(supervisor),
               "--stop-timeout", str(STOP_TIMEOUT), *args]
    with log.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                   env={**os.environ, debris.OWNER_ENV: owner})
    return Serve(process, ports, owner, log)


def stop(serve: Serve) -> int:
    """SIGTERM and wait (bounded: a broken stop must not hang the run)."""
    if serve.process.poll() is None:
        serve.process.send_signal(signal.SIGTERM)
    try:
        return serve.process.wait(STOP_TIMEOUT + 20)
    except subprocess.TimeoutExpired:
        serve.process.kill()
        serve.process.wait()
        debris.remove_debris(serve.prefix)
        raise


@pytest.fixture
def serving(repository: Path, tmp_path: Path) -> Iterator[Serve]:
    """``serve`` on ``mnist``'s models (linked) and the test model ``sleepy`` (loaded later, by the test)."""
    small = tmp_path / "repository"
    small.mkdir()
    for name in ("mnist", "mnist_onnx", "mnist_preprocess", "mnist_postprocess"):
        (small / name).symlink_to(repository / name)
    shutil.copytree(TEST_MODELS / "sleepy", small / "sleepy")
    serve = launch(small, tmp_path, "--load-model", "mnist")
    try:
        assert wait_for(serve.ready, limit=240), serve.log.read_text(errors="replace")[-3000:]
        yield serve
    finally:
        assert stop(serve) == 0, serve.log.read_text(errors="replace")[-3000:]
        assert serve.leftovers() == []


def serving_models(serve: Serve) -> set[str]:
    """The models READY on the server now."""
    with ModelControl(serve.http_url) as control:
        return {row.name for row in control.models() if row.state == "READY"}


def supervisor_models(serve: Serve) -> set[str]:
    """The models READY at the supervisor's last look (what it loads again after a crash)."""
    samples = scrape(f"http://127.0.0.1:{serve.ports[3]}/metrics")
    return {s.labels["model"] for s in samples if s.name == "rawvision_server_model_ready"}


def test_serve_answers_through_its_gate_refuses_past_the_bound_in_words_and_keeps_the_gate(serving: Serve) -> None:
    with ModelControl(serving.http_url) as control:  # model control passes the gate
        control.load("sleepy")
    bound = inflight_bound("sleepy")
    clients = bound + 8  # each sleeps 0.3 s, one at a time: the last admitted is still waiting when the rest come
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(lambda _: sleep_request(serving.http_url, 0.3), range(clients)))
    statuses = [status for status, _, _ in answers]
    refused = [(headers, body) for status, headers, body in answers if status == 503]
    print(f"\nserve's gate, sleepy bounded at {bound} in flight, {clients} clients at once: "
          f"{statuses.count(200)} answered, {len(refused)} refused")
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 1 and refused, statuses
    for headers, body in refused:
        assert headers.get("Retry-After") == "1" and "overloaded" in json.loads(body)["error"], (headers, body)
    (gate,) = [child for child in psutil.Process(serving.process.pid).children() if child.name() == "nginx"]
    assert gate.nice() == Gate.niceness  # the server's work comes first when the CPU is short
    gate.kill()  # the supervisor starts it again on the same port
    assert wait_for(lambda: serving.ready() and sleep_request(serving.http_url, 0.0)[0] == 200, limit=30)
    samples = scrape(f"http://127.0.0.1:{serving.ports[3]}/metrics")
    assert value(samples, "rawvision_gate_restarts_total") == 1


@dataclass(frozen=True)
class Outcome:
    """One request: when it was sent and answered, and whether it got the right answer."""

    sent: float
    done: float
    ok: bool
    detail: str


def test_kill_9_under_load_restarts_warm_and_fails_only_in_the_window(serving: Serve, mnist_split) -> None:  # type: ignore[no-untyped-def]
    png, label = encode(mnist_split.test_images[0], "PNG"), str(mnist_split.test_labels[0])
    outcomes: list[Outcome] = []
    halt = threading.Event()

    def load() -> None:
        client = httpclient.InferenceServerClient(serving.http_url, network_timeout=60, connection_timeout=5)
        image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
        image.set_data_from_numpy(np.array([[png]], dtype=np.object_))
        while not halt.is_set() and len(outcomes) < 20_000:
            sent = time.monotonic()
            try:
                got = client.infer("mnist", [image]).as_numpy("LABELS")[0][0].decode()
                outcomes.append(Outcome(sent, time.monotonic(), got == label, got))
            except Exception as exc:  # every kind of failure counts
                outcomes.append(Outcome(sent, time.monotonic(), False, str(exc)[:200]))
                halt.wait(0.05)  # a refused connection fails at once: do not spin the shared cores
                client.close()
                client = httpclient.InferenceServerClient(serving.http_url, network_timeout=60, connection_timeout=5)
        client.close()

    with ModelControl(serving.http_url) as control:
        control.load("sleepy")  # loaded through the control API: the restart must bring it back too
    assert wait_for(lambda: "sleepy" in supervisor_models(serving))  # the supervisor's last look has it
    (victim,) = serving.tritonservers()
    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(lambda: sum(o.ok for o in outcomes) >= 80)
        victim.kill()
        killed = time.monotonic()
        assert wait_for(lambda: not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE)
        assert wait_for(lambda: any(p.pid != victim.pid for p in serving.tritonservers()) and serving.ready(),
                        limit=240), serving.log.read_text(errors="replace")[-3000:]
        ready_again = time.monotonic()
        assert wait_for(lambda: sum(o.ok and o.sent > ready_again for o in outcomes) >= 200)
    finally:
        halt.set()
        for thread in threads:
            thread.join()
    failed = [o for o in outcomes if not o.ok]
    # Outside the window no request fails: none answered before the kill, none sent after ready again.
    assert not [o for o in failed if o.done < killed or o.sent > ready_again], failed[:3]
    assert serving_models(serving) >= {"mnist", "sleepy"}
    samples = scrape(f"http://127.0.0.1:{serving.ports[3]}/metrics")
    assert value(samples, "rawvision_server_restarts_total") == 1
    assert value(samples, "rawvision_server_crashes_total", cause="SIGKILL") == 1
    assert value(samples, "rawvision_server_up") == 1
    window = (max(o.done for o in failed) - min(o.sent for o in failed)) if failed else 0.0
    print(f"\nkill -9 under 8 connections: ready (and warm) again {ready_again - killed:.2f} s after the kill; "
          f"{len(failed)} of {len(outcomes)} requests failed, within a {window:.2f} s window; "
          f"restart counter {value(samples, 'rawvision_server_restarts_total'):.0f}, "
          f"start-to-ready {value(samples, 'rawvision_server_start_seconds'):.2f} s")


def test_sigterm_at_random_moments_during_start_leaves_nothing(repository: Path, tmp_path: Path) -> None:
    first = launch(repository, tmp_path, "--load-model", "mnist")
    started = time.monotonic()
    assert wait_for(first.ready, limit=240), first.log.read_text(errors="replace")[-3000:]
    to_ready = time.monotonic() - started
    assert stop(first) == 0
    assert first.leftovers() == []
    rng = random.Random(19)
    moments = sorted(rng.uniform(0.0, to_ready) for _ in range(10))
    report = []
    for moment in moments:
        serve = launch(repository, tmp_path, "--load-model", "mnist", ports=first.ports)
        halt = threading.Event()
        halt.wait(moment)  # the moment of the signal, drawn from launch..ready (not a synchronisation)
        phase = "ready" if serve.ready() else "tritonserver up" if serve.tritonservers() else "before tritonserver"
        began = time.monotonic()
        code = stop(serve)
        took = time.monotonic() - began
        leftovers = serve.leftovers()
        report.append(f"{moment:.1f} s ({phase}): exit {code}, stopped in {took:.1f} s")
        assert code in (0, -signal.SIGTERM), serve.log.read_text(errors="replace")[-3000:]
        assert leftovers == [], (moment, leftovers)
    last = launch(repository, tmp_path, "--load-model", "mnist", ports=first.ports)
    try:
        assert wait_for(last.ready, limit=240), last.log.read_text(errors="replace")[-3000:]
    finally:
        assert stop(last) == 0
    assert last.leftovers() == []
    print(f"\nlaunch to ready {to_ready:.1f} s; SIGTERM at:\n  " + "\n  ".join(report))


def test_serve_gives_up_on_a_server_that_keeps_crashing(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(TEST_MODELS / "crashy", repository / "crashy")
    started = time.monotonic()
    serve = launch(repository, tmp_path, "--load-model", "crashy", "--max-crashes", "3", "--crash-window", "300",
                   "--restart-backoff", "0.1")
    try:
        code = serve.process.wait(240)
    finally:
        stop(serve)
    output = serve.log.read_text(errors="replace")
    assert code == 3, output[-3000:]
    assert "giving up: tritonserver killed by SIGABRT (3 crashes in the last 300 s" in output, output[-3000:]
    assert output.count("restarting in") == 2
    assert serve.leftovers() == []
    print(f"\ngave up after 3 aborts in {time.monotonic() - started:.1f} s with exit code {code}")


def test_tritonserver_dies_with_a_killed_supervisor(repository: Path, tmp_path: Path) -> None:
    serve = launch(repository, tmp_path, "--load-model", "mnist")
    try:
        assert wait_for(serve.ready, limit=240), serve.log.read_text(errors="replace")[-3000:]
        (server,) = serve.tritonservers()
        serve.process.kill()
        serve.process.wait()
        assert wait_for(lambda: not server.is_running() or server.status() == psutil.STATUS_ZOMBIE)
    finally:
        left = debris.remove_debris(serve.prefix)  # what nobody was left to clean: the stubs and regions
    assert serve.leftovers() == []
    print(f"\nsupervisor SIGKILLed: tritonserver died with it; left behind {left.stubs} stubs and {left.regions} "
          f"regions ({left.region_bytes / 2**20:.1f} MiB), removed by the test")


def test_sigterm_during_a_restart_leaves_nothing(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(TEST_MODELS / "crashy", repository / "crashy")
    serve = launch(repository, tmp_path, "--load-model", "crashy", "--max-crashes", "100", "--restart-backoff", "0.2")
    try:
        assert wait_for(lambda: "restarting in" in serve.log.read_text(errors="replace"), limit=120)
    finally:
        code = stop(serve)  # lands in the backoff or in the next start: both are a restart under way
    assert code == 0, serve.log.read_text(errors="replace")[-3000:]
    assert serve.leftovers() == []
    restarts = serve.log.read_text(errors="replace").count("restarting in")
    print(f"\nSIGTERM after {restarts} crash(es) of a server that aborts at start: exit {code}, nothing left")
