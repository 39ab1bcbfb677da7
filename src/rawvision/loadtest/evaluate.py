"""Measure a deployed ensemble on a labelled test set, the way a real client uses it.

Each test image is encoded (PNG or JPEG) and sent as bytes through the ensemble, many requests in
flight and several images per request; the answers give accuracy, images per second and latency
percentiles. The same bytes are then run in process (the shared preprocessing and the same core model
file), and the JSON-floats way is timed as well: client-side preprocessing, each batch sent to the bare
core model as a JSON list of floats over HTTP, one request after another.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rawvision.classify import classify
from rawvision.client import classify_client
from rawvision.imaging import encode
from rawvision.pipelines.reader import RepositoryPipeline, read_pipeline
from rawvision.transforms import preprocess

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Run:
    """Top-1 predictions of one way of classifying the test images, with its timing."""

    name: str
    predicted: np.ndarray
    seconds: float
    latencies: np.ndarray

    def correct(self, labels: np.ndarray) -> int:
        """How many predictions equal the labels."""
        return int((self.predicted == labels).sum())

    @property
    def images_per_second(self) -> float:
        """Throughput over the whole run."""
        return len(self.predicted) / self.seconds if self.seconds > 0 else float("inf")

    def percentiles_ms(self) -> tuple[float, float, float]:
        """p50, p90 and p99 request latency in milliseconds."""
        p50, p90, p99 = np.percentile(self.latencies * 1000, [50, 90, 99])
        return float(p50), float(p90), float(p99)


def encode_all(images: np.ndarray, fmt: Literal["PNG", "JPEG"]) -> list[bytes]:
    """Each uint8 image as the bytes of an encoded file."""
    return [encode(image, fmt) for image in images]


def _batches(count: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def through_server(url: str, ensemble: str, payloads: Sequence[bytes], batch: int = 8, concurrency: int = 16,
                   progress: Progress | None = None) -> Run:
    """Send ``payloads`` through ``ensemble``, ``batch`` images per request, ``concurrency`` in flight."""
    local = threading.local()
    clients: list[classify_client.Client] = []
    done = [0]
    lock = threading.Lock()

    def send(part: slice) -> tuple[list[int], float]:
        if not hasattr(local, "client"):
            local.client = classify_client.Client(url, ensemble)
            with lock:
                clients.append(local.client)
        start = time.perf_counter()
        answers = local.client.classify(payloads[part])
        latency = time.perf_counter() - start
        with lock:
            done[0] += len(answers)
            if progress:
                progress(done[0], len(payloads))
        return [a[0].class_id for a in answers], latency

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(send, _batches(len(payloads), batch)))
    seconds = time.perf_counter() - start
    for client in clients:
        client.close()
    predicted = np.array([c for ids, _ in results for c in ids], dtype=np.int64)
    return Run(f"server, {ensemble} ensemble", predicted, seconds, np.array([t for _, t in results]))


def core_function(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A core model file opened in this process (TorchScript or ONNX Runtime)."""
    if path.suffix == ".pt":
        import torch

        module = torch.jit.load(str(path), map_location="cpu").eval()  # type: ignore[no-untyped-call]

        def run_torch(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return np.asarray(module(torch.from_numpy(batch)).numpy())
        return run_torch
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: np.asarray(session.run(None, {name: batch})[0])


def in_process(pipeline: RepositoryPipeline, payloads: Sequence[bytes], batch: int = 64) -> Run:
    """The shared preprocessing on the same bytes, the newest core model file in process, the shared top-1."""
    spec, limits = pipeline.spec, pipeline.limits
    run = core_function(pipeline.model_file)
    labels = pipeline.labels
    start = time.perf_counter()
    predicted, latencies = [], []
    for part in _batches(len(payloads), batch):
        began = time.perf_counter()
        logits = run(preprocess(payloads[part], spec, limits))
        predicted.append(classify(logits, labels, 1).class_ids[:, 0])
        latencies.append(time.perf_counter() - began)
    return Run("in process", np.concatenate(predicted), time.perf_counter() - start, np.array(latencies))


def json_floats_way(url: str, pipeline: RepositoryPipeline, payloads: Sequence[bytes],
                    batch: int = 64, progress: Progress | None = None) -> Run:
    """A client without server-side steps: preprocess here, POST each batch to the core model as JSON floats."""
    spec, limits = pipeline.spec, pipeline.limits
    endpoint = f"http://{url}/v2/models/{pipeline.core_model}/infer"
    predicted, latencies = [], []
    start = time.perf_counter()
    for part in _batches(len(payloads), batch):
        began = time.perf_counter()
        inputs = preprocess(payloads[part], spec, limits)
        body: dict[str, Any] = {
            "inputs": [{"name": pipeline.core_input, "shape": list(inputs.shape), "datatype": "FP32",
                        "data": inputs.tolist()}],
            "outputs": [{"name": pipeline.core_output}],
        }
        request = urllib.request.Request(endpoint, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        logits = np.asarray(answer["outputs"][0]["data"], dtype=np.float32).reshape(len(inputs), -1)
        predicted.append(logits.argmax(axis=1))
        latencies.append(time.perf_counter() - began)
        if progress:
            progress(part.stop, len(payloads))
    return Run("JSON floats to the core model", np.concatenate(predicted),
               time.perf_counter() - start, np.array(latencies))


@dataclass(frozen=True)
class Evaluation:
    """The three runs over the same encoded test images and their labels."""

    labels: np.ndarray
    server: Run
    local: Run
    json_way: Run | None

    def disagreements(self) -> int:
        """Images where the server and the in-process run predict different classes."""
        return int((self.server.predicted != self.local.predicted).sum())

    def report(self) -> str:
        """The figures as the ``evaluate`` command prints them."""
        total = len(self.labels)
        lines = []
        for run in (self.server, self.local, self.json_way):
            if run is None:
                continue
            right = run.correct(self.labels)
            p50, p90, p99 = run.percentiles_ms()
            lines.append(f"{run.name:44s} accuracy {right / total:.4f} ({right}/{total})  "
                         f"{run.images_per_second:8.1f} images/s  latency p50 {p50:.1f} ms  p90 {p90:.1f} ms  "
                         f"p99 {p99:.1f} ms")
        lines.append(f"server vs in process: {self.disagreements()} of {total} predictions differ")
        if self.json_way is not None:
            ratio = self.server.images_per_second / self.json_way.images_per_second
            lines.append(f"speed ratio, server ensemble / JSON-floats way: {ratio:.2f}x")
        return "\n".join(lines)


def evaluate(url: str, repository: str | Path, ensemble: str, images: np.ndarray, labels: np.ndarray,
             fmt: Literal["PNG", "JPEG"] = "PNG", batch: int = 8, concurrency: int = 16, json_way: bool = True,
             progress: Progress | None = None) -> Evaluation:
    """Encode ``images``, run them through the server, in process, and (optionally) the JSON-floats way."""
    pipeline = read_pipeline(repository, ensemble)
    payloads = encode_all(images, fmt)
    server = through_server(url, ensemble, payloads, batch, concurrency, progress)
    local = in_process(pipeline, payloads)
    floats = json_floats_way(url, pipeline, payloads, progress=progress) if json_way else None
    return Evaluation(np.asarray(labels, dtype=np.int64), server, local, floats)
