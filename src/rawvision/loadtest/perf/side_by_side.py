"""``rawvision bench --peers``: the ensemble against the service a user would write (peer) and the limit.

For each classifier or detection ensemble, on one machine, in one go: the limit (the ensemble's own code,
one plain process per service core), the peer (FastAPI + uvicorn, one worker per service core) and the
ensemble (embedded Triton, only that ensemble loaded) over HTTP with ``hey``; plus a gRPC row driven by
perf_analyzer. The services run on their cores, hey on its own (:mod:`.pinning`). Every answer is checked
before timing (a classifier's top-1, a detector's count per label, against each side's own in-process code)
and every timed response must be 200.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO

import numpy as np

from rawvision.loadtest.perf import detection, proc, triton_stats
from rawvision.loadtest.perf.analyzer import PerfAnalyzerError, perf_analyzer_command, run_perf_analyzer
from rawvision.loadtest.perf.hey import HeyRun, Summary, hey_command, run_hey, sent, summarise, triton_body
from rawvision.loadtest.perf.images import ImageSet, detection_sets, image_sets
from rawvision.loadtest.perf.limit import answerer, run_limit
from rawvision.loadtest.perf.pinning import UNPINNED, Pinning, load_prefix, service_cores
from rawvision.pipelines.reader import read_pipeline
from rawvision.server.embedded import EmbeddedServer, ServerError, ServerOptions, free_ports, wait_until_ok

LOGGER = logging.getLogger(__name__)
CLASSIFIERS = ("mnist", "mnist_torchscript_ensemble", "fashion_mnist", "imagenet")
DETECTORS = ("faces",)
CONNECTIONS = (1, 4, 16)
PEER, LIMIT, ENSEMBLE, GRPC = "peer", "limit", "ensemble", "ensemble gRPC (perf_analyzer)"
CLASSIFY_CHECK = ("import json, sys\nfrom rawvision.loadtest.perf import peer_service as p\n"
                  "print(json.dumps([p.predict(open(f, 'rb').read())[0]['label'] for f in sys.argv[1:]]))")
DETECT_CHECK = ("import json, sys\nfrom rawvision.loadtest.perf import detect_peer_service as p\n"
                "from rawvision.loadtest.perf.detection import peer_summary\n"
                "print(json.dumps([peer_summary(p.predict(open(f, 'rb').read())) for f in sys.argv[1:]]))")


class CheckError(RuntimeError):
    """A service answered differently from its own in-process code, or not at all."""


@dataclass(frozen=True)
class Row:
    """One measured setting; ``connections`` is 0 for the limit (one process per core, no network)."""

    ensemble: str
    image_set: str
    service: str
    connections: int
    images_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int
    cpu_ms: tuple[tuple[str, float], ...]  # CPU ms per image, per process
    failure_kinds: str = ""  # what the non-200 answers were, e.g. "503 x2, no response x1"

    @property
    def cpu_ms_total(self) -> float:
        """CPU ms per image summed over every process."""
        return sum(ms for _, ms in self.cpu_ms)


@dataclass(frozen=True)
class Breakdown:
    """Triton's per-step statistics over one ensemble row."""

    ensemble: str
    image_set: str
    connections: int
    steps: tuple[triton_stats.StepStats, ...]


@dataclass(frozen=True)
class PeersResult:
    """Everything measured for one ensemble."""

    ensemble: str
    image_sets: tuple[tuple[str, str], ...]  # (name, description)
    rows: tuple[Row, ...]
    breakdowns: tuple[Breakdown, ...]
    checked: int  # images whose answer (top-1, or count per label) was checked on each side
    answers: tuple[tuple[str, str], ...] = ()  # (image, the ensemble's answer in process), for detectors
    measured: str = ""  # when and how, for a report that keeps earlier results of other ensembles


@dataclass(frozen=True)
class Settings:
    """How much to run: connections, hey requests per image (mixed set) and for the typical image."""

    connections: tuple[int, ...] = CONNECTIONS
    requests_per_image: int = 16
    typical_requests: int = 200
    # Peer and ensemble rows send at least as many requests as the limit answers in this many seconds, so a
    # fast model's rows last long enough to measure (mnist: thousands of requests, not hundreds).
    seconds_per_row: float = 0.0
    workers: int = os.cpu_count() or 1  # peer workers and limit processes: one per service core
    grpc: bool = True
    perf_analyzer_prefix: str | None = None
    pin: Pinning = UNPINNED


