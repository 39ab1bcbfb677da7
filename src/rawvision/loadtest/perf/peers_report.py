"""The side-by-side report: the table with ratios, CPU per process, Triton's per-step breakdown, a plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rawvision.loadtest.perf.side_by_side import ENSEMBLE, GRPC, LIMIT, PEER, PeersResult, Row

METHOD = """\
How it was measured, per ensemble, one after the other on the same machine:

- **cores**: the service (tritonserver and its Python stubs, the uvicorn master and workers, the limit's
  processes) runs on its own core(s) and hey on the other(s), `taskset -c` (see the header; `--no-pin` turns
  it off); "per core" below means per service core.
- **limit**: the ensemble's own code (`rawvision.transforms.preprocess` with the repository's spec and decode
  limits, the same model file on one intra-op thread, `rawvision.classify`; for a detector the pure detection
  core: decode with the limits, letterbox, head decoding, class-aware NMS, boxes back to the photo's pixels) in
  one plain process per core, no network, each looping over the images; img/s = all images / wall time,
  p50/p99 per image.
- **peer**: `rawvision.loadtest.perf.peer_service`, the FastAPI service a user would write (full Pillow decode, PIL
  resize, numpy crop and normalisation to the same spec, ONNX Runtime or TorchScript on one thread, softmax,
  top-k as JSON; for a detector `rawvision.loadtest.perf.detect_peer_service`: full Pillow decode, then the
  same pure detection core and model file on one ONNX Runtime thread, boxes, scores, labels and landmarks as
  JSON), under `uvicorn --workers <cores> --http httptools` (`uvicorn[standard]`, as FastAPI's docs
  install it; plain `uvicorn` with h11 adds ~40 ms per keep-alive request here: Nagle against delayed ACK).
- **ensemble**: the embedded Triton server with only this ensemble loaded, over HTTP with Triton's binary
  tensor protocol (JSON header + one BYTES element, `Inference-Header-Content-Length`; LABELS as JSON, or for a
  detector every output, BOXES, SCORES, CLASS_IDS, LABELS, COUNT and LANDMARKS, as JSON).
- **load generator**: `hey` for the peer and the ensemble. `hey -D` sends one body for all requests, so a
  mixed set is one hey run per image with the same request count; img/s = all requests / summed wall time
  of the runs, p50/p99 pooled from every run's `hey -o csv`. hey gives each connection `n // c` requests,
  so at 16 connections and 16 requests per image every run is one ramp-up and drain: mixed rows at high
  connection counts understate steady throughput for the peer and the ensemble alike (`--requests 64`
  for steadier figures). The gRPC row is driven by perf_analyzer, which cycles through all images in one
  run (another load generator; its figures are not used for ratios; its CPU column leaves it out).
- **checks**: before timing, every image is sent once to each service and its top-1 label (a detector: the
  count per label, e.g. `1 face`) compared with that side's own code in process (the peer's module; the
  ensemble's shared library); a mismatch fails the bench; bad bytes must get 400 from the peer. During
  timing, every response must be HTTP 200; the non-200 column counts the others.
- **CPU ms per image**: utime + stime from `/proc/<pid>/stat` before and after each row, per process
  (tritonserver, each Python stub by instance, the uvicorn master and workers, each limit process over its
  own loop, and hey itself, read before it is reaped), divided by the images answered. On a shared machine
  these are steadier than img/s. `/proc` counts in clock ticks (10 ms), so a process's figure is ±10 ms
  over the row's images (±0.05 ms per image over 200 images).
