"""Cold start and overload: first request after ready vs steady state, memory, and 4x-capacity open-loop load.

Run from the repository root: ``.venv/bin/python -m rawvision.loadtest.coldstart`` (``make coldstart``). One run on a
shared 2-core machine is noisy: read the figures as orders of magnitude.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

from rawvision.imaging import encode
from rawvision.loadtest.bench_soak import traffic_for
from rawvision.loadtest.perf.analyzer import perf_analyzer_command, run_perf_analyzer
from rawvision.loadtest.perf.open_loop import open_loop
from rawvision.loadtest.soak import run_soak, server_rss
from rawvision.ocr.synthetic import render
from rawvision.repository import ensemble_names, model_config, preprocess_spec
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.warmup_stats import model_stats, step_warmups, summary
from rawvision.testing.images import gradient

MIB = 1024 * 1024


def payload_for(repository: Path, ensemble: str) -> bytes:
    """A typical request unlike the warm-up samples.

    Another page of text for OCR, a 28x28 PNG for the small grey models, a 640x480 JPEG for photo models.
    """
    if ensemble == "ocr":
        return encode(render(1).pixels, "JPEG")
    entry = model_config(repository, model_config(repository, ensemble).ensemble_scheduling.step[0].model_name)
    if entry.max_batch_size and preprocess_spec(repository, entry.name).color_mode == "L":
        return encode(gradient(28, 28, seed=3), "PNG")
    return encode(gradient(640, 480, seed=3), "JPEG")


def timed_call(client: httpclient.InferenceServerClient, ensemble: str, payload: bytes, batched: bool) -> float:
    """Seconds for one request (it must succeed)."""
    shape = [1, 1] if batched else [1]
    tensor = httpclient.InferInput("IMAGE", shape, "BYTES")
    tensor.set_data_from_numpy(np.array([payload], dtype=np.object_).reshape(shape))
    started = time.monotonic()
    client.infer(ensemble, [tensor])
    return time.monotonic() - started


def first_vs_steady(options: ServerOptions, repository: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """For each ensemble: the first request's latency and the p50 of ``rounds`` more (seconds)."""
    client = httpclient.InferenceServerClient(options.http_url, network_timeout=120)
    results = {}
    for ensemble in ensemble_names(repository):
        batched = model_config(repository, ensemble).max_batch_size > 0
        payload = payload_for(repository, ensemble)
        first = timed_call(client, ensemble, payload, batched)
        steady = statistics.median(timed_call(client, ensemble, payload, batched) for _ in range(rounds))
        results[ensemble] = (first, steady)
    return results


def recovery_seconds(options: ServerOptions, ensemble: str, payload: bytes, normal: float, since: float) -> float:
    """Seconds from ``since`` until one request is answered within 1.5x the ``normal`` latency (60 s cap)."""
    client = httpclient.InferenceServerClient(options.http_url, network_timeout=120)
    while time.monotonic() - since < 60:
        if timed_call(client, ensemble, payload, batched=True) <= 1.5 * normal:
            return time.monotonic() - since
    return float("inf")


def percentile(values: np.ndarray, q: float) -> float:
    """The ``q`` percentile in milliseconds (nan for no values)."""
    return float(np.percentile(values, q) * 1000) if len(values) else float("nan")


def main() -> None:
    """Start a fresh server with every model and print the cold-start and overload report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--mixed-seconds", type=float, default=60.0)
    parser.add_argument("--overload-ensemble", default="imagenet")
    parser.add_argument("--overload-factor", type=float, default=4.0)
    parser.add_argument("--overload-seconds", type=float, default=20.0)
    parser.add_argument("--prefix", default=None, help="perf_analyzer command prefix (old glibc)")
    args = parser.parse_args()
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=args.repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            watchdog=False)
    started = time.monotonic()
    log_path = Path(tempfile.gettempdir()) / f"coldstart-{http}.log"
    print(f"server log: {log_path}")
    with log_path.open("wb") as log, EmbeddedServer(options, log=log) as server:
        pid = server.process.pid
        print(f"ready in {time.monotonic() - started:.1f} s; {summary(step_warmups(model_stats(options.http_url)))}")
        rss_warm = server_rss(pid)
        steady = first_vs_steady(options, args.repository, rounds=20)
        print("| ensemble | first request after ready (ms) | steady p50 (ms) | ratio |\n|---|---|---|---|")
        for ensemble, (first, p50) in steady.items():
            print(f"| {ensemble} | {first * 1000:.0f} | {p50 * 1000:.0f} | {first / p50:.2f} |")
        soak = run_soak(options.http_url, pid, traffic_for(args.repository), args.mixed_seconds)
        rss_mixed = server_rss(pid)
        print(f"RSS after warm-up {rss_warm / MIB:.0f} MiB; after {args.mixed_seconds:.0f} s of mixed traffic "
              f"({soak.requests} requests, {len(soak.unexpected)} unexpected answers) {rss_mixed / MIB:.0f} MiB "
              f"({(rss_mixed - rss_warm) / rss_warm:+.1%})")
        target = args.overload_ensemble
        payload = payload_for(args.repository, target)
        with tempfile.TemporaryDirectory() as workdir:
            (point,) = run_perf_analyzer(perf_analyzer_command(prefix=args.prefix), target, options.http_url,
                                         [payload], Path(workdir), concurrency=[4])
        rate = args.overload_factor * point.throughput
        print(f"capacity of {target} (perf_analyzer, concurrency 4): {point.throughput:.1f}/s, "
              f"p50 {point.p50_ms:.0f} ms, p99 {point.p99_ms:.0f} ms")
        rss_before = server_rss(pid)
        load_started = time.monotonic()
        report = open_loop(options.http_url, target, payload, rate, args.overload_seconds)
        send_end = load_started + args.overload_seconds
        answered = time.monotonic() - send_end
        recovery = recovery_seconds(options, target, payload, steady[target][1], since=send_end)
        rss_after = server_rss(pid)
        ok, rejected = report.latencies(ok=True), report.latencies(ok=False)
        print(f"overload: {rate:.0f} req/s open loop ({args.overload_factor:g}x) for {args.overload_seconds:.0f} s: "
              f"{dict(report.statuses())}")
        print(f"  accepted p50 {percentile(ok, 50):.0f} ms, p99 {percentile(ok, 99):.0f} ms; "
              f"rejected p50 {percentile(rejected, 50):.1f} ms, p99 {percentile(rejected, 99):.1f} ms")
        messages = {a.message for a in report.answers if a.status != "ok"}
        print(f"  rejection messages: {sorted(messages)[:3]}")
        print(f"  RSS before {rss_before / MIB:.0f} MiB, after {rss_after / MIB:.0f} MiB; last answer "
              f"{answered:.1f} s after the load stopped; normal latency again {recovery:.1f} s after it stopped")
        print(f"  server ready afterwards: {httpclient.InferenceServerClient(options.http_url).is_server_ready()}")


if __name__ == "__main__":
    main()
