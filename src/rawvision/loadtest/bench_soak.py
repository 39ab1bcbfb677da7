"""Soak benchmark: mixed good and bad traffic on every ensemble for a set time (default 10 minutes).

Run from the repository root: ``.venv/bin/python -m rawvision.loadtest.bench_soak --seconds 600``.
"""

from __future__ import annotations

import argparse
import platform
from datetime import date
from pathlib import Path
from typing import Literal

from rawvision.imaging import encode
from rawvision.loadtest.soak import Traffic, run_soak, warm_up
from rawvision.repository import decode_limits, ensemble_names, model_config
from rawvision.server.embedded import EmbeddedServer, ServerOptions, free_ports
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


def main() -> None:
    """Start a server, soak it, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    args = parser.parse_args()
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
