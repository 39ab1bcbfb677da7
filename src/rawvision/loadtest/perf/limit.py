"""The limit: the ensemble's own code in one plain process per core, no network, looping over the images.

The same shared preprocessing, model file and ``classify`` (or, for a detector, the same letterbox, head
decoding and NMS) as the ensemble's steps: what a server could approach but hardly beat on the same cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rawvision.classify import classify
from rawvision.loadtest.perf import proc
from rawvision.loadtest.perf.baseline import onnx_session
from rawvision.loadtest.perf.pinning import UNPINNED, Pinning, service_cores
from rawvision.pipelines.reader import RepositoryPipeline, read_pipeline
from rawvision.transforms import preprocess


@dataclass(frozen=True)
class WorkerResult:
    """One limit process: its latencies (s), monotonic start/end, CPU seconds from ``/proc/self/stat``."""

    latencies: tuple[float, ...]
    start: float
    end: float
    cpu_seconds: float


@dataclass(frozen=True)
class LimitResult:
    """All limit processes together."""

    images: int
    images_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: tuple[float, ...]  # per process, over the timed loop only


def runner(pipeline: RepositoryPipeline) -> Callable[[np.ndarray], np.ndarray]:
    """The core model on one intra-op thread: ONNX Runtime, or PyTorch for a TorchScript file."""
    if pipeline.model_file.suffix == ".pt":
        import torch

        torch.set_num_threads(1)
        module = torch.jit.load(str(pipeline.model_file)).eval()  # type: ignore[no-untyped-call]

        def run_torch(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return np.asarray(module(torch.from_numpy(x)).numpy())

        return run_torch
    session = onnx_session(pipeline, 1)
    name = session.get_inputs()[0].name

    def run_onnx(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: x})[0])

    return run_onnx


def top1(pipeline: RepositoryPipeline, run: Callable[[np.ndarray], np.ndarray], image: bytes) -> str:
    """The ensemble's own answer for one image, in process: the top label."""
    answer = classify(run(preprocess([image], pipeline.spec, pipeline.limits)), pipeline.labels, pipeline.top_k)
    return bytes(answer.labels[0][0]).decode()


def answerer(repository: str | Path, ensemble: str) -> Callable[[bytes], str]:
    """The ensemble's own code for one image, in process: its top label, or for a detector what it found."""
    from rawvision.loadtest.perf import detection

    if detection.is_detection(repository, ensemble):
        found = detection.read_detect_pipeline(repository, ensemble)
        run_detector, _ = detection.onnx_runner(found.model_file, threads=1)
        return lambda image: detection.summary(detection.detect(found, run_detector, [image])[0], found.labels)
    pipeline = read_pipeline(repository, ensemble)
    run = runner(pipeline)
    return lambda image: top1(pipeline, run, image)


def _loop(repository: str, ensemble: str, images: Sequence[bytes], rounds: int) -> WorkerResult:
    """Load, warm up, say ``ready``, wait for ``go`` on stdin, then time ``rounds`` passes."""
    answer = answerer(repository, ensemble)
    for image in [*images, images[0], images[0]]:  # warm-up: TorchScript's profiling executor needs a few runs
        answer(image)
    latencies = []
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise RuntimeError("the bench did not say go")
    cpu, start = proc.stat(os.getpid()).cpu_seconds, time.monotonic()
    for _ in range(rounds):
        for image in images:
            began = time.perf_counter()
            answer(image)
            latencies.append(time.perf_counter() - began)
    end = time.monotonic()
    return WorkerResult(tuple(latencies), start, end, proc.stat(os.getpid()).cpu_seconds - cpu)


def _read_line(worker: subprocess.Popen[str]) -> str:
    assert worker.stdout is not None
    line = worker.stdout.readline()
    if not line:
        worker.wait()
        assert worker.stderr is not None
        raise RuntimeError(f"a limit process failed ({worker.returncode}): {worker.stderr.read()[-2000:]}")
    return line


def run_limit(repository: Path, ensemble: str, images: Sequence[bytes], rounds: int,
              processes: int | None = None, pin: Pinning = UNPINNED) -> LimitResult:
    """``processes`` (default: one per core) plain processes, each doing ``rounds`` passes over ``images``.

    Each is ``python -m rawvision.loadtest.perf.limit``, on the service's cores when ``pin`` says so; all
    load first, then start together on one ``go``.
    """
    count = processes or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="rawvision-limit-") as folder:
        files = []
        for index, image in enumerate(images):
            files.append(Path(folder) / f"{index}.img")
            files[-1].write_bytes(image)
        command = [sys.executable, "-m", "rawvision.loadtest.perf.limit", str(repository), ensemble, str(rounds),
                   *map(str, files)]
        with service_cores(pin):
            workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                       for _ in range(count)]
        try:
            for worker in workers:
                _read_line(worker)
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
            results = [WorkerResult(**json.loads(_read_line(worker))) for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                worker.communicate()
    latencies = np.array([lat for r in results for lat in r.latencies])
    wall = max(r.end for r in results) - min(r.start for r in results)
    p50, p99 = (np.percentile(latencies, [50, 99]) * 1000).tolist()
    return LimitResult(latencies.size, latencies.size / wall, float(p50), float(p99),
                       tuple(r.cpu_seconds for r in results))


def main(argv: Sequence[str]) -> None:
    """One limit process: ``REPOSITORY ENSEMBLE ROUNDS IMAGE...``; prints its result as JSON."""
    repository, ensemble, rounds, *paths = argv
    result = _loop(repository, ensemble, [Path(p).read_bytes() for p in paths], int(rounds))
    print(json.dumps(asdict(result)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
