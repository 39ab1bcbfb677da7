"""``rawvision bench --peers``: run the side-by-side bench on each classifier and write ``docs/perf.md``."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from pathlib import Path

from rawvision.loadtest.perf.peers_report import markdown, plot
from rawvision.loadtest.perf.run import machine
from rawvision.loadtest.perf.side_by_side import CLASSIFIERS, PeersResult, Settings, bench_ensemble

LOGGER = logging.getLogger(__name__)
REPORT, PLOT, LEVERS = "perf.md", "perf-peers.png", "perf-levers.md"


def run_peers(repository: Path, out: Path, ensembles: Sequence[str] | None = None,
              settings: Settings | None = None, note: str = "") -> tuple[Path, list[PeersResult]]:
    """Bench ``ensembles`` (default: every classifier) and write ``out/perf.md`` and ``out/perf-peers.png``."""
    settings = settings or Settings()
    out.mkdir(parents=True, exist_ok=True)
    results = [bench_ensemble(repository, name, settings, out / ".peers-work" / name)
               for name in (ensembles or CLASSIFIERS)]
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"# The ensembles against the service a user would write\n\nMeasured {today} on {machine()}; "
              f"{settings.requests_per_image} requests per image per run on the mixed sets, "
              f"{settings.typical_requests} on the typical image. {note}").rstrip()
    levers = out / LEVERS
    table = levers.read_text(encoding="utf-8") if levers.is_file() else "(no docs/perf-levers.md yet)"
    (out / REPORT).write_text(markdown(results, header, table, PLOT), encoding="utf-8")
    plot(results, out / PLOT)
    return out / REPORT, results
