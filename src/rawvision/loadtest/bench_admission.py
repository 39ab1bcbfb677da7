"""Goodput under overload: retry storms (closed loop, no backoff) and open-loop load, direct and through the front.

``make bench-admission`` (``python -m rawvision.loadtest.bench_admission``). ``rawvision serve`` (tritonserver
and its admission gate) and the front's nginx run on core 1 and the load generators on core 0 (this process
sets its own CPU affinity before starting each, and children inherit it), so the load generator's CPU is not
part of the result. It prints:

- capacity: answered per second at 16 connections, through ``serve``'s HTTP port;
- per scenario (storm of N connections that resend as soon as they are answered or refused, ``hey``;
  open loop at k × capacity), on each path: ``serve`` (its public HTTP port: the gate), ``front`` (the
  front in front of it) and ``triton`` (Triton's own HTTP port behind the gate, for comparison): goodput
  (answered per second, and as a fraction of capacity), answered p99, refusal p99, refusals, and requests
  with no answer at all (hey's timeout, ``--timeout``, default 20 s as in issue 19).

A benchmark, never a test: figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rawvision.loadtest.abort_stress import ready
from rawvision.loadtest.perf.hey import hey_binary, parse_csv, triton_body
from rawvision.loadtest.perf.images import TYPICAL_PHOTO, photo
from rawvision.loadtest.perf.images import encode as encode_photo
from rawvision.loadtest.perf.open_loop import open_loop
from rawvision.pipelines.admission import gate_admission
from rawvision.pipelines.queue_policy import ADMISSION_TARGET_SECONDS
from rawvision.server.embedded import free_ports
from rawvision.server.gate import Gate
from rawvision.server.nginx import Nginx

SERVER_CORE, LOAD_CORE = 1, 0
PATHS = ("serve", "front", "triton")


@dataclass(frozen=True)
class Figures:
    """One scenario's outcome."""

    scenario: str
    path: str
    requests: int
    seconds: float
    answered: int
    refused: int
    no_answer: int
    answered_p99_ms: float
    refused_p99_ms: float

    @property
    def goodput(self) -> float:
        """Answered requests per second."""
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    def row(self, capacity: float) -> str:
        """A Markdown table row."""
        return (f"| {self.scenario} | {self.path} | {self.requests} | {self.goodput:.1f} "
                f"({self.goodput / capacity:.2f}×) | {self.answered_p99_ms:.0f} | {self.refused_p99_ms:.0f} | "
                f"{self.refused} | {self.no_answer} |")


HEADER = ("| scenario | path | requests | goodput img/s (× capacity) | answered p99 ms | refusal p99 ms | refused "
          "| no answer |\n|---|---|---|---|---|---|---|---|")