@dataclass(frozen=True)
class Target:
    """What differs between a classifier and a detector on the bench: the peer, the outputs, the answers."""

    ensemble: str
    kind: str  # "classify" or "detect"
    peer_env: Mapping[str, str]
    outputs: tuple[str, ...]  # what the ensemble's timed requests ask for (as JSON)

    @property
    def peer_app(self) -> str:
        """The uvicorn application of the peer."""
        module = "detect_peer_service" if self.kind == "detect" else "peer_service"
        return f"rawvision.loadtest.perf.{module}:app"

    @property
    def peer_path(self) -> str:
        """Where the peer takes the image bytes."""
        return "/detect" if self.kind == "detect" else "/classify"

    @property
    def peer_check(self) -> str:
        """A script printing the peer's own in-process answers for the files it is given, as a JSON list."""
        return DETECT_CHECK if self.kind == "detect" else CLASSIFY_CHECK

    def peer_answer(self, body: bytes) -> str:
        """The comparable answer in a peer's 200 response."""
        answer = json.loads(body)
        return detection.peer_summary(answer) if self.kind == "detect" else str(answer[0]["label"])

    def ensemble_answer(self, answer: Mapping[str, object]) -> str:
        """The comparable answer in the ensemble's outputs for one image."""
        if self.kind == "detect":
            return detection.ensemble_summary(answer)
        got = np.asarray(answer["LABELS"]).reshape(-1)[0]
        return got.decode() if isinstance(got, bytes) else str(got)


def cpu_per_image(before: Mapping[str, float], after: Mapping[str, float], images: int,
                  extra: Mapping[str, float] = {}) -> tuple[tuple[str, float], ...]:
    """CPU ms per image per named process between two snapshots, plus ``extra`` CPU seconds (e.g. hey)."""
    used = {**proc.delta(before, after), **extra}
    return tuple((name, 1000 * seconds / max(images, 1)) for name, seconds in sorted(used.items()))


def _post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    try:
        wait_until_ok(url, process, timeout, "the peer")
    except ServerError as exc:
        raise CheckError(str(exc)) from None


def target(repository: Path, ensemble: str, workdir: Path) -> Target:
    """The bench's settings for ``ensemble``, read from the repository: a classifier's or a detector's."""
    base = {**os.environ, "OMP_NUM_THREADS": "1"}
    if detection.is_detection(repository, ensemble):
        detector = detection.read_detect_pipeline(repository, ensemble)
        return Target(ensemble, "detect", {**base, **detector.peer_settings()}, detector.outputs)
    pipeline = read_pipeline(repository, ensemble)
    labels = workdir / f"{pipeline.ensemble}-labels.txt"
    labels.write_text("\n".join(pipeline.labels) + "\n", encoding="utf-8")
    spec = {k: v for k, v in asdict(pipeline.spec).items() if k != "jpeg_draft"}
    return Target(ensemble, "classify", {**base, "PEER_MODEL": str(pipeline.model_file.resolve()),
                                         "PEER_SPEC": json.dumps(spec), "PEER_LABELS": str(labels),
                                         "PEER_TOPK": str(pipeline.top_k)}, ("LABELS",))


