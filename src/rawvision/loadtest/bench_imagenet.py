"""Latency and throughput of the ``imagenet`` ensemble: real photos as JPEG bytes through the server.

Run: ``.venv/bin/python -m rawvision.loadtest.bench_imagenet`` (starts an embedded server on free
ports) or ``--url host:port`` for a running one. Scenarios: one photo per request from one client (latency),
the same from several client threads (throughput with dynamic batching), 8 photos per request, and
12 MP photos. Each runs for ``--seconds``; percentiles are over requests.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from rawvision.client import classify_client
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.testing.photos import jpeg, photo, upscaled


@dataclass(frozen=True)
class Scenario:
    """``threads`` clients, each sending requests of ``per_request`` images from ``payloads`` in turn."""

    name: str
    payloads: list[bytes]
    per_request: int
    threads: int


def run(url: str, scenario: Scenario, seconds: float) -> tuple[int, float, list[float]]:
    """Images answered, wall seconds and per-request latencies (s) for one scenario."""
    def client_loop(offset: int) -> list[float]:
        client = classify_client.Client(url, "imagenet")
        latencies: list[float] = []
        i = offset
        try:
            client.classify(scenario.payloads[:scenario.per_request])  # warm-up
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                batch = [scenario.payloads[(i + j) % len(scenario.payloads)] for j in range(scenario.per_request)]
                start = time.perf_counter()
                answers = client.classify(batch)
                latencies.append(time.perf_counter() - start)
                assert len(answers) == len(batch)
                i += scenario.per_request
        finally:
            client.close()
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(scenario.threads) as pool:
        results = list(pool.map(client_loop, range(scenario.threads)))
    wall = time.perf_counter() - start
    latencies = [t for thread in results for t in thread]
    return len(latencies) * scenario.per_request, wall, latencies


def main() -> None:
    """Run each scenario and print images/s and latency percentiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start an embedded one)")
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    photos = [jpeg(photo(name)) for name in ("chelsea", "coffee", "astronaut")]
    large = [upscaled(name) for name in ("chelsea", "coffee", "astronaut")]
    scenarios = [Scenario("1 photo/request, 1 client", photos, 1, 1),
                 Scenario("1 photo/request, 4 clients", photos, 1, 4),
                 Scenario("8 photos/request, 1 client", photos, 8, 1),
                 Scenario("12 MP photo/request, 1 client", large, 1, 1)]
    with ExitStack() as stack:
        url = args.url
        if url is None:
            http, grpc, metrics = free_ports(3)
            options = ServerOptions(repository=args.repository, http_port=http, grpc_port=grpc,
                                    metrics_port=metrics)
            log = stack.enter_context(open(os.devnull, "wb"))
            stack.enter_context(EmbeddedServer(options, log=log).start(timeout=300))
            url = options.http_url
        print(f"imagenet ensemble, {date.today()}, {platform.node()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, {args.seconds:g} s per scenario")
        print(f"{'scenario':32s} {'images/s':>9s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'requests':>9s}")
        for scenario in scenarios:
            images, wall, latencies = run(url, scenario, args.seconds)
            p50, p90, p99 = (1000 * float(np.percentile(latencies, q)) for q in (50, 90, 99))
            print(f"{scenario.name:32s} {images / wall:9.1f} {p50:8.1f} {p90:8.1f} {p99:8.1f} {len(latencies):9d}")


if __name__ == "__main__":
    main()
