"""The side-by-side harness end to end on mnist: limit, FastAPI peer and ensemble, a few seconds each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rawvision.loadtest.perf.side_by_side import ENSEMBLE, LIMIT, PEER, Settings, bench_ensemble

pytestmark = pytest.mark.integration


def test_peers_bench_runs_and_checks_every_answer(repository: Path, tmp_path: Path) -> None:
    if shutil.which("hey") is None:
        pytest.skip("hey is not installed: `make setup` (Debian package hey)")
    settings = Settings(connections=(1,), requests_per_image=2, typical_requests=10, workers=2, grpc=False)
    result = bench_ensemble(repository, "mnist", settings, tmp_path)

    assert result.checked == 9  # 8 mixed digits + 1 typical, top-1 compared on each side before timing
    kinds = {(row.service, row.image_set, row.connections) for row in result.rows}
    assert kinds == {(LIMIT, "mixed", 0), (LIMIT, "typical", 0), (PEER, "mixed", 1), (PEER, "typical", 1),
                     (ENSEMBLE, "mixed", 1), (ENSEMBLE, "typical", 1)}
    for row in result.rows:
        assert row.failures == 0, row
        assert row.images_per_second > 0 and 0 < row.p50_ms <= row.p99_ms
    served = {row.service: dict(row.cpu_ms) for row in result.rows if row.image_set == "mixed"}
    assert {"tritonserver", "stub mnist_preprocess_0_0", "stub mnist_onnx_0_0", "stub mnist_postprocess_0_0",
            "hey"} <= set(served[ENSEMBLE])
    assert {"uvicorn master", "peer worker 1", "peer worker 2", "hey"} <= set(served[PEER])
    assert set(served[LIMIT]) == {"limit process 1", "limit process 2"}
    (mixed, _) = result.breakdowns
    steps = {step.model: step for step in mixed.steps}
    assert set(steps) == {"mnist", "mnist_preprocess", "mnist_onnx", "mnist_postprocess"}
    assert steps["mnist_onnx"].requests == 16 and steps["mnist_onnx"].executions >= 1
