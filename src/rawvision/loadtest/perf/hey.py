"""Drive ``hey`` (one POST body per run), parse its per-request CSV, and pool runs into one summary.

``hey -D`` sends the same body on every request, so a mixed image set is one hey run per image with the
same request count; the runs are pooled: images / summed wall time, latencies from every run's CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawvision.loadtest.perf import proc
from rawvision.loadtest.perf.analyzer import bytes_element


class HeyError(RuntimeError):
    """``hey`` is missing or failed."""


@dataclass(frozen=True)
class HeyRun:
    """One hey run: per-request latencies (s) and status codes, wall time, failures, hey's own CPU."""

    requested: int
    latencies: tuple[float, ...]
    statuses: tuple[int, ...]
    wall_seconds: float
    cpu_seconds: float = 0.0

    @property
    def failures(self) -> int:
        """Requests that did not come back 200 (errors hey never recorded count too)."""
        return self.requested - sum(1 for s in self.statuses if s == 200)


@dataclass(frozen=True)
class Summary:
    """Pooled runs: images per second, p50/p99 in milliseconds, failures and the load generator's CPU."""

    requests: int
    failures: int
    images_per_second: float
    p50_ms: float
    p99_ms: float
    wall_seconds: float
    client_cpu_seconds: float
    failure_kinds: str = ""  # e.g. "503 x2, no response x1"


def parse_csv(text: str) -> tuple[list[float], list[int], float]:
    """``hey -o csv`` → (latencies in s, status codes, wall seconds = last offset + its response time)."""
    latencies: list[float] = []
    statuses: list[int] = []
    wall = 0.0
    for row in csv.DictReader(io.StringIO(text)):
        latency, offset = float(row["response-time"]), float(row["offset"])
        latencies.append(latency)
        statuses.append(int(row["status-code"]))
        wall = max(wall, offset + latency)
    return latencies, statuses, wall


def summarise(runs: Sequence[HeyRun]) -> Summary:
    """Pool runs: total requests over total wall time, percentiles over every latency."""
    latencies = np.array([lat for run in runs for lat in run.latencies], dtype=np.float64)
    wall = sum(run.wall_seconds for run in runs)
    requests = sum(run.requested for run in runs)
    done = sum(run.requested - run.failures for run in runs)
    p50, p99 = (np.percentile(latencies, [50, 99]) * 1000).tolist() if latencies.size else (float("nan"),) * 2
    kinds = Counter(str(status) for run in runs for status in run.statuses if status != 200)
    missing = sum(run.requested - len(run.statuses) for run in runs)
    if missing:
        kinds["no response"] = missing
    return Summary(requests, sum(run.failures for run in runs), done / wall if wall > 0 else 0.0,
                   float(p50), float(p99), wall, sum(run.cpu_seconds for run in runs),
                   ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items())))


def triton_body(image: bytes, input_name: str = "IMAGE", outputs: Sequence[str] = ("LABELS",)) -> tuple[bytes, int]:
    """Triton's binary tensor protocol: JSON header + one BYTES element; returns (body, header length).

    The ``outputs`` come back as JSON (``binary_data: false``), as the peer answers.
    """
    element = bytes_element(image)
    header = json.dumps({
        "inputs": [{"name": input_name, "shape": [1, 1], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(element)}}],
        "outputs": [{"name": output, "parameters": {"binary_data": False}} for output in outputs],
    }).encode()
    return header + element, len(header)


def sent(requests: int, connections: int) -> int:
    """What ``hey -n requests -c connections`` really sends: each worker sends ``n // c`` requests."""
    return max(requests, connections) // connections * connections


def hey_binary() -> str:
    """The ``hey`` executable (Debian package ``hey``; ``make setup`` installs it)."""
    found = shutil.which("hey")
    if found is None:
        raise HeyError("hey is not installed (Debian package 'hey'; `make setup` installs it)")
    return found


def hey_command(url: str, body: Path, requests: int, connections: int, content_type: str,
                headers: Sequence[str] = (), prefix: Sequence[str] = ()) -> list[str]:
    """The hey command line for one run (POST, CSV output), after ``prefix`` (e.g. ``taskset -c 1``)."""
    command = [*prefix, hey_binary(), "-n", str(sent(requests, connections)), "-c", str(connections), "-m", "POST",
               "-T", content_type, "-D", str(body), "-o", "csv", "-t", "120"]
    for header in headers:
        command += ["-H", header]
    return [*command, url]


def run_hey(command: Sequence[str], requested: int) -> HeyRun:
    """Run hey, read its CPU time from ``/proc`` before reaping it, parse the CSV."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    stdout = process.stdout.read()
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    try:
        cpu = proc.stat(process.pid).cpu_seconds
    except FileNotFoundError:
        cpu = 0.0
    process.wait()
    process.stdout.close()
    if process.returncode != 0:
        raise HeyError(f"hey failed ({process.returncode}): {' '.join(command)}")
    latencies, statuses, wall = parse_csv(stdout.decode())
    return HeyRun(requested, tuple(latencies), tuple(statuses), wall, cpu)