@contextlib.contextmanager
def peer_service(bench: Target, workers: int, log: Path, pin: Pinning = UNPINNED) -> Iterator[tuple[str, int]]:
    """Start ``uvicorn --workers`` on a free port (on the service's cores); yield (base URL, master pid)."""
    (port,) = free_ports(1)
    command = [sys.executable, "-m", "uvicorn", bench.peer_app, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--http", "httptools", "--log-level", "warning", "--no-access-log"]
    with log.open("wb") as output:
        with service_cores(pin):  # uvicorn's workers, spawned later, inherit the master's cores
            process = subprocess.Popen(command, env=dict(bench.peer_env), stdout=output, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_http(f"{base}/openapi.json", process)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def peer_pids(master: int) -> dict[str, int]:
    """The uvicorn master and its workers, named for the report."""
    pids = {"uvicorn master": master}
    workers = [pid for pid in proc.children(master) if any("spawn" in a for a in proc.cmdline(pid))]
    for index, pid in enumerate(workers, 1):
        pids[f"peer worker {index}"] = pid
    return pids


def server_pids(server: int) -> dict[str, int]:
    """The tritonserver process and each Python stub, named by its model instance."""
    pids = {"tritonserver": server}
    for pid in proc.children(server):
        pids[f"stub {proc.stub_name(proc.cmdline(pid)) or pid}"] = pid
    return pids


def check_peer(base: str, bench: Target, images: ImageSet, workdir: Path) -> list[str]:
    """Each image once over HTTP against the peer's own code in process; a bad body must get 400.

    Returns the peer's answers, in the order of the images.
    """
    files = []
    for index, image in enumerate(images.images):
        files.append(workdir / f"check-{images.name}-{index}")
        files[-1].write_bytes(image)
    done = subprocess.run([sys.executable, "-c", bench.peer_check, *map(str, files)], env=dict(bench.peer_env),
                          capture_output=True, text=True, check=True)
    expected = json.loads(done.stdout.strip().splitlines()[-1])
    for label, image, want in zip(images.labels, images.images, expected, strict=True):
        status, body = _post(f"{base}{bench.peer_path}", image, {"Content-Type": "application/octet-stream"})
        got = bench.peer_answer(body) if status == 200 else f"HTTP {status}"
        if got != want:
            raise CheckError(f"peer answered {got!r} for {label}, its in-process code {want!r}")
    status, _ = _post(f"{base}{bench.peer_path}", b"not an image", {"Content-Type": "application/octet-stream"})
    if status != 400:
        raise CheckError(f"peer answered HTTP {status} to bad bytes, expected 400")
    return [str(answer) for answer in expected]


def check_ensemble(url: str, repository: Path, bench: Target, images: ImageSet) -> list[str]:
    """Each image once through tritonclient against the ensemble's own code in process; returns the answers."""
    import tritonclient.http as httpclient

    answer_in_process = answerer(repository, bench.ensemble)
    client = httpclient.InferenceServerClient(url, network_timeout=300)
    answers = []
    try:
        for label, image in zip(images.labels, images.images, strict=True):
            tensor = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
            result = client.infer(bench.ensemble, [tensor], outputs=[
                httpclient.InferRequestedOutput(name, binary_data=False) for name in bench.outputs])
            got = bench.ensemble_answer({name: result.as_numpy(name) for name in bench.outputs})
            want = answer_in_process(image)
            if got != want:
                raise CheckError(f"{bench.ensemble} answered {got!r} for {label}, in process {want!r}")
            answers.append(got)
    finally:
        client.close()
    return answers


def hey_set(url: str, images: ImageSet, requests: int, connections: int, workdir: Path,
            content_type: str, triton: bool, outputs: Sequence[str] = ("LABELS",),
            pin: Pinning = UNPINNED) -> list[HeyRun]:
    """One hey run per image of the set (same request count each), hey on the load generator's cores."""
    runs = []
    for index, image in enumerate(images.images):
        body, headers = image, []
        if triton:
            body, header_length = triton_body(image, outputs=outputs)
            headers = [f"Inference-Header-Content-Length: {header_length}"]
        path = workdir / f"body-{'triton' if triton else 'peer'}-{images.name}-{index}.bin"
        path.write_bytes(body)
        count = sent(requests, connections)
        runs.append(run_hey(hey_command(url, path, count, connections, content_type, headers, load_prefix(pin)),
                            count))
    return runs


def _requests(settings: Settings, images: ImageSet) -> int:
    return settings.requests_per_image if len(images.images) > 1 else settings.typical_requests


def _row(ensemble: str, images: ImageSet, service: str, connections: int, summary: Summary,
         cpu: tuple[tuple[str, float], ...]) -> Row:
    if summary.failures:
        LOGGER.error("%s %s %s at %d connections: %d of %d responses were not 200 (%s)", ensemble,
                     images.name, service, connections, summary.failures, summary.requests, summary.failure_kinds)
    return Row(ensemble, images.name, service, connections, summary.images_per_second, summary.p50_ms,
               summary.p99_ms, summary.requests, summary.failures, cpu, summary.failure_kinds)


def limit_rows(repository: Path, ensemble: str, sets: Sequence[ImageSet], settings: Settings) -> list[Row]:
    """The limit on each image set: one plain process per service core, about as many images as one hey row."""
    rows = []
    for images in sets:
        total = _requests(settings, images) * len(images.images)
        rounds = max(1, math.ceil(total / settings.workers / len(images.images)))
        LOGGER.warning("%s: limit on %s (%d processes x %d rounds)", ensemble, images.name, settings.workers, rounds)
        result = run_limit(repository, ensemble, images.images, rounds, settings.workers, settings.pin)
        # Like every other row: each process's CPU over all images the row answered, so the total adds up.
        cpu = tuple((f"limit process {i}", 1000 * s / result.images) for i, s in enumerate(result.cpu_seconds, 1))
        rows.append(Row(ensemble, images.name, LIMIT, 0, result.images_per_second, result.p50_ms,
                        result.p99_ms, result.images, 0, cpu))
    return rows


def peer_rows(bench: Target, sets: Sequence[ImageSet], settings: Settings, workdir: Path
              ) -> tuple[list[Row], list[str]]:
    """The peer service under hey at each connection count; returns rows and the peer's checked answers."""
    rows, answers = [], []
    log = workdir / f"{bench.ensemble}-peer.log"
    with peer_service(bench, settings.workers, log, settings.pin) as (base, master):
        url = f"{base}{bench.peer_path}"
        for images in sets:
            answers += check_peer(base, bench, images, workdir)
        hey_set(url, sets[-1], 8 * settings.workers, settings.workers, workdir, "application/octet-stream",
                triton=False, pin=settings.pin)  # warm every worker
        pids = peer_pids(master)
        for images in sets:
            for connections in settings.connections:
                LOGGER.warning("%s: peer, %s, %d connections", bench.ensemble, images.name, connections)
                before = proc.snapshot(pids)
                runs = hey_set(url, images, _requests(settings, images), connections, workdir,
                               "application/octet-stream", triton=False, pin=settings.pin)
                summary = summarise(runs)
                done = summary.requests - summary.failures
                cpu = cpu_per_image(before, proc.snapshot(pids), done, {"hey": summary.client_cpu_seconds})
                rows.append(_row(bench.ensemble, images, PEER, connections, summary, cpu))
    return rows, answers


def _grpc_rows(ensemble: str, options: ServerOptions, images: ImageSet, settings: Settings,
               pids: Mapping[str, int], workdir: Path) -> list[Row]:
    """perf_analyzer over gRPC at each connection count (another load generator: not used for ratios)."""
    try:
        command = perf_analyzer_command(None, settings.perf_analyzer_prefix)
    except PerfAnalyzerError as exc:
        LOGGER.warning("no gRPC row: %s", exc)
        return []
    rows = []
    for connections in settings.connections:
        LOGGER.warning("%s: gRPC (perf_analyzer), %s, %d connections", ensemble, images.name,
                       connections)
        stats, before = triton_stats.fetch(options.http_url), proc.snapshot(pids)
        try:
            (point,) = run_perf_analyzer(command, ensemble, options.grpc_url, images.images, workdir,
                                         [connections], interval_ms=3000, protocol="grpc", max_trials=5)
        except PerfAnalyzerError as exc:  # e.g. no stable measurement on a busy machine: no row, say so
            reason = [line for line in str(exc).splitlines() if line.strip()][-1:]
            LOGGER.error("%s: no gRPC row at %d connections: %s", ensemble, connections,
                         reason[0] if reason else exc)
            continue
        steps = triton_stats.delta(stats, triton_stats.fetch(options.http_url))
        done = next((s.requests for s in steps if s.model == ensemble), 0)
        rows.append(Row(ensemble, images.name, GRPC, connections, point.throughput, point.p50_ms,
                        point.p99_ms, done, 0, cpu_per_image(before, proc.snapshot(pids), done)))
    return rows


@contextlib.contextmanager
def started(options: ServerOptions, log: IO[bytes], attempts: int = 2, pin: Pinning = UNPINNED
            ) -> Iterator[EmbeddedServer]:
    """The embedded server on the service's cores, started again once if it dies while loading (a stub's shm lock)."""
    for attempt in range(1, attempts + 1):
        server = EmbeddedServer(options, log)
        try:
            with service_cores(pin):  # the Python stubs, started while loading, inherit the server's cores
                server.start(timeout=300)
            break
        except ServerError as exc:
            if attempt == attempts:
                raise
            LOGGER.error("tritonserver failed to start (%s); once more", exc)
    try:
        yield server
    finally:
        server.stop()


def ensemble_rows(repository: Path, bench: Target, sets: Sequence[ImageSet], settings: Settings,
                  workdir: Path) -> tuple[list[Row], list[Breakdown], list[str]]:
    """The ensemble under hey (HTTP, binary tensors) and perf_analyzer (gRPC), with Triton's step stats."""
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            load_models=(bench.ensemble,), watchdog=False)
    url = f"http://{options.http_url}/v2/models/{bench.ensemble}/infer"
    rows, breakdowns, answers = [], [], []
    log_path = workdir / f"{bench.ensemble}-server.log"
    with log_path.open("wb") as log, started(options, log, pin=settings.pin) as server:
        for images in sets:
            answers += check_ensemble(options.http_url, repository, bench, images)
        hey_set(url, sets[-1], 8 * settings.workers, settings.workers, workdir, "application/octet-stream",
                triton=True, outputs=bench.outputs, pin=settings.pin)  # warm every instance
        pids = server_pids(server.process.pid)
        for images in sets:
            for connections in settings.connections:
                LOGGER.warning("%s: ensemble, %s, %d connections", bench.ensemble, images.name, connections)
                stats, before = triton_stats.fetch(options.http_url), proc.snapshot(pids)
                runs = hey_set(url, images, _requests(settings, images), connections, workdir,
                               "application/octet-stream", triton=True, outputs=bench.outputs, pin=settings.pin)
                after = proc.snapshot(pids)
                steps = triton_stats.delta(stats, triton_stats.fetch(options.http_url))
                summary = summarise(runs)
                done = summary.requests - summary.failures
                cpu = cpu_per_image(before, after, done, {"hey": summary.client_cpu_seconds})
                rows.append(_row(bench.ensemble, images, ENSEMBLE, connections, summary, cpu))
                breakdowns.append(Breakdown(bench.ensemble, images.name, connections, tuple(steps)))
            if settings.grpc:
                rows += _grpc_rows(bench.ensemble, options, images, settings, pids, workdir)
    return rows, breakdowns, answers


def scaled_to_limit(settings: Settings, sets: Sequence[ImageSet], limit: Sequence[Row]) -> Settings:
    """``settings`` with request counts raised so each row lasts ``seconds_per_row`` at the limit's speed."""
    rate = {row.image_set: row.images_per_second for row in limit}
    wanted = {s.name: math.ceil(rate[s.name] * settings.seconds_per_row / len(s.images)) for s in sets}
    mixed = max((wanted[s.name] for s in sets if len(s.images) > 1), default=0)
    typical = max((wanted[s.name] for s in sets if len(s.images) == 1), default=0)
    return replace(settings, requests_per_image=max(settings.requests_per_image, mixed),
                   typical_requests=max(settings.typical_requests, typical))


def bench_sets(repository: Path, bench: Target) -> tuple[ImageSet, ...]:
    """The images for ``bench``: photos with and without faces for a detector, else by the classifier's input."""
    if bench.kind == "detect":
        return detection_sets()
    pipeline = read_pipeline(repository, bench.ensemble)
    return image_sets(pipeline.spec.channels, fashion="fashion" in bench.ensemble)


def bench_ensemble(repository: Path, ensemble: str, settings: Settings, workdir: Path) -> PeersResult:
    """Limit, peer and ensemble rows for one classifier or detection ensemble."""
    workdir.mkdir(parents=True, exist_ok=True)
    bench = target(repository, ensemble, workdir)
    sets = bench_sets(repository, bench)
    rows = limit_rows(repository, ensemble, sets, settings)
    settings = scaled_to_limit(settings, sets, rows)
    more, peer_answers = peer_rows(bench, sets, settings, workdir)
    rows += more
    more, breakdowns, ensemble_answers = ensemble_rows(repository, bench, sets, settings, workdir)
    rows += more
    labels = [label for s in sets for label in s.labels]
    for label, ours, theirs in zip(labels, ensemble_answers, peer_answers, strict=True):
        if ours != theirs:  # each side matched its own code; a different decode may still tip a borderline box
            LOGGER.warning("%s: %s: the ensemble found %s, the peer %s", ensemble, label, ours, theirs)
    answers = tuple(zip(labels, ensemble_answers, strict=True)) if bench.kind == "detect" else ()
    return PeersResult(ensemble, tuple((s.name, s.description) for s in sets), tuple(rows), tuple(breakdowns),
                       min(len(peer_answers), len(ensemble_answers)), answers)
