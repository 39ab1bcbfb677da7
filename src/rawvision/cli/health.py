"""``rawvision health``: readiness and liveness that tell the truth, as a probe (exit code) or a small service."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import Any

from rawvision.server.health import HealthServer, find_server, probe


def _run(args: argparse.Namespace) -> int:
    port = int(args.url.rsplit(":", 1)[1])
    if args.check:
        return probe(args.url, args.check)
    service = HealthServer(args.serve, args.url, lambda: find_server(port), args.host).start()
    print(f"health of {args.url} on http://{service.url}/v2/health/ready and /v2/health/live (Ctrl-C stops)",
          flush=True)
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stopped.wait()
    finally:
        service.stop()
        for sig, handler in previous.items():  # called in-process (tests), the caller's handlers come back
            signal.signal(sig, handler)
    return 0


def add_health_parser(commands: Any) -> None:
    """Register ``rawvision health`` on the top-level subcommands."""
    health = commands.add_parser("health", help="readiness (dead stubs, failed loads) and liveness (hung server) "
                                 "of a tritonserver on this machine")
    health.add_argument("--url", default="127.0.0.1:8000", help="the server's HTTP host:port")
    mode = health.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", choices=["ready", "live"], help="check once; exit 0 when ok, 1 when not")
    mode.add_argument("--serve", type=int, metavar="PORT", help="answer /v2/health/ready and /v2/health/live on PORT")
    health.add_argument("--host", default="127.0.0.1", help="address to serve on (with --serve)")
    health.set_defaults(run=_run)
