"""What the ensemble is measured against: the same pipeline in one process, and the two-call client way.

In-process: decode + preprocessing (the shared library) → ONNX Runtime → softmax/top-k, no server, for
each thread count and batch size asked; the best images/second counts. Two-call: the client sends the
image bytes to the preprocessing model, gets the float tensor back, sends it to the core model, and runs
the postprocessing itself: the way without an ensemble, where tensors cross the wire twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rawvision.classify import classify
from rawvision.pipelines.reader import RepositoryPipeline, read_pipeline
from rawvision.transforms import preprocess


def onnx_pipeline(repository: str | Path, ensemble: str) -> RepositoryPipeline:
    """Read ``ensemble``; ``ValueError`` unless it is preprocess → ONNX core → postprocess."""
    pipeline = read_pipeline(repository, ensemble)
    if pipeline.description.core.format != "onnx":
        raise ValueError(f"{pipeline.core_model} is not ONNX (only ONNX cores have a baseline)")
    if not pipeline.versions:
        raise ValueError(f"{pipeline.core_model} has no version folder; run `make models`")
    return pipeline


def onnx_session(pipeline: RepositoryPipeline, threads: int) -> ort.InferenceSession:
    """An ONNX Runtime session on the newest core file with ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(pipeline.model_file), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class BaselinePoint:
    """Images per second of one setting."""

    name: str
    setting: str
    throughput: float
    cpu_ms_per_image: float | None = None  # CPU time (all threads) per image: what bounds throughput on 2 cores


def in_process(pipeline: RepositoryPipeline, images: Sequence[bytes], threads: Sequence[int] = (1, 2),
               batches: Sequence[int] = (1, 4, 8), seconds: float = 5.0) -> list[BaselinePoint]:
    """Run the whole pipeline in this process for ``seconds`` per setting; one point per setting."""
    points = []
    for count in threads:
        session = onnx_session(pipeline, count)
        input_name = session.get_inputs()[0].name
        output_name = session.get_outputs()[0].name
        for batch in batches:
            done, start, index, cpu = 0, time.perf_counter(), 0, time.process_time()
            while time.perf_counter() - start < seconds:
                chunk = [images[(index + i) % len(images)] for i in range(batch)]
                index += batch
                pixels = preprocess(chunk, pipeline.spec, pipeline.limits)
                (logits,) = session.run([output_name], {input_name: pixels})
                classify(np.asarray(logits), pipeline.labels, pipeline.top_k)
                done += batch
            points.append(BaselinePoint("in-process", f"{count} ORT thread(s), batch {batch}",
                                        done / (time.perf_counter() - start),
                                        1000 * (time.process_time() - cpu) / done))
    return points


def two_call(pipeline: RepositoryPipeline, url: str, images: Sequence[bytes], concurrency: int,
             seconds: float = 10.0) -> BaselinePoint:
    """``concurrency`` client threads doing preprocess call → core call → local postprocessing."""
    import tritonclient.http as httpclient

    counts = [0] * concurrency
    stop = threading.Event()

    def worker(slot: int) -> None:
        client = httpclient.InferenceServerClient(url, network_timeout=300)
        index = slot
        while not stop.is_set():
            image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
            image.set_data_from_numpy(np.array([[images[index % len(images)]]], dtype=np.object_))
            pixels = client.infer(pipeline.preprocess_model, [image]).as_numpy("preprocessed_image")
            tensor = httpclient.InferInput("preprocessed_image", list(pixels.shape), "FP32")
            tensor.set_data_from_numpy(pixels, binary_data=True)
            logits = client.infer(pipeline.core_model, [tensor],
                                  outputs=[httpclient.InferRequestedOutput("logits")]).as_numpy("logits")
            classify(logits, pipeline.labels, pipeline.top_k)
            counts[slot] += 1
            index += concurrency
        client.close()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return BaselinePoint("two-call", f"concurrency {concurrency}", sum(counts) / (time.perf_counter() - start))
