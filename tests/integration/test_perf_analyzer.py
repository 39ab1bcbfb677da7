"""One short perf_analyzer run on mnist: the input data and the glibc wrapper work against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawvision.loadtest.perf.analyzer import (
    DEFAULT_BINARY,
    PerfAnalyzerError,
    glibc_version,
    perf_analyzer_command,
    run_perf_analyzer,
)
from rawvision.loadtest.perf.run import bench_images
from rawvision.pipelines.reader import read_pipeline
from rawvision.server.embedded import ServerOptions

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT.parent / "shared" / "tools" / "with-glibc-2.41"


def test_perf_analyzer_runs_on_real_images(server: ServerOptions, repository: Path, tmp_path: Path) -> None:
    binary = ROOT / DEFAULT_BINARY
    if not binary.is_file():
        pytest.skip("perf_analyzer is not unpacked: `make perf-analyzer`")
    libc = glibc_version()
    prefix = None
    if libc is not None and libc < (2, 38):
        with pytest.raises(PerfAnalyzerError, match=r"needs glibc 2\.38"):
            perf_analyzer_command(binary, prefix="")
        if not SHIM.is_file():
            pytest.skip(f"glibc {libc} and no {SHIM} to run perf_analyzer with")
        prefix = str(SHIM)
    command = perf_analyzer_command(binary, prefix)
    images, _ = bench_images(read_pipeline(repository, "mnist"))
    points = run_perf_analyzer(command, "mnist", server.http_url, images, tmp_path, [1], interval_ms=1000)
    assert len(points) == 1 and points[0].concurrency == 1
    assert points[0].throughput > 0 and points[0].p99_ms >= points[0].p50_ms > 0
    log = (tmp_path / "mnist-perf.log").read_text()
    assert "Request concurrency: 1" in log
