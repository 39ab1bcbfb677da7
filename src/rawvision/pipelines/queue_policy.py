"""A bounded queue for each batching step, sized from capacity × a latency target instead of round numbers.

Triton's dynamic batcher takes a ``default_queue_policy``: a request waiting longer than the timeout, or
arriving when ``max_queue_size`` requests already wait, is answered UNAVAILABLE (HTTP 503) at once.

The size is what the step serves within the latency target: ``ceil(capacity × target)`` requests, so that
an admitted request waits about the target at most and everything beyond is refused at once (a full
queue means the next request could not be answered in time anyway). The timeout is the target times a
slack: it is the backstop for a stalled step and for a machine shared with other work, where capacity
halves (docs/reliability.md, "Bounded under overload"). Capacity is declared per pipeline in
:data:`DECLARED_CAPACITY` from the measurements in docs/perf.md; a pipeline added with ``rawvision add``
gets :data:`DEFAULT_CAPACITY` (photos, like ``imagenet``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tritonclient.grpc import model_config_pb2

LATENCY_TARGET_SECONDS = 1.0
"""How long an admitted request may wait in one step's queue."""

ADMISSION_TARGET_SECONDS = 0.5
"""How long an admitted request takes end to end, on average, at the in-flight bound (Little's law:
in flight = capacity × time): half a second, so that the p99 stays under one second."""

MIN_INFLIGHT = 8
"""The smallest in-flight bound: one full batch."""

TIMEOUT_SLACK = 2.0
"""The queue timeout is the target times this: room for a shared machine, where capacity halves."""

DECLARED_CAPACITY: dict[str, float] = {
    "mnist": 1300.0,              # 16 connections, 2 cores (docs/perf.md, row 13c)
    "mnist_torchscript": 850.0,   # docs/perf.md, row 15
    "fashion_mnist": 1000.0,      # docs/perf.md, row 15
    "imagenet": 48.6,             # 16 connections, server on one core (issue 19's measurement)
    "ocr": 32.0,                  # not measured per request: ocr_recognize takes a batch of lines per BLS call
    "faces": 26.0,                # 2 cores: twice the 13 img/s one core answers (docs/perf-faces.md)
    "mnist_detect": 200.0,        # an estimate, not measured: a 0.36 M-parameter detector at 256x256
}
"""Requests per second one server answers, per pipeline (the prefix of its step names), on this machine class."""

DEFAULT_CAPACITY = DECLARED_CAPACITY["imagenet"]


@dataclass(frozen=True)
class QueuePolicy:
    """How many requests may wait for a step, and for how long.

    Attributes:
        max_queue_size: requests waiting beyond this many are rejected on arrival.
        timeout_microseconds: a request still waiting after this long is rejected.
        allow_timeout_override: let a request ask for a shorter timeout of its own.
    """

    max_queue_size: int
    timeout_microseconds: int
    allow_timeout_override: bool = True

    def __post_init__(self) -> None:
        if self.max_queue_size < 1:
            raise ValueError(f"max_queue_size {self.max_queue_size} must be at least 1")
        if self.timeout_microseconds < 1:
            raise ValueError(f"timeout_microseconds {self.timeout_microseconds} must be positive")

    @classmethod
    def from_capacity(cls, capacity: float, target_seconds: float = LATENCY_TARGET_SECONDS,
                      slack: float = TIMEOUT_SLACK) -> QueuePolicy:
        """The queue a step with ``capacity`` requests/s needs to keep waits near ``target_seconds``."""
        if capacity <= 0 or target_seconds <= 0 or slack < 1:
            raise ValueError(f"capacity {capacity} and target {target_seconds} must be positive, slack {slack} ≥ 1")
        return cls(max(math.ceil(capacity * target_seconds), 1), round(target_seconds * slack * 1_000_000))


def capacity_of(step: str) -> float:
    """The declared capacity of the pipeline ``step`` belongs to (the longest matching name prefix)."""
    names = [name for name in DECLARED_CAPACITY if step == name or step.startswith(f"{name}_")]
    return DECLARED_CAPACITY[max(names, key=len)] if names else DEFAULT_CAPACITY


def policy_for(step: str) -> QueuePolicy:
    """The queue policy of ``step``: its pipeline's capacity × the latency target."""
    return QueuePolicy.from_capacity(capacity_of(step))


def inflight_bound(pipeline: str, target_seconds: float = ADMISSION_TARGET_SECONDS) -> int:
    """Requests of ``pipeline`` one server takes in flight at once (at the front, or ``rawvision serve``'s gate).

    Its capacity × ``target_seconds``: at the bound, an admitted request is answered within about the target,
    and everything beyond is refused before its body is read.
    """
    if target_seconds <= 0:
        raise ValueError(f"target {target_seconds} must be positive")
    return max(math.ceil(capacity_of(pipeline) * target_seconds), MIN_INFLIGHT)


def apply_queue_policy(config: Any, policy: QueuePolicy | None = None) -> None:
    """Set ``dynamic_batching.default_queue_policy`` (timeout_action REJECT) on a batching step's config.

    Without ``policy``, the step's own (:func:`policy_for` its name). The step must batch: Triton's default
    (non-batching) scheduler has no queue policy.
    """
    if config.max_batch_size <= 0:
        raise ValueError(f"{config.name}: max_batch_size is 0, so it has no dynamic batcher to bound")
    policy = policy or policy_for(config.name)
    queue = config.dynamic_batching.default_queue_policy
    queue.timeout_action = model_config_pb2.ModelQueuePolicy.REJECT
    queue.default_timeout_microseconds = policy.timeout_microseconds
    queue.allow_timeout_override = policy.allow_timeout_override
    queue.max_queue_size = policy.max_queue_size
