"""What ``rawvision serve``'s gate (``rawvision.server.gate``) admits: each model's in-flight bound.

Each model of the repository gets its pipeline's bound (:func:`~rawvision.pipelines.queue_policy.inflight_bound`:
declared capacity × the admission target); the bound on all inference together is the largest of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rawvision.pipelines.queue_policy import inflight_bound
from rawvision.repository import model_names
from rawvision.server.gate import Gate
from rawvision.server.nginx import Admission

MIN_TOTAL_INFLIGHT = 16
"""The gate's bound on all inference in flight is the largest model bound, and at least this."""


def gate_admission(models: Sequence[str], control_timeout: float = 300.0) -> Admission:
    """The gate's admission for one server serving ``models``: each its own in-flight bound."""
    bounds = tuple((name, inflight_bound(name)) for name in sorted(models))
    total = max([MIN_TOTAL_INFLIGHT, *(bound for _name, bound in bounds)])
    return Admission(per_replica=total, pipelines=bounds, control_timeout=control_timeout)


def repository_gate(repository: Path, host: str, port: int, control_timeout: float = 300.0) -> Gate:
    """The gate for every model of ``repository`` (pipelines, and steps called directly) on ``host:port``."""
    return Gate(host, port, gate_admission(model_names(repository), control_timeout))


def repository_bounds(repository: Path) -> tuple[tuple[str, int], ...]:
    """``(model, in-flight bound)`` for every model of ``repository`` (``Admission.pipelines``)."""
    return gate_admission(model_names(repository)).pipelines
