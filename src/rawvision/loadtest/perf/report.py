"""Write the benchmark as Markdown and a PNG plot (throughput and p50/p99 latency against concurrency)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rawvision.loadtest.perf.analyzer import PerfPoint
from rawvision.loadtest.perf.baseline import BaselinePoint


@dataclass(frozen=True)
class EnsembleResult:
    """Everything measured for one ensemble."""

    ensemble: str
    images: str  # what the input data was
    points: list[PerfPoint]
    in_process: list[BaselinePoint]
    two_call: BaselinePoint | None
    server_cpu_ms_per_image: float | None = None  # tritonserver + its stubs, over the perf_analyzer run
    client_cpu_ms_per_image: float | None = None  # perf_analyzer itself, on the same cores

    @property
    def best(self) -> PerfPoint:
        """The concurrency with the highest throughput."""
        return max(self.points, key=lambda p: p.throughput)

    @property
    def best_in_process(self) -> BaselinePoint:
        """The fastest in-process setting."""
        return max(self.in_process, key=lambda p: p.throughput)


def markdown(results: Sequence[EnsembleResult], header: str, plot_name: str) -> str:
    """The report: a summary table of ratios, then each ensemble's curve and baselines."""
    lines = [header, "", "| ensemble | best concurrency | ensemble img/s | in-process img/s (best setting) | "
             "ratio to in-process | two-call img/s | ratio to two-call |", "|---|---|---|---|---|---|---|"]
    for r in results:
        best, base = r.best, r.best_in_process
        two = f"{r.two_call.throughput:.1f}" if r.two_call else "-"
        two_ratio = f"{best.throughput / r.two_call.throughput:.2f}" if r.two_call else "-"
        lines.append(f"| {r.ensemble} | {best.concurrency} | {best.throughput:.1f} | {base.throughput:.1f} "
                     f"({base.setting}) | {best.throughput / base.throughput:.2f} | {two} | {two_ratio} |")
    lines += ["", f"![throughput and latency]({plot_name})", ""]
    for r in results:
        lines += [f"## {r.ensemble}", "", f"Input data: {r.images}.", "",
                  "| concurrency | img/s | p50 ms | p99 ms | server queue ms | server compute ms |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {p.concurrency} | {p.throughput:.1f} | {p.p50_ms:.1f} | {p.p99_ms:.1f} | {p.queue_ms:.1f} "
                  f"| {p.compute_ms:.1f} |" for p in r.points]
        lines += ["", "In-process baseline (one Python process, no server):", "",
                  "| setting | img/s |", "|---|---|"]
        lines += [f"| {b.setting} | {b.throughput:.1f} |" for b in r.in_process]
        if r.server_cpu_ms_per_image is not None:
            base = r.best_in_process
            lines += ["", "CPU time per image (all threads; on 2 cores the throughput ceiling is 2000 / ms):", "",
                      "| where | CPU ms per image |", "|---|---|",
                      f"| in-process ({base.setting}) | {base.cpu_ms_per_image or 0:.1f} |",
                      f"| Triton server + Python stubs | {r.server_cpu_ms_per_image:.1f} |",
                      f"| perf_analyzer (the load generator, same cores) | {r.client_cpu_ms_per_image or 0:.1f} |"]
        if r.two_call:
            lines += ["", f"Two-call client ({r.two_call.setting}): {r.two_call.throughput:.1f} img/s.", ""]
    return "\n".join(lines) + "\n"


def plot(results: Sequence[EnsembleResult], path: Path) -> None:
    """Throughput (left axis) and p50/p99 latency (right axis) against concurrency, one panel per ensemble."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for axis, r in zip(axes[0], results, strict=True):
        levels = [p.concurrency for p in r.points]
        axis.plot(levels, [p.throughput for p in r.points], "o-", color="tab:blue", label="ensemble img/s")
        axis.axhline(r.best_in_process.throughput, color="tab:green", linestyle="--", label="in-process img/s")
        if r.two_call:
            axis.axhline(r.two_call.throughput, color="tab:gray", linestyle=":", label="two-call img/s")
        axis.set_xlabel("concurrency")
        axis.set_ylabel("images / second")
        axis.set_ylim(bottom=0)
        axis.set_title(r.ensemble)
        latency = axis.twinx()
        latency.plot(levels, [p.p50_ms for p in r.points], "s--", color="tab:orange", label="p50 ms")
        latency.plot(levels, [p.p99_ms for p in r.points], "^--", color="tab:red", label="p99 ms")
        latency.set_ylabel("latency (ms)")
        latency.set_ylim(bottom=0)
        handles = axis.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
        axis.legend(handles, [h.get_label() for h in handles], loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
