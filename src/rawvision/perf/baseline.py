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

from rawvision.classify import classify, load_labels
from rawvision.imaging import DecodeLimits
from rawvision.transforms import PreprocessSpec, preprocess
from rawvision.triton.repository import config_parameters, decode_limits, model_config, preprocess_spec

CORE_FILES = ("model.onnx", "model.pt")


@dataclass(frozen=True)
class Pipeline:
    """The three steps of an ensemble, read from the repository.

    ``model_file`` is the core's newest ``model.onnx`` or ``model.pt``; ``core_input``/``core_output`` are
    the core's tensor names that the ensemble maps to ``preprocessed_image`` and ``logits``.
    """

    ensemble: str
    preprocess_model: str
    core_model: str
    postprocess_model: str
    spec: PreprocessSpec
    limits: DecodeLimits
    model_file: Path
    core_input: str
    core_output: str
    labels: tuple[str, ...]
    top_k: int

    @property
    def onnx_path(self) -> Path:
        """The core's ONNX file; raises ``ValueError`` for a TorchScript core."""
        if self.model_file.suffix != ".onnx":
            raise ValueError(f"{self.core_model} is not an ONNX model ({self.model_file.name})")
        return self.model_file

    @classmethod
    def from_repository(cls, repository: str | Path, ensemble: str) -> Pipeline:
        """Read ``ensemble``'s steps; raises ``ValueError`` unless it is preprocess → ONNX/TorchScript → post."""
        repository = Path(repository)
        steps = list(model_config(repository, ensemble).ensemble_scheduling.step)
        if len(steps) != 3:
            raise ValueError(f"expected 3 steps (preprocess, core, postprocess), got {[s.model_name for s in steps]}")
        pre, core, post = (step.model_name for step in steps)
        versions = sorted((p for p in (repository / core).iterdir() if p.name.isdigit()
                           and any((p / f).is_file() for f in CORE_FILES)), key=lambda p: int(p.name))
        if not versions:
            raise ValueError(f"{core} has no {' or '.join(CORE_FILES)}")
        model_file = next(versions[-1] / f for f in CORE_FILES if (versions[-1] / f).is_file())
        core_input = next((k for k, v in steps[1].input_map.items() if v == "preprocessed_image"), None)
        core_output = next((k for k, v in steps[1].output_map.items() if v == "logits"), None)
        if core_input is None or core_output is None:
            raise ValueError(f"{ensemble}: the core step does not map preprocessed_image → logits")
        post_params = config_parameters(model_config(repository, post))
        return cls(ensemble, pre, core, post, preprocess_spec(repository, pre),
                   decode_limits(repository, pre), model_file, core_input, core_output,
                   load_labels(repository / post / post_params.get("label_filename", "labels.txt")),
                   int(post_params.get("top_k", "5")))

    def session(self, threads: int) -> ort.InferenceSession:
        """An ONNX Runtime session with ``threads`` intra-op threads."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class BaselinePoint:
    """Images per second of one setting."""

    name: str
    setting: str
    throughput: float
    cpu_ms_per_image: float | None = None  # CPU time (all threads) per image: what bounds throughput on 2 cores


def in_process(pipeline: Pipeline, images: Sequence[bytes], threads: Sequence[int] = (1, 2),
               batches: Sequence[int] = (1, 4, 8), seconds: float = 5.0) -> list[BaselinePoint]:
    """Run the whole pipeline in this process for ``seconds`` per setting; one point per setting."""
    points = []
    for count in threads:
        session = pipeline.session(count)
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


def two_call(pipeline: Pipeline, url: str, images: Sequence[bytes], concurrency: int,
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
