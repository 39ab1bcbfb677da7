"""A bounded queue for each batching step: Triton rejects what it cannot serve soon, instead of queueing.

Triton's dynamic batcher takes a ``default_queue_policy``: a request waiting longer than the timeout, or
arriving when ``max_queue_size`` requests already wait, is answered UNAVAILABLE (HTTP 503) at once.
The defaults below were chosen by measurement (docs/reliability.md, "Bounded under overload").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritonclient.grpc import model_config_pb2


@dataclass(frozen=True)
class QueuePolicy:
    """How many requests may wait for an entry step, and for how long.

    Attributes:
        max_queue_size: requests waiting beyond this many are rejected on arrival.
        timeout_microseconds: a request still waiting after this long is rejected.
        allow_timeout_override: let a request ask for a shorter timeout of its own.
    """

    max_queue_size: int = 32
    timeout_microseconds: int = 5_000_000
    allow_timeout_override: bool = True

    def __post_init__(self) -> None:
        if self.max_queue_size < 1:
            raise ValueError(f"max_queue_size {self.max_queue_size} must be at least 1")
        if self.timeout_microseconds < 1:
            raise ValueError(f"timeout_microseconds {self.timeout_microseconds} must be positive")


DEFAULT_POLICY = QueuePolicy()


def apply_queue_policy(config: Any, policy: QueuePolicy = DEFAULT_POLICY) -> None:
    """Set ``dynamic_batching.default_queue_policy`` (timeout_action REJECT) on a batching step's config.

    The step must batch: Triton's default (non-batching) scheduler has no queue policy.
    """
    if config.max_batch_size <= 0:
        raise ValueError(f"{config.name}: max_batch_size is 0, so it has no dynamic batcher to bound")
    queue = config.dynamic_batching.default_queue_policy
    queue.timeout_action = model_config_pb2.ModelQueuePolicy.REJECT
    queue.default_timeout_microseconds = policy.timeout_microseconds
    queue.allow_timeout_override = policy.allow_timeout_override
    queue.max_queue_size = policy.max_queue_size
