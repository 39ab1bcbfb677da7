"""perf_analyzer input data, command detection and CSV parsing (no server)."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from rawvision.loadtest.perf import analyzer
from rawvision.loadtest.perf.analyzer import PerfAnalyzerError, input_data, parse_csv, perf_analyzer_command


def test_bytes_input_data_carries_the_length_prefix() -> None:
    data = input_data([b"\x89PNG-one", b"\xff\xd8jpeg-two!"])
    entries = data["data"]
    assert isinstance(entries, list) and len(entries) == 2
    raw = base64.b64decode(entries[1]["IMAGE"]["content"]["b64"])
    assert raw[:4] == struct.pack("<I", len(b"\xff\xd8jpeg-two!")) and raw[4:] == b"\xff\xd8jpeg-two!"
    assert entries[0]["IMAGE"]["shape"] == [1]
    with pytest.raises(ValueError):
        input_data([])


def test_old_glibc_is_detected_and_a_prefix_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "perf_analyzer"
    binary.write_bytes(b"")
    monkeypatch.delenv(analyzer.PREFIX_ENV, raising=False)
    monkeypatch.setattr(analyzer, "glibc_version", lambda: (2, 36))
    with pytest.raises(PerfAnalyzerError, match=r"needs glibc 2\.38 or newer; this system has 2\.36"):
        perf_analyzer_command(binary)
    assert perf_analyzer_command(binary, prefix="/opt/with-glibc --quiet") == [
        "/opt/with-glibc", "--quiet", str(binary.resolve())]
    monkeypatch.setattr(analyzer, "glibc_version", lambda: (2, 41))
    assert perf_analyzer_command(binary) == [str(binary.resolve())]
    with pytest.raises(PerfAnalyzerError, match="make perf-analyzer"):
        perf_analyzer_command(tmp_path / "missing")


def test_csv_is_read_in_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "perf.csv"
    path.write_text("Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
                    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,"
                    "p90 latency,p95 latency,p99 latency,Avg latency\n"
                    "2,150.5,10,100,2000,100,3000,900,5,12000,13000,14000,25000,12500\n"
                    "1,100,10,100,0,100,3000,900,5,9000,9500,9800,10000,9100\n")
    points = parse_csv(path)
    assert [p.concurrency for p in points] == [1, 2]
    assert points[1].throughput == 150.5 and points[1].p50_ms == 12.0 and points[1].p99_ms == 25.0
    assert points[1].queue_ms == 2.0 and points[1].compute_ms == 4.0