@contextmanager
def on_core(core: int) -> Iterator[None]:
    """Run the block (and every child started in it) on ``core`` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _p99(values: Sequence[float]) -> float:
    return float(np.percentile(np.asarray(values) * 1000, 99)) if len(values) else float("nan")


def closed_loop(url: str, model: str, body: Path, header_length: int, connections: int, requests: int,
                timeout: float, scenario: str, path: str) -> Figures:
    """``hey``: ``connections`` clients, each sending again as soon as it has an answer or a refusal."""
    per_client = max(requests // connections, 1)
    sent = per_client * connections
    command = ["taskset", "-c", str(LOAD_CORE), hey_binary(), "-n", str(sent), "-c", str(connections), "-m", "POST",
               "-T", "application/octet-stream", "-H", f"Inference-Header-Content-Length: {header_length}",
               "-D", str(body), "-o", "csv", "-t", str(round(timeout)),
               f"http://{url}/v2/models/{model}/infer"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    latencies, statuses, wall = parse_csv(result.stdout)
    ok = [lat for lat, status in zip(latencies, statuses, strict=True) if status == 200]
    refused = [lat for lat, status in zip(latencies, statuses, strict=True) if status != 200]
    return Figures(scenario, path, sent, wall, len(ok), len(refused), sent - len(statuses), _p99(ok), _p99(refused))


def open_loop_figures(url: str, model: str, payload: bytes, rate: float, seconds: float, timeout: float,
                      scenario: str, path: str) -> Figures:
    """Requests at a fixed rate whatever the answers (the asyncio generator of ``perf.open_loop``)."""
    report = open_loop(url, model, payload, rate, seconds, timeout=timeout)
    answered = [a.latency for a in report.answers if a.status == "ok"]
    lost = sum(a.status == "no answer" for a in report.answers)
    refused = [a.latency for a in report.answers if a.status not in ("ok", "no answer")]
    end = max((a.sent + a.latency for a in report.answers), default=seconds)
    return Figures(scenario, path, len(report.answers), end, len(answered), len(refused), lost, _p99(answered),
                   _p99(refused))


@contextmanager
def serve(repository: Path, ensemble: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """``rawvision serve`` (gate included) on core 1; yields (its public HTTP url, Triton's own HTTP url)."""
    public, triton, grpc, metrics = free_ports(4)
    command = [sys.executable, "-m", "rawvision.cli.main", "serve", "--repository", str(repository),
               "--load-model", ensemble, "--http-port", str(public), "--triton-http-port", str(triton),
               "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--supervisor-port", "0"]
    with (workdir / "serve.log").open("wb") as log, on_core(SERVER_CORE):
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while not ready(f"127.0.0.1:{public}"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"rawvision serve did not get ready:\n{(workdir / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{public}", f"127.0.0.1:{triton}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def main(argv: Sequence[str] | None = None) -> None:
    """Start ``rawvision serve`` on core 1, measure capacity, then every scenario on every path."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--ensemble", default="imagenet")
    parser.add_argument("--storms", type=int, nargs="*", default=[200, 1000], help="storm sizes (connections)")
    parser.add_argument("--storm-rounds", type=int, default=20, help="requests per storm connection")
    parser.add_argument("--open-loop", type=float, nargs="*", default=[2.0, 8.0], help="offered load × capacity")
    parser.add_argument("--open-seconds", type=float, default=20.0)
    parser.add_argument("--capacity-requests", type=int, default=1600, help="requests at 16 connections")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds after which a request has no answer")
    parser.add_argument("--paths", nargs="*", choices=PATHS, default=list(PATHS),
                        help="serve: rawvision serve's HTTP port (its gate); front: the front in front of it; "
                        "triton: Triton's own HTTP port behind the gate (no admission but its queues)")
    parser.add_argument("--note", default="", help="printed with the figures (e.g. 'shared machine')")
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs 2 cores: the server on core 1, the load generator on core 0")
    payload = encode_photo(photo(*TYPICAL_PHOTO), "JPEG")
    body_bytes, header_length = triton_body(payload)
    workdir = Path(tempfile.mkdtemp(prefix="rawvision-admission-"))
    body = workdir / "body.bin"
    body.write_bytes(body_bytes)
    rows: list[Figures] = []
    with serve(args.repository, args.ensemble, workdir) as (public, triton):
        base = closed_loop(public, args.ensemble, body, header_length, 16, args.capacity_requests,
                           args.timeout, "capacity, 16 connections", "serve")
        capacity = base.goodput
        admission = gate_admission([args.ensemble])
        (port,) = free_ports(1)
        with on_core(SERVER_CORE):
            front = Nginx(port, [public], admission=admission, niceness=Gate.niceness).start()
        urls = {"serve": public, "front": front.url, "triton": triton}
        try:
            for path in args.paths:
                for connections in args.storms:
                    rows.append(closed_loop(urls[path], args.ensemble, body, header_length, connections,
                                            connections * args.storm_rounds, args.timeout,
                                            f"storm, {connections} connections", path))
                with on_core(LOAD_CORE):
                    for factor in args.open_loop:
                        rows.append(open_loop_figures(urls[path], args.ensemble, payload, factor * capacity,
                                                      args.open_seconds, args.timeout,
                                                      f"open loop, {factor:g}× capacity", path))
        finally:
            front.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"admission bench, {args.ensemble}, {TYPICAL_PHOTO[0]} {TYPICAL_PHOTO[1][0]}×{TYPICAL_PHOTO[1][1]} JPEG "
          f"({len(payload)} bytes); rawvision serve (tritonserver + its gate) and the front on core {SERVER_CORE}, "
          f"load generator on core {LOAD_CORE}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()}, {os.cpu_count()} cores" + (f"; {args.note}" if args.note else ""))
    bounds = dict(admission.pipelines)
    print(f"capacity at 16 connections through serve: {capacity:.1f} img/s (p99 {base.answered_p99_ms:.0f} ms); "
          f"serve's gate and the front admit {bounds[args.ensemble]} {args.ensemble} requests in flight (declared "
          f"capacity × {ADMISSION_TARGET_SECONDS:g} s); no answer = none within {args.timeout:g} s")
    print(HEADER)
    for row in rows:
        print(row.row(capacity))


if __name__ == "__main__":
    main()
