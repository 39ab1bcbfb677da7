"""``rawvision bench --peers``: run the side-by-side bench on each ensemble and write ``docs/perf.md``."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rawvision.loadtest.perf.peers_report import markdown, plot
from rawvision.loadtest.perf.run import machine
from rawvision.loadtest.perf.side_by_side import (
    CLASSIFIERS,
    DETECTORS,
    Breakdown,
    PeersResult,
    Row,
    Settings,
    bench_ensemble,
)
from rawvision.loadtest.perf.triton_stats import StepStats

LOGGER = logging.getLogger(__name__)
REPORT, PLOT, LEVERS, RESULTS = "perf.md", "perf-peers.png", "perf-levers.md", "perf-peers.json"


def result_from_json(data: dict[str, Any]) -> PeersResult:
    """A :class:`PeersResult` from its ``asdict`` JSON (tuples come back as lists)."""
    rows = tuple(Row(**{**row, "cpu_ms": tuple((name, ms) for name, ms in row["cpu_ms"])}) for row in data["rows"])
    breakdowns = tuple(Breakdown(b["ensemble"], b["image_set"], b["connections"],
                                 tuple(StepStats(**step) for step in b["steps"])) for b in data["breakdowns"])
    return PeersResult(data["ensemble"], tuple((name, text) for name, text in data["image_sets"]), rows, breakdowns,
                       data["checked"], tuple((image, answer) for image, answer in data.get("answers", [])),
                       data.get("measured", ""))


def merged(earlier: Sequence[PeersResult], new: Sequence[PeersResult]) -> list[PeersResult]:
    """``new`` results replace earlier ones of the same ensemble; the others are kept, in their order."""
    fresh = {result.ensemble: result for result in new}
    kept = [fresh.pop(result.ensemble, result) for result in earlier]
    return [*kept, *fresh.values()]


def default_ensembles(repository: Path) -> list[str]:
    """Every classifier, and every built-in detector the repository has (``faces`` once its model is built)."""
    detectors = [name for name in DETECTORS if (repository / name / "config.pbtxt").is_file()]
    for name in sorted(set(DETECTORS) - set(detectors)):
        LOGGER.warning("not benchmarked: %s is not in %s", name, repository)
    return [*CLASSIFIERS, *detectors]


def run_peers(repository: Path, out: Path, ensembles: Sequence[str] | None = None,
              settings: Settings | None = None, note: str = "") -> tuple[Path, list[PeersResult]]:
    """Bench ``ensembles`` (default: every classifier and detector); write ``out/perf.md`` and ``out/perf-peers.png``.

    With pinned cores, the peer gets one worker and the limit one process per *service* core.
    """
    settings = settings or Settings()
    if settings.pin.pinned:
        settings = replace(settings, workers=len(settings.pin.service))
    out.mkdir(parents=True, exist_ok=True)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    how = (f"{today} on {machine()}; {settings.pin.describe()}; {settings.workers} peer worker(s) and limit "
           f"process(es); at least {settings.requests_per_image} requests per image per run on the mixed sets, "
           f"{settings.typical_requests} on the typical image. {note}").rstrip()
    results = [replace(bench_ensemble(repository, name, settings, out / ".peers-work" / name), measured=how)
               for name in (ensembles or default_ensembles(repository))]
    store = out / RESULTS
    earlier = [result_from_json(r) for r in json.loads(store.read_text(encoding="utf-8"))] if store.is_file() else []
    report = merged(earlier, results) if ensembles else results  # a subset run keeps the other ensembles' rows
    store.write_text(json.dumps([asdict(r) for r in report], indent=1) + "\n", encoding="utf-8")
    header = "# The ensembles against the service a user would write\n\n" + "\n".join(
        f"- {r.ensemble}: measured {r.measured or '(date not recorded)'}" for r in report)
    levers = out / LEVERS
    table = levers.read_text(encoding="utf-8") if levers.is_file() else "(no docs/perf-levers.md yet)"
    (out / REPORT).write_text(markdown(report, header, table, PLOT), encoding="utf-8")
    plot(report, out / PLOT)
    return out / REPORT, results
