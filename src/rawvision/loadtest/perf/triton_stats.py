"""Per-step time breakdown from Triton's statistics API (``/v2/models/stats``), as a before/after delta."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PHASES = ("queue", "compute_input", "compute_infer", "compute_output")


@dataclass(frozen=True)
class StepStats:
    """One model's work between two snapshots: requests, executions and mean µs per request by phase."""

    model: str
    requests: int
    executions: int
    queue_us: float
    compute_input_us: float
    compute_infer_us: float
    compute_output_us: float

    @property
    def mean_batch(self) -> float:
        """Requests per execution (the dynamic batcher's mean batch size)."""
        return self.requests / self.executions if self.executions else 0.0


Counters = dict[str, dict[str, int]]


def fetch(url: str) -> dict[str, Counters]:
    """Snapshot ``http://<url>/v2/models/stats``: per model, its counters (counts and ns per phase)."""
    with urllib.request.urlopen(f"http://{url}/v2/models/stats", timeout=30) as response:
        return counters(json.load(response))


def counters(stats: Mapping[str, Any]) -> dict[str, Counters]:
    """Pick the counters out of the statistics JSON (the newest version of each model wins)."""
    found: dict[str, Counters] = {}
    for model in stats.get("model_stats", []):
        phases = model.get("inference_stats", {})
        found[model["name"]] = {
            "totals": {"inference_count": int(model.get("inference_count", 0)),
                       "execution_count": int(model.get("execution_count", 0)),
                       "success": int(phases.get("success", {}).get("count", 0))},
            **{phase: {"count": int(phases.get(phase, {}).get("count", 0)),
                       "ns": int(phases.get(phase, {}).get("ns", 0))} for phase in PHASES},
        }
    return found


def delta(before: Mapping[str, Counters], after: Mapping[str, Counters]) -> list[StepStats]:
    """What each model did between two snapshots; models with no new requests are left out."""
    steps = []
    for model, now in after.items():
        then = before.get(model)
        if then is None:
            continue
        requests = now["totals"]["success"] - then["totals"]["success"]
        if requests <= 0:
            continue
        executions = now["totals"]["execution_count"] - then["totals"]["execution_count"]
        mean_us = {phase: (now[phase]["ns"] - then[phase]["ns"]) / requests / 1000 for phase in PHASES}
        steps.append(StepStats(model, requests, executions, mean_us["queue"], mean_us["compute_input"],
                               mean_us["compute_infer"], mean_us["compute_output"]))
    return sorted(steps, key=lambda s: s.model)