"""


def _find(rows: Sequence[Row], row: Row, service: str) -> Row | None:
    for other in rows:
        if (other.ensemble, other.image_set, other.service) == (row.ensemble, row.image_set, service) and (
                service == LIMIT or other.connections == row.connections):
            return other
    return None


def ratio(rows: Sequence[Row], row: Row, service: str) -> float | None:
    """``row``'s img/s over the ``service`` row's for the same ensemble, images and connections (limit: any)."""
    other = _find(rows, row, service)
    if other is None or other.images_per_second <= 0 or (row.service == LIMIT and service == PEER):
        return None
    return row.images_per_second / other.images_per_second


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_table(results: Sequence[PeersResult]) -> list[str]:
    """One line per ensemble, image set and connection count: the three sides and the two ratios."""
    lines = ["| ensemble | images | connections | ensemble img/s | ensemble p50 ms | peer img/s | peer p50 ms | "
             "limit img/s | limit p50 ms | ensemble / peer | ensemble / limit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        for row in result.rows:
            if row.service != ENSEMBLE:
                continue
            peer, limit = _find(result.rows, row, PEER), _find(result.rows, row, LIMIT)
            lines.append(
                f"| {row.ensemble} | {row.image_set} | {row.connections} | {row.images_per_second:.1f} | "
                f"{row.p50_ms:.1f} | {_fmt(peer.images_per_second if peer else None, 1)} | "
                f"{_fmt(peer.p50_ms if peer else None, 1)} | {_fmt(limit.images_per_second if limit else None, 1)} | "
                f"{_fmt(limit.p50_ms if limit else None, 1)} | "
                f"{_fmt(ratio(result.rows, row, PEER))} | {_fmt(ratio(result.rows, row, LIMIT))} |")
    return lines


def results_table(results: Sequence[PeersResult]) -> list[str]:
    """One line per row: throughput, latency, ratios, failures and CPU per image (total and per process)."""
    lines = ["| ensemble | images | service | connections | img/s | p50 ms | p99 ms | × peer | × limit | "
             "non-200 | CPU ms/img | CPU ms/img by process |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        for row in result.rows:
            processes = ", ".join(f"{name} {ms:.2f}" for name, ms in row.cpu_ms)
            connections = "-" if row.service == LIMIT else str(row.connections)
            lines.append(
                f"| {row.ensemble} | {row.image_set} | {row.service} | {connections} | "
                f"{row.images_per_second:.1f} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | "
                f"{_fmt(ratio(result.rows, row, PEER) if row.service != GRPC else None)} | "
                f"{_fmt(ratio(result.rows, row, LIMIT) if row.service != GRPC else None)} | "
                f"{row.failures} of {row.requests}{f' ({row.failure_kinds})' if row.failure_kinds else ''} | "
                f"{row.cpu_ms_total:.2f} | {processes} |")
    return lines


def breakdown_table(results: Sequence[PeersResult]) -> list[str]:
    """Triton's statistics per step over each ensemble row: batching, queue and compute µs per request."""
    lines = ["| ensemble | images | connections | model | requests | executions | mean batch | queue µs | "
             "compute input µs | compute infer µs | compute output µs |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        for part in result.breakdowns:
            for step in part.steps:
                lines.append(f"| {part.ensemble} | {part.image_set} | {part.connections} | {step.model} | "
                             f"{step.requests} | {step.executions} | {step.mean_batch:.2f} | {step.queue_us:.0f} | "
                             f"{step.compute_input_us:.0f} | {step.compute_infer_us:.0f} | "
                             f"{step.compute_output_us:.0f} |")
    return lines


def markdown(results: Sequence[PeersResult], header: str, levers: str, plot_name: str) -> str:
    """The whole report: header, method, image sets, results, plot, per-step breakdown, levers tried."""
    lines = [header, "", METHOD, "## Images", ""]
    for result in results:
        lines += [f"- {result.ensemble}, {name}: {description}" for name, description in result.image_sets]
    lines += ["", "Answers checked before timing: " + ", ".join(f"{r.ensemble} {r.checked} images on each side"
                                                              for r in results) + "."]
    for result in results:
        if result.answers:
            lines += ["", f"What {result.ensemble} found in each image (ensemble and limit; the peer's own check "
                      "agreed unless the log says otherwise): " + "; ".join(f"{image}: {answer}"
                                                                            for image, answer in result.answers)
                      + "."]
    lines += ["", "## Summary", "", *summary_table(results),
              "", "## Results", "", *results_table(results), "", f"![img/s by connections]({plot_name})", "",
              "## Where the ensemble's time goes", "",
              "Triton's statistics API (`/v2/models/stats`) before and after each ensemble row (HTTP, hey); "
              "the ensemble's own line sums its steps. Mean µs per request.", "", *breakdown_table(results),
              "", "## Levers tried", "", "Copied from [perf-levers.md](perf-levers.md), kept by hand.", "",
              levers.strip(), ""]
    return "\n".join(lines)


def plot(results: Sequence[PeersResult], path: Path) -> None:
    """img/s by connections: one panel per ensemble and image set; peer, ensemble (HTTP, gRPC), limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted({row.image_set for r in results for row in r.rows})
    figure, axes = plt.subplots(len(sets), len(results), figsize=(4.5 * len(results), 3.6 * len(sets)),
                                squeeze=False)
    styles = {PEER: ("o-", "tab:orange"), ENSEMBLE: ("s-", "tab:blue"), GRPC: ("^:", "tab:purple")}
    for column, result in enumerate(results):
        for line, image_set in enumerate(sets):
            axis = axes[line][column]
            rows = [row for row in result.rows if row.image_set == image_set]
            for service, (marker, colour) in styles.items():
                points = sorted((row.connections, row.images_per_second) for row in rows if row.service == service)
                if points:
                    axis.plot(*zip(*points, strict=True), marker, color=colour, label=service)
            for row in rows:
                if row.service == LIMIT:
                    axis.axhline(row.images_per_second, color="tab:green", linestyle="--", label="limit")
            axis.set_xscale("log", base=2)
            levels = sorted({row.connections for row in rows if row.service != LIMIT})
            axis.set_xticks(levels, [str(level) for level in levels])
            axis.set_xlabel("connections")
            axis.set_ylabel("images / second")
            axis.set_ylim(bottom=0)
            axis.set_title(f"{result.ensemble}, {image_set}")
            axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
