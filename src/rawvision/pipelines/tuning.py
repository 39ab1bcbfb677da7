"""Instance and batching settings of each pipeline step: the one place their numbers live.

Each built-in pipeline has its row; a pipeline added with ``rawvision add`` gets :data:`DEFAULT_SERVING`
(a detector: :data:`DEFAULT_DETECT_SERVING`),
the settings tuned for photos on a 2-core CPU (docs/perf.md): two decoding processes, and the core on
one intra-op thread so the decoders keep the other core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

InstanceKind = Literal["KIND_CPU", "KIND_AUTO"]


@dataclass(frozen=True)
class StepServing:
    """How Triton runs one step: instances, dynamic batching and (runners only) intra-op threads.

    ``KIND_AUTO`` leaves the kind out of the config, so Triton picks the GPU where there is one.
    """

    max_batch_size: int
    max_queue_delay_us: int
    instances: int = 1
    kind: InstanceKind = "KIND_CPU"
    preferred_batch_sizes: tuple[int, ...] = ()
    intra_op_threads: int | None = None

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.instances < 1 or self.max_queue_delay_us < 0:
            raise ValueError(f"serving settings must be positive: {self}")
        if any(size > self.max_batch_size for size in self.preferred_batch_sizes):
            raise ValueError(f"preferred batch sizes {self.preferred_batch_sizes} exceed {self.max_batch_size}")


@dataclass(frozen=True)
class PipelineServing:
    """The settings of the four models of one pipeline."""

    ensemble_max_batch_size: int
    preprocess: StepServing
    core: StepServing
    postprocess: StepServing


SMALL_IMAGES = PipelineServing(
    ensemble_max_batch_size=32,
    preprocess=StepServing(max_batch_size=32, max_queue_delay_us=0, instances=2),
    core=StepServing(max_batch_size=64, max_queue_delay_us=0, intra_op_threads=1),
    postprocess=StepServing(max_batch_size=64, max_queue_delay_us=0),
)
"""28×28 digits and clothes (mnist, fashion_mnist): two decoders, one network instance on one thread, no
queue delay. Batches form by themselves under load while the one instance is busy; a second network
instance cost more CPU per image (0.6 → 0.8 ms), a delay cost latency at one connection (docs/perf.md)."""

PHOTOS = PipelineServing(
    ensemble_max_batch_size=16,
    preprocess=StepServing(max_batch_size=16, max_queue_delay_us=0, instances=2, preferred_batch_sizes=(1,)),
    core=StepServing(max_batch_size=16, max_queue_delay_us=0, instances=2, kind="KIND_AUTO",
                     preferred_batch_sizes=(1,), intra_op_threads=1),
    postprocess=StepServing(max_batch_size=16, max_queue_delay_us=0),
)
"""Photos (imagenet): two decoders and two network instances on one thread each, every request to the
first free instance (preferred batch 1, no delay): on 2 CPU cores batches formed on one instance while the
other waited (docs/perf.md). Not measured in NVIDIA's container; a GPU host wants one core instance and
no preferred batch size, so that batches form."""

DETECTIONS = PipelineServing(
    ensemble_max_batch_size=16,
    preprocess=StepServing(max_batch_size=16, max_queue_delay_us=0, instances=2, preferred_batch_sizes=(1,)),
    core=StepServing(max_batch_size=16, max_queue_delay_us=0, instances=2, kind="KIND_AUTO",
                     preferred_batch_sizes=(1,), intra_op_threads=1),
    postprocess=StepServing(max_batch_size=16, max_queue_delay_us=0),
)
"""Detectors on photos (faces, mnist_detect, and any added with ``--task detect``): the photo settings,
two decoders (decode and letterbox dominate on large photos) and two network instances on one thread
each for 2 CPU cores; the postprocessing (decode, NMS over the whole batch) is one vectorised call.
Not yet measured on its own (the detection bench, issue 18, will)."""

DEFAULT_SERVING = PHOTOS
DEFAULT_DETECT_SERVING = DETECTIONS

BUILTIN_SERVING: dict[str, PipelineServing] = {
    "mnist": SMALL_IMAGES,
    "fashion_mnist": SMALL_IMAGES,
    "mnist_torchscript_ensemble": SMALL_IMAGES,
    "imagenet": PHOTOS,
    "faces": DETECTIONS,
    "mnist_detect": DETECTIONS,
}

OCR_RUNNER_THREADS: dict[str, int] = {"ocr_detect": 2, "ocr_recognize": 2}
"""Intra-op threads of OCR's core models in the embedded server (their native configs are hand-written)."""
