"""The side-by-side bench's pure parts: hey CSV, /proc, Triton statistics, ratios, report, peer parity."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from rawvision.loadtest.perf import peer_service, proc, triton_stats
from rawvision.loadtest.perf.hey import HeyRun, parse_csv, sent, summarise, triton_body
from rawvision.loadtest.perf.peers_report import breakdown_table, markdown, ratio, results_table
from rawvision.loadtest.perf.side_by_side import ENSEMBLE, GRPC, LIMIT, PEER, Breakdown, PeersResult, Row, cpu_per_image
from rawvision.transforms import PreprocessSpec, preprocess

HEY_CSV = """response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
0.0100,0.0005,0.0000,0.0000,0.0095,0.0000,200,0.0010
0.0300,0.0000,0.0000,0.0000,0.0290,0.0000,200,0.0120
0.0200,0.0000,0.0000,0.0000,0.0190,0.0000,503,0.0500
"""


def test_hey_csv_gives_latencies_statuses_and_wall_time() -> None:
    latencies, statuses, wall = parse_csv(HEY_CSV)
    assert latencies == [0.01, 0.03, 0.02]
    assert statuses == [200, 200, 503]
    assert wall == pytest.approx(0.07)  # the last request: offset 0.05 + 0.02


def test_failures_count_non_200_and_missing_rows() -> None:
    latencies, statuses, wall = parse_csv(HEY_CSV)
    run = HeyRun(4, tuple(latencies), tuple(statuses), wall)  # one request hey never recorded (an error)
    assert run.failures == 2


def test_summary_pools_runs() -> None:
    runs = [HeyRun(2, (0.01, 0.03), (200, 200), 0.5, 0.1), HeyRun(2, (0.02, 0.04), (200, 500), 0.5, 0.2)]
    summary = summarise(runs)
    assert summary.requests == 4
    assert summary.failures == 1
    assert summary.images_per_second == pytest.approx(3.0)  # 3 good answers in 1 s of summed wall time
    assert summary.p50_ms == pytest.approx(25.0)
    assert summary.client_cpu_seconds == pytest.approx(0.3)
    assert summary.failure_kinds == "500 x1"
    assert summarise([HeyRun(3, (0.01,), (503,), 0.1)]).failure_kinds == "503 x1, no response x2"


def test_hey_sends_whole_rounds_per_worker() -> None:
    assert sent(200, 16) == 192
    assert sent(2, 4) == 4
    assert sent(200, 4) == 200


def test_triton_body_is_json_header_then_one_length_prefixed_element() -> None:
    body, header_length = triton_body(b"\xff\xd8jpeg")
    header = json.loads(body[:header_length])
    assert header["inputs"][0] == {"name": "IMAGE", "shape": [1, 1], "datatype": "BYTES",
                                   "parameters": {"binary_data_size": 10}}
    assert header["outputs"][0]["parameters"] == {"binary_data": False}
    assert body[header_length:] == struct.pack("<I", 6) + b"\xff\xd8jpeg"


def test_proc_stat_parses_names_with_spaces_and_parentheses() -> None:
    line = "4242 (triton (x) b) S 17 4242 17 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 0 0"
    parsed = proc.parse_stat(line, ticks_per_second=100)
    assert (parsed.pid, parsed.name, parsed.ppid) == (4242, "triton (x) b", 17)
    assert parsed.cpu_seconds == pytest.approx(3.0)
    with pytest.raises(ValueError, match="stat"):
        proc.parse_stat("1 (x) S 0", 100)


def test_proc_reads_this_process_and_finds_children(tmp_path: Path) -> None:
    for pid, ppid, name in [(10, 1, "tritonserver"), (11, 10, "triton_python_b"), (12, 99, "other")]:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({name}) S {ppid} 0 0 0 0 0 0 0 0 0 7 3 0 0")
    (tmp_path / "self").mkdir()
    assert proc.children(10, tmp_path) == [11]
    assert proc.snapshot({"server": 10, "gone": 13}, tmp_path) == {"server": pytest.approx(10 / proc.ticks())}
    assert proc.delta({"a": 1.0, "b": 2.0}, {"a": 1.5, "c": 9.0}) == {"a": 0.5}


def test_stub_name_comes_from_the_command_line() -> None:
    args = ["/b/triton_python_backend_stub", "/r/model_repository/mnist_onnx/1/embedded_runner.py", "shm",
            "1048576", "1048576", "99", "/b", "336", "mnist_onnx_0_1", "DEFAULT"]
    assert proc.stub_name(args) == "mnist_onnx_0_1"
    assert proc.stub_name(args[:2]) == "mnist_onnx"
    assert proc.stub_name(["python", "-m", "uvicorn"]) is None


def _stats(success: int, executions: int, queue_ns: int, infer_ns: int) -> dict[str, object]:
    phases = {"success": {"count": success, "ns": 0}, "queue": {"count": success, "ns": queue_ns},
              "compute_input": {"count": success, "ns": 0}, "compute_infer": {"count": success, "ns": infer_ns},
              "compute_output": {"count": success, "ns": 0}}
    return {"model_stats": [{"name": "mnist_onnx", "version": "1", "inference_count": success,
                             "execution_count": executions, "inference_stats": phases},
                            {"name": "idle", "version": "1", "inference_count": 0, "execution_count": 0,
                             "inference_stats": {}}]}


def test_stats_delta_gives_batching_and_mean_microseconds() -> None:
    before = triton_stats.counters(_stats(10, 10, 1_000_000, 2_000_000))
    after = triton_stats.counters(_stats(110, 35, 6_000_000, 52_000_000))
    (step,) = triton_stats.delta(before, after)
    assert (step.model, step.requests, step.executions) == ("mnist_onnx", 100, 25)
    assert step.mean_batch == pytest.approx(4.0)
    assert step.queue_us == pytest.approx(50.0)
    assert step.compute_infer_us == pytest.approx(500.0)


def _row(service: str, connections: int, rate: float) -> Row:
    return Row("imagenet", "mixed", service, connections, rate, 10.0, 20.0, 100, 0,
               (("tritonserver", 1.5), ("hey", 0.25)))


ROWS = (_row(LIMIT, 0, 200.0), _row(PEER, 4, 100.0), _row(ENSEMBLE, 4, 150.0), _row(ENSEMBLE, 16, 180.0),
        _row(GRPC, 4, 160.0))


def test_ratios_compare_like_with_like() -> None:
    assert ratio(ROWS, ROWS[2], PEER) == pytest.approx(1.5)
    assert ratio(ROWS, ROWS[2], LIMIT) == pytest.approx(0.75)
    assert ratio(ROWS, ROWS[3], PEER) is None  # no peer row at 16 connections
    assert ratio(ROWS, ROWS[0], PEER) is None
    assert cpu_per_image({"a": 1.0}, {"a": 1.5}, 250, {"hey": 0.25}) == (("a", 2.0), ("hey", 1.0))


def test_markdown_report_has_rows_ratios_breakdown_and_levers() -> None:
    step = triton_stats.StepStats("imagenet_onnx", 100, 50, 12.0, 1.0, 900.0, 2.0)
    result = PeersResult("imagenet", (("mixed", "20 photos"),), ROWS, (Breakdown("imagenet", "mixed", 4, (step,)),),
                         20)
    table = results_table([result])
    assert table[4].startswith("| imagenet | mixed | ensemble | 4 | 150.0 | 10.0 | 20.0 | 1.50 | 0.75 | 0 of 100 |")
    assert table[6].split("|")[8:10] == [" - ", " - "]  # gRPC: another load generator, no ratios
    assert "| imagenet | mixed | 4 | imagenet_onnx | 100 | 50 | 2.00 | 12 | 1 | 900 | 2 |" in breakdown_table([result])
    text = markdown([result], "# Title", "| lever | effect |\n|---|---|\n", "perf-peers.png")
    assert text.startswith("# Title\n")
    assert "- imagenet, mixed: 20 photos" in text
    assert "## Levers tried" in text and "| lever | effect |" in text
    assert "![img/s by connections](perf-peers.png)" in text


@pytest.mark.parametrize("spec", [
    PreprocessSpec(resize=256, crop=(224, 224), mean=(127.0,) * 3, std=(128.0,) * 3, scale=1.0),
    PreprocessSpec(resize=(28, 28), mean=(0.5,), std=(0.5,), color_mode="L"),
])
def test_peer_preprocessing_matches_the_ensembles_full_decode(spec: PreprocessSpec,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from rawvision.loadtest.perf.images import encode, photo

    monkeypatch.setattr(peer_service, "SPEC", {k: v for k, v in spec.__dict__.items() if k != "jpeg_draft"})
    for size in [(320, 240), (240, 320)]:
        data = encode(photo("coffee", size), "JPEG")
        np.testing.assert_allclose(peer_service.preprocess(data), preprocess([data], spec), atol=1e-6)


def test_rows_are_scaled_to_last_as_long_as_the_limit_takes() -> None:
    from rawvision.loadtest.perf.images import ImageSet
    from rawvision.loadtest.perf.side_by_side import Settings, scaled_to_limit

    mixed = ImageSet("mixed", (b"a", b"b", b"c", b"d"), ("0",) * 4, "four")
    typical = ImageSet("typical", (b"a",), ("0",), "one")
    limit = [Row("mnist", "mixed", LIMIT, 0, 4000.0, 0.5, 0.8, 100, 0, ()),
             Row("mnist", "typical", LIMIT, 0, 50.0, 0.5, 0.8, 100, 0, ())]
    settings = scaled_to_limit(Settings(requests_per_image=16, typical_requests=200, seconds_per_row=2.0),
                               [mixed, typical], limit)
    assert settings.requests_per_image == 2000  # 4000 img/s x 2 s over 4 images
    assert settings.typical_requests == 200  # 50 x 2 = 100 is fewer than asked for: the floor stays
