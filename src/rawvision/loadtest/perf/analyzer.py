"""Run NVIDIA's ``perf_analyzer`` (from the PyPI wheel ``perf-analyzer``) on real image payloads.

The wheel's binary needs glibc 2.38 and libstdc++ 3.4.32. Where the system's glibc is older (Debian 12
has 2.36), :func:`perf_analyzer_command` says so and takes a command prefix that runs it anyway, such as
``../shared/tools/with-glibc-2.41`` (set ``RAWVISION_PERF_ANALYZER_PREFIX`` or pass ``prefix``).

Input data is perf_analyzer's JSON format with base64 content; for a BYTES tensor each element is a
4-byte little-endian length followed by the bytes, and the base64 text must include that length.
"""

from __future__ import annotations

import base64
import csv
import itertools
import json
import os
import platform
import shlex
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REQUIRED_GLIBC = (2, 38)
DEFAULT_BINARY = Path(".tools/perf_analyzer/bin/perf_analyzer")
PREFIX_ENV = "RAWVISION_PERF_ANALYZER_PREFIX"
BINARY_ENV = "RAWVISION_PERF_ANALYZER"


class PerfAnalyzerError(RuntimeError):
    """perf_analyzer is missing, cannot run here, or failed."""


def glibc_version() -> tuple[int, int] | None:
    """The C library's version, or ``None`` when it is not glibc."""
    name, version = platform.libc_ver()
    if name != "glibc" or not version:
        return None
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def perf_analyzer_command(binary: str | Path | None = None, prefix: str | None = None) -> list[str]:
    """The command that runs perf_analyzer here: ``[*prefix, binary]``.

    Raises:
        PerfAnalyzerError: if the binary is missing, or glibc is too old and no prefix is given.

    """
    path = Path(binary or os.environ.get(BINARY_ENV) or DEFAULT_BINARY)
    if not path.is_file():
        raise PerfAnalyzerError(f"no perf_analyzer at {path}: run `make perf-analyzer` (it unpacks the PyPI "
                                f"wheel perf-analyzer into .tools/) or set {BINARY_ENV}")
    prefix = prefix if prefix is not None else os.environ.get(PREFIX_ENV)
    if prefix:
        return [*shlex.split(prefix), str(path.resolve())]
    libc = glibc_version()
    if libc is not None and libc < REQUIRED_GLIBC:
        raise PerfAnalyzerError(
            f"perf_analyzer needs glibc {'.'.join(map(str, REQUIRED_GLIBC))} or newer; this system has "
            f"{'.'.join(map(str, libc))}. Give a command prefix that provides it, e.g. "
            f"{PREFIX_ENV}=../shared/tools/with-glibc-2.41")
    return [str(path.resolve())]


def bytes_element(data: bytes) -> bytes:
    """One BYTES tensor element as Triton serialises it: 4-byte little-endian length, then the bytes."""
    return struct.pack("<I", len(data)) + data


def input_data(images: Sequence[bytes], input_name: str = "IMAGE") -> dict[str, object]:
    """perf_analyzer ``--input-data`` JSON: one batch-1 request per image, base64 with length prefix."""
    if not images:
        raise ValueError("input data needs at least one image")
    return {"data": [{input_name: {"content": {"b64": base64.b64encode(bytes_element(image)).decode("ascii")},
                                   "shape": [1]}} for image in images]}


@dataclass(frozen=True)
class PerfPoint:
    """One concurrency level as perf_analyzer measured it (latencies in milliseconds)."""

    concurrency: int
    throughput: float  # inferences (images) per second
    p50_ms: float
    p99_ms: float
    queue_ms: float  # server queue time, summed over the steps
    compute_ms: float  # server compute (input + infer + output), summed over the steps


def parse_csv(path: Path) -> list[PerfPoint]:
    """Read the CSV that ``perf_analyzer -f`` writes (latencies in microseconds)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    points = []
    for row in rows:
        compute = sum(float(row[k]) for k in ("Server Compute Input", "Server Compute Infer",
                                              "Server Compute Output"))
        points.append(PerfPoint(int(row["Concurrency"]), float(row["Inferences/Second"]),
                                float(row["p50 latency"]) / 1000, float(row["p99 latency"]) / 1000,
                                float(row["Server Queue"]) / 1000, compute / 1000))
    return sorted(points, key=lambda p: p.concurrency)


def run_perf_analyzer(command: Sequence[str], model: str, url: str, images: Sequence[bytes], workdir: Path,
                      concurrency: Sequence[int], interval_ms: int = 4000, timeout: float = 1800.0,
                      protocol: str = "http", max_trials: int = 10) -> list[PerfPoint]:
    """Run perf_analyzer over ``protocol`` (http or grpc) on ``model`` at each concurrency, ``images`` as data."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"{model}-input.json"
    data.write_text(json.dumps(input_data(images)), encoding="utf-8")
    results = workdir / f"{model}-perf.csv"
    args = [*command, "-m", model, "-u", url, "-i", protocol, "--input-data", str(data),
            "--concurrency-range", _range(concurrency),
            "--measurement-interval", str(interval_ms), "--stability-percentage", "100",
            "--max-trials", str(max_trials), "--percentile", "99", "-f", str(results)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    (workdir / f"{model}-perf.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0 or not results.is_file():
        raise PerfAnalyzerError(f"perf_analyzer failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return parse_csv(results)


def _range(concurrency: Sequence[int]) -> str:
    """perf_analyzer's ``start:end:step`` for an evenly spaced list."""
    values = sorted(concurrency)
    step = values[1] - values[0] if len(values) > 1 else 1
    if any(b - a != step for a, b in itertools.pairwise(values)):
        raise ValueError(f"concurrency levels must be evenly spaced, got {values}")
    return f"{values[0]}:{values[-1]}:{step}"
