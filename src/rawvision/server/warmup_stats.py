"""What the warm-up did, read from Triton's statistics API right after ready (before any traffic).

Triton counts warm-up executions in ``/v2/models/stats`` like any others (verified on 2.51), and logs them
only at ``--log-verbose=1``; so the statistics are the signal the server and the tests read.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StepWarmup:
    """One model version's executions so far: batch sizes seen, executions and compute seconds."""

    model: str
    version: str
    batch_sizes: tuple[int, ...]
    executions: int
    failures: int
    compute_seconds: float


def model_stats(http_url: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """``/v2/models/stats`` of a running server (every loaded model and version)."""
    with urllib.request.urlopen(f"http://{http_url}/v2/models/stats", timeout=timeout) as response:
        stats: list[dict[str, Any]] = json.load(response)["model_stats"]
    return stats


def step_warmups(stats: Sequence[Mapping[str, Any]]) -> list[StepWarmup]:
    """Each model version with executions, summarised (ensembles execute nothing of their own)."""
    steps = []
    for entry in stats:
        batches = entry.get("batch_stats") or []
        if not batches:
            continue
        seconds = sum(int(b[part]["ns"]) for b in batches
                      for part in ("compute_input", "compute_infer", "compute_output")) / 1e9
        steps.append(StepWarmup(
            model=entry["name"], version=entry["version"],
            batch_sizes=tuple(sorted(int(b["batch_size"]) for b in batches)),
            executions=int(entry["execution_count"]),
            failures=int(entry["inference_stats"]["fail"]["count"]),
            compute_seconds=seconds))
    return steps


def summary(steps: list[StepWarmup]) -> str:
    """One line for the console: how many steps ran how many warm-up executions, and their compute time."""
    executions = sum(s.executions for s in steps)
    seconds = sum(s.compute_seconds for s in steps)
    slowest = max(steps, key=lambda s: s.compute_seconds, default=None)
    tail = f"; slowest {slowest.model} {slowest.compute_seconds:.1f} s" if slowest else ""
    return f"warm-up: {executions} executions on {len(steps)} steps, {seconds:.1f} s of step compute{tail}"
