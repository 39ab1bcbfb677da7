"""Soak benchmark: mixed good and bad traffic on every ensemble for a set time (default 10 minutes).

Run from the repository root: ``.venv/bin/python -m rawvision.loadtest.bench_soak --seconds 600``.

``--front`` (``make soak``: 30 minutes) is the soak of issue 19: two replicas behind the front, traffic at
half the measured capacity, a hot swap of a core model every 5 minutes (both replicas), and one replica
killed whole (kill -9) and started again on its ports half-way. It prints the requests that failed at the
front (a good image not answered, or a bad one not refused with 400) and the resident memory growth of
the replica that was never killed, from after the warm-up to the end (goal: at most 5 %).
``--minutes 2`` is the short mode: the swaps come every third of the run instead.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Literal

from rawvision.imaging import encode
from rawvision.loadtest.chaos import kill_whole
from rawvision.loadtest.soak import Traffic, run_soak, server_rss, warm_up
from rawvision.repository import decode_limits, ensemble_names, model_config
from rawvision.server.control import ModelControl, publish
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
from rawvision.server.nginx import Nginx
from rawvision.testing.hostile import cases
from rawvision.testing.images import gradient


def traffic_for(repository: Path) -> list[Traffic]:
    """Good photos of varied sizes and the hostile corpus, for every ensemble that takes IMAGE."""
    sizes: tuple[tuple[int, int, Literal["PNG", "JPEG"]], ...] = (
        (28, 28, "PNG"), (120, 90, "JPEG"), (640, 480, "JPEG"), (300, 300, "PNG"))
    good = [encode(gradient(w, h, seed=w), fmt) for w, h, fmt in sizes]
    traffic = []
    for name in ensemble_names(repository):
        config = model_config(repository, name)
        if [t.name for t in config.input] != ["IMAGE"]:
            continue
        first = model_config(repository, config.ensemble_scheduling.step[0].model_name)
        limits = decode_limits(repository, first.name)
        bad = [case.payload for case in cases(limits) if case.expect is not None]
        traffic.append(Traffic(name, good, bad, batched=config.max_batch_size > 0))
    return traffic


SWAPPED = "mnist_onnx"  # the core model the soak swaps: small, so a swap is quick


def swappable_copy(repository: Path, target: Path, swapped: str = SWAPPED) -> Path:
    """The repository as symlinks to its model folders, except ``swapped``, copied (publish writes into it)."""
    target.mkdir(parents=True)
    for model in sorted(p for p in repository.iterdir() if (p / "config.pbtxt").is_file()):
        if model.name == swapped:
            shutil.copytree(model, target / model.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (target / model.name).symlink_to(model.resolve(), target_is_directory=True)
    return target


def _replica(repository: Path, log: Path, ensembles: tuple[str, ...], admin_key: str,
             ports: tuple[int, int, int] | None = None) -> EmbeddedServer:
    http, grpc, metrics = ports or tuple(free_ports(3))
    load = (*ensembles, SWAPPED) if ensembles else ()
    options = ServerOptions(repository=repository, http_port=http, grpc_port=grpc, metrics_port=metrics,
                            load_models=load, admin_key=admin_key)
    return EmbeddedServer(options, log.open("ab"))


def swap_on_every_replica(repository: Path, replicas: list[EmbeddedServer], admin_key: str) -> int:
    """Publish a new version of the swapped model (a copy of version 1) on the first replica, load it on the rest."""
    first, *rest = replicas
    with ModelControl(first.options.http_url, admin_key) as control:
        version = publish(control, repository, SWAPPED, source=repository / SWAPPED / "1" / "model.onnx")
    for replica in rest:
        with ModelControl(replica.options.http_url, admin_key) as control:
            control.load(SWAPPED, versions=[version])
    return version


def _schedule(events: list[tuple[float, str, Callable[[], object]]], log: list[str]) -> threading.Thread:
    """Run ``(seconds from now, name, action)`` events in a thread, logging when each ran and how long it took."""
    start = time.monotonic()

    def run() -> None:
        for at, name, action in sorted(events, key=lambda e: e[0]):
            time.sleep(max(start + at - time.monotonic(), 0.0))
            began = time.monotonic()
            try:
                action()
                log.append(f"{began - start:6.0f} s  {name} ({time.monotonic() - began:.1f} s)")
            except Exception as exc:  # reported, the soak goes on
                log.append(f"{began - start:6.0f} s  {name} FAILED: {exc}")

    thread = threading.Thread(target=run, name="rawvision-soak-events")
    thread.start()
    return thread


def soak_at_front(args: argparse.Namespace) -> None:
    """Two replicas behind the front; half capacity; swaps and a replica kill; failed count and RSS growth."""
    admin_key = "soak-admin-key"
    workdir = Path(tempfile.mkdtemp(prefix="rawvision-soak-"))
    repository = swappable_copy(args.repository.resolve(), workdir / "model_repository")
    traffic = [t for t in traffic_for(repository) if not args.ensemble or t.ensemble in args.ensemble]
    ensembles = tuple(t.ensemble for t in traffic) if args.ensemble else ()
    replicas = [_replica(repository, workdir / f"replica{i}.log", ensembles, admin_key) for i in range(2)]
    seconds = args.minutes * 60
    swap_every = min(args.swap_minutes * 60, seconds / 3)
    events_log: list[str] = []
    try:
        for replica in replicas:
            replica.start(timeout=600)
        (port,) = free_ports(1)
        with Nginx(port, [r.options.http_url for r in replicas]) as front:
            kept = replicas[0]
            warm = [warm_up(r.options.http_url, r.process.pid, traffic, args.threads) for r in replicas]
            probe = run_soak(front.url, kept.process.pid, traffic, args.capacity_seconds, args.threads * 2)
            capacity = probe.requests / probe.seconds
            rate = capacity * args.load
            settle = run_soak(front.url, kept.process.pid, traffic, args.settle_seconds, args.threads, rate=rate)
            killed = replicas[1]
            ports = (killed.options.http_port, killed.options.grpc_port, killed.options.metrics_port)

            def kill_and_restart() -> None:
                kill_whole(killed)
                replicas[1] = _replica(repository, workdir / "replica1.log", ensembles, admin_key, ports)
                replicas[1].start(timeout=600)

            swaps = [(at * swap_every, f"hot swap {at}", lambda: swap_on_every_replica(repository, replicas, admin_key))
                     for at in range(1, math.floor(seconds / swap_every - 1e-9) + 1)]
            events = _schedule([*swaps, (seconds / 2, "kill -9 of replica 2, started again", kill_and_restart)],
                               events_log)
            report = run_soak(front.url, kept.process.pid, traffic, seconds, args.threads, rate=rate)
            events.join()
            rss_end = server_rss(kept.process.pid)
    finally:
        for replica in replicas:
            replica.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    mib = 1024 * 1024
    growth = (rss_end - settle.rss_end) / settle.rss_end
    print(f"soak at the front: {args.minutes:g} min, 2 replicas ({', '.join(t.ensemble for t in traffic)}), "
          f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")
    print(f"warm-up per replica: {[w.requests for w in warm]} requests; capacity of the mix through the front "
          f"({args.threads * 2} threads, {args.capacity_seconds:g} s): {capacity:.1f} requests/s; soak at "
          f"{args.load:g} × that = {rate:.1f}/s")
    print("events:\n  " + "\n  ".join(events_log))
    print(f"soak: {report.summary()}")
    print(f"FAILED AT THE FRONT: {len(report.unexpected)} of {report.requests}")
    print(f"RSS of the replica never killed (server + stubs): {settle.rss_end / mib:.0f} MiB after warm-up and "
          f"settling, {rss_end / mib:.0f} MiB at the end ({100 * growth:+.1f} %; goal ≤ 5 %)")
    for line in report.unexpected[:20]:
        print("unexpected:", line)


def main() -> None:
    """Start a server, soak it, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--front", action="store_true", help="two replicas behind the front, swaps and a kill")
    parser.add_argument("--minutes", type=float, default=30.0, help="with --front: the measured run")
    parser.add_argument("--swap-minutes", type=float, default=5.0, help="with --front: minutes between swaps")
    parser.add_argument("--load", type=float, default=0.5, help="with --front: the share of capacity to send")
    parser.add_argument("--capacity-seconds", type=float, default=30.0)
    parser.add_argument("--settle-seconds", type=float, default=60.0)
    parser.add_argument("--ensemble", action="append", default=[], help="with --front: only these (repeatable)")
    args = parser.parse_args()
    if args.front:
        soak_at_front(args)
        return
    http, grpc, metrics = free_ports(3)
    options = ServerOptions(repository=args.repository, http_port=http, grpc_port=grpc, metrics_port=metrics)
    traffic = traffic_for(args.repository)
    with EmbeddedServer(options) as server:
        warm = warm_up(options.http_url, server.process.pid, traffic, args.threads)
        settle = run_soak(options.http_url, server.process.pid, traffic, 60, args.threads)
        report = run_soak(options.http_url, server.process.pid, traffic, args.seconds, args.threads)
    print(f"soak on {', '.join(t.ensemble for t in traffic)}; {date.today()}, {platform.machine()}, "
          f"{platform.python_version()}")
    print(f"warm-up (every payload of every ensemble twice): {warm.summary()}")
    print(f"settle (60 s of the same mix): {settle.summary()}")
    print(f"soak: {report.summary()}")
    for line in (warm.unexpected + settle.unexpected + report.unexpected)[:20]:
        print("unexpected:", line)


if __name__ == "__main__":
    main()
